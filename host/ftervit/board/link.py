"""Requests to device/serve.py over a serial port (pyserial), one answer each.

    link = BoardLink.open("/dev/ttyACM0")
    link.request("info")             -> {"impl": "micropython", "mpy": ..., ...}
    link.request("echo", data=b"..") -> {"size": .., "crc": ..}

Every request waits at most its timeout for the answer with its id; other lines
the board prints are kept in `console`.

Recovery.  The board reads a frame in blocks and can only notice a stall between
blocks (MicroPython cannot ask how many bytes are waiting), so a frame cut inside a
block leaves it waiting for the rest.  After any link error the next request is
therefore preceded by a resync: zero bytes enough to complete the frame sent last
(the board cannot be reading a longer one), which it refuses (CRC) and then skips,
looking for a magic.
"""
import time
from typing import List, Optional

from .protocol import HEADER, ProtocolError, decode_answer, encode_frame

DEFAULT_TIMEOUT = 5.0
BOARD_STALL_S = 1.0            # device/serve.py STALL_MS
BOARD_RECEIVE_BUFFER = 176896  # device/serve.py MAX_PAYLOAD, until the board's info says
HELLO_TIMEOUT = 2.0


class LinkError(RuntimeError):
    """The link failed: no answer in time, port closed, or an answer that breaks the protocol."""


class BoardError(RuntimeError):
    """The board answered a request with ok=false; the message is the board's."""

    def __init__(self, command: str, message: str, answer: dict):
        super().__init__(f"board refused {command!r}: {message}")
        self.answer = answer


class BoardLink:
    def __init__(self, port, name: str = "", timeout: float = DEFAULT_TIMEOUT):
        self.port = port
        self.name = name or getattr(port, "port", "") or "serial port"
        self.timeout = timeout
        self.console: List[bytes] = []
        self._pending = b""
        self._next_id = 1
        self._needs_resync = False
        self.board_buffer = BOARD_RECEIVE_BUFFER
        self._last_frame = BOARD_RECEIVE_BUFFER + HEADER.size  # unknown: the largest

    @classmethod
    def open(cls, device: str, baudrate: int = 115200, timeout: float = DEFAULT_TIMEOUT):
        """Open the port and check that serve.py answers (resyncing once if it does not:
        an earlier host may have left it inside a frame)."""
        import serial
        try:
            port = serial.Serial(device, baudrate=baudrate, timeout=0.05, write_timeout=timeout)
        except serial.SerialException as exc:
            raise LinkError(f"cannot open {device}: {exc}") from None
        link = cls(port, device, timeout)
        try:
            link.hello()
        except LinkError:
            port.close()
            raise
        return link

    def hello(self) -> dict:
        """The board's info answer; one resync and retry if the first try gets none."""
        try:
            return self.request("info", timeout=HELLO_TIMEOUT)
        except LinkError:
            pass
        try:
            return self.request("info", timeout=max(self.timeout, HELLO_TIMEOUT))
        except LinkError:
            raise LinkError(f"{self.name}: no answer from device/serve.py (is it running on "
                            "the board? `mpremote run device/serve.py`)") from None

    def close(self) -> None:
        self.port.close()

    def request(self, cmd: str, data: bytes = b"", timeout: Optional[float] = None,
                **args) -> dict:
        """Send one request and return the board's answer; BoardError if it refused it,
        LinkError if no answer came within `timeout` seconds."""
        rid = self._next_id
        self._next_id = self._next_id % 0xFFFF + 1
        answer = self.send_frame(encode_frame(rid, dict(args, cmd=cmd), data), rid, cmd, timeout)
        if not answer["ok"]:
            raise BoardError(cmd, str(answer.get("error", "no reason given")), answer)
        if cmd == "info":
            self.board_buffer = int(answer["max_payload"])
        return answer

    def send_frame(self, frame: bytes, rid: int, what: str,
                   timeout: Optional[float] = None) -> dict:
        """Write an encoded frame (also a deliberately broken one) and return the answer to
        request `rid`, ok or not; LinkError if none came within `timeout` seconds."""
        if self._needs_resync:
            self.resync()
        self._last_frame = _frame_extent(frame)
        try:
            self.port.write(frame)
        except OSError as exc:
            self._needs_resync = True
            raise LinkError(f"{self.name}: writing {what!r} failed: {exc}") from None
        return self._wait_for(rid, what, self.timeout if timeout is None else timeout)

    def resync(self) -> None:
        """Bring the board back to waiting for a header, dropping whatever it was reading."""
        try:
            self.port.write(bytes(min(self._last_frame, self.board_buffer) + HEADER.size))
        except OSError as exc:
            raise LinkError(f"{self.name}: resync failed: {exc}") from None
        deadline = time.monotonic() + BOARD_STALL_S + 0.5
        while time.monotonic() < deadline:
            self._read_lines()
        self._pending = b""
        self._needs_resync = False

    def _wait_for(self, rid: int, cmd: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for line in self._read_lines():
                answer = decode_answer(line)
                if answer is None:
                    self.console.append(line)
                elif answer["id"] == rid:
                    return answer
                elif answer["id"] is None and not answer["ok"]:
                    return answer  # a frame the board could not read: ours
                # else a late answer to an earlier request, or the ready banner
            if time.monotonic() > deadline:
                self._needs_resync = True
                raise LinkError(f"{self.name}: no answer to {cmd!r} (request {rid}) within "
                                f"{timeout:g} s")

    def _read_lines(self) -> List[bytes]:
        try:
            chunk = self.port.read(max(1, self.port.in_waiting))
        except OSError as exc:
            self._needs_resync = True
            raise LinkError(f"{self.name}: reading failed: {exc}") from None
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        return [line for line in lines if line.strip()]


__all__ = ["BoardLink", "BoardError", "LinkError", "ProtocolError"]


def _frame_extent(frame: bytes) -> int:
    """Header plus the payload length the header declares: the most bytes the board may
    still wait for after this frame, even one cut short (larger than it takes: its buffer)."""
    if len(frame) < HEADER.size:
        return HEADER.size
    return HEADER.size + HEADER.unpack_from(frame)[4]
