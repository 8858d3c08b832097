"""Copying a model file to the board: device/serve.py's binary transfer against mpremote's
fs_writefile (repr() of 256-byte chunks through the raw REPL), over the same link.

The link is MicroPython's unix port behind a pseudo-terminal (ftervit.board.pty_board);
mpremote talks to bench/board_link/raw_repl.py there, a raw REPL written in MicroPython
(the unix port has none).  The pty carries bytes far faster than a board's UART or
USB-CDC, so the figures measure the per-byte and per-request costs of each method,
not a board's wire speed.

    PYTHONPATH=host python bench/bench_board_transfer.py [--runs 3] [--file models/...]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from ftervit.board.link import BoardLink  # noqa: E402
from ftervit.board.pty_board import PtyBoard  # noqa: E402
from ftervit.board.transfer import put_file  # noqa: E402

RAW_REPL = ROOT / "bench" / "board_link" / "raw_repl.py"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_serve(data: bytes, chunk: int, runs: int, folder: Path):
    times = []
    with PtyBoard(cwd=folder) as board:
        link = BoardLink.open(board.port, timeout=30.0)
        cpu0 = cpu_seconds(board.process.pid)
        for _ in range(runs):
            link.request("remove", path="model.ftv")
            start = time.perf_counter()
            put_file(link, data, "model.ftv", chunk=chunk, skip_same=False)
            times.append(time.perf_counter() - start)
        cpu = cpu_seconds(board.process.pid) - cpu0
        assert (folder / "model.ftv").read_bytes() == data
        link.close()
    return times, cpu / runs


def time_mpremote(data: bytes, runs: int, folder: Path):
    from mpremote.transport_serial import SerialTransport
    times = []
    with PtyBoard(RAW_REPL, cwd=folder) as board:
        transport = SerialTransport(board.port)
        transport.enter_raw_repl(soft_reset=False)
        cpu0 = cpu_seconds(board.process.pid)
        for _ in range(runs):
            start = time.perf_counter()
            transport.fs_writefile("model.ftv", data)
            times.append(time.perf_counter() - start)
        cpu = cpu_seconds(board.process.pid) - cpu0
        assert (folder / "model.ftv").read_bytes() == data
        transport.close()
    return times, cpu / runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(ROOT / "models" / "fmnist_ftervit_micro.ftv"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = Path(args.file).read_bytes()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk in (4096, 32768):
            folder = Path(tmp) / f"serve{chunk}"
            folder.mkdir()
            times, cpu = time_serve(data, chunk, args.runs, folder)
            rows.append((f"serve.py put_file, {chunk // 1024} KiB chunks", times, cpu))
        folder = Path(tmp) / "mpremote"
        folder.mkdir()
        times, cpu = time_mpremote(data, args.runs, folder)
        rows.append(("mpremote fs_writefile, 256 B repr chunks", times, cpu))
    base = len(data) / statistics.median(rows[-1][1])
    print(f"{len(data):,} bytes ({Path(args.file).name}), median of {args.runs} runs, "
          f"MicroPython unix port behind a pty")
    print(f"{'method':<42} {'median s':>9} {'bytes/s':>12} {'vs mpremote':>12} "
          f"{'board CPU s':>12}")
    for name, times, cpu in rows:
        rate = len(data) / statistics.median(times)
        print(f"{name:<42} {statistics.median(times):>9.3f} {rate:>12,.0f} "
              f"{rate / base:>11.1f}x {cpu:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
