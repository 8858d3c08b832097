"""`ftervit remote eval` and `ftervit remote bench` against MicroPython's unix port behind
a pseudo-terminal: the figures docs/board-link.md and the README quote for the pty board.

It lays out a board filesystem in a temporary folder (the device package, the shipped
model as model.ftv, the x64 _ftervit.mpy), starts device/serve.py there behind a pty
(ftervit.board.pty_board.PtyBoard), and runs both commands on its port.  On a real
board, run the two commands with --port /dev/ttyACM0 instead.  Timings are the unix
port's on this machine, not an ESP32-S3's.

    PYTHONPATH=host .venv/bin/python bench/bench_board_remote.py [--limit 1000]
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from ftervit.board.pty_board import PtyBoard  # noqa: E402
from ftervit.cli import main as ftervit  # noqa: E402
from ftervit.micropython.build import cached_natmod  # noqa: E402


def board_folder(fs: Path) -> Path:
    shutil.copytree(ROOT / "device" / "ftervit", fs / "ftervit")
    shutil.copy(ROOT / "models" / "fmnist_ftervit_micro.ftv", fs / "model.ftv")
    shutil.copy(cached_natmod("x64").path, fs / "_ftervit.mpy")
    return fs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=1000, help="test images for remote eval")
    args = ap.parse_args()
    fs = board_folder(Path(tempfile.mkdtemp(prefix="ftv_pty_board_")))
    os.environ["MICROPYPATH"] = str(fs)      # the unix port's stand-in for the board's /lib
    try:
        with PtyBoard(cwd=fs) as board:
            rc = ftervit(["remote", "eval", "--port", board.port, "--limit", str(args.limit)])
            rc = rc or ftervit(["remote", "bench", "--port", board.port])
    finally:
        shutil.rmtree(fs, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
