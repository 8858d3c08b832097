#!/usr/bin/env python3
"""Python overhead of the device package on MicroPython's unix port.

Builds the x64 _ftervit.mpy and the unix port with _ftervit compiled in
(ftervit.micropython.build, cached under a temporary folder), then times on
each, in one MicroPython process per build, interleaved, the medians of:

  native forward     _ftervit.forward on a model input (the bare C forward)
  native frame+fwd   _ftervit.frame of a 240x240 RGB565 frame, then forward
  Model.forward      the package's forward (one Python call around the native one)
  Model.classify     frame + forward + top-5 with labels: what classify.py does per frame
  top-5 (Python)     Model.top alone: the Python work classify adds to the native calls

and prints them with classify's overhead over the bare forward (targets: <= 5 %,
and <= 2 ms of work per 240x240 RGB565 frame beyond the forward, crop and resize
included), over native frame+forward (what Python alone adds), and the host's
cffi forward of the same image beside them.

    .venv/bin/python bench/bench_device_classify.py [REPEATS]

This is a benchmark, not a test (tests/test_device_native.py is the test).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
from ftervit import cbackend  # noqa: E402
from ftervit.ftv import read_ftv  # noqa: E402
from ftervit.micropython.build import cached_natmod, cached_unix_port  # noqa: E402

MODEL = ROOT / "models" / "fmnist_ftervit_micro.ftv"
MICROPYTHON = Path(sys.executable).with_name("micropython")

TIMING = """
import time, _ftervit, ftervit
m = ftervit.load(%(model)r)
frame = bytearray(240 * 240 * 2)
for i in range(len(frame)):
    frame[i] = (i * 7) & 255
image = bytearray(m.memory["image"])

ctx, model, scratch, logits = m._ctx, m._file, m._scratch, m.logits
def native_forward():
    _ftervit.forward(ctx, model, image, scratch, logits)
def native_frame_forward():
    _ftervit.frame(ctx, frame, 240, 240, _ftervit.RGB565, image)
    _ftervit.forward(ctx, model, image, scratch, logits)
calls = {"native_forward": native_forward, "native_frame_forward": native_frame_forward,
         "model_forward": lambda: m.forward(image),
         "model_classify": lambda: m.classify(frame, 240, 240, "RGB565"),
         "python_top5": lambda: m.top(logits, 5)}
times = {name: [] for name in calls}
for _ in range(%(repeats)d):        # interleaved, so a busy machine slows all alike
    for name, call in calls.items():
        t = time.ticks_us()
        call()
        times[name].append(time.ticks_diff(time.ticks_us(), t))
for name, ts in times.items():
    ts.sort()
    print(name, ts[len(ts) // 2])
"""


def run_timing(executable, path_dirs, repeats):
    env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in path_dirs))
    proc = subprocess.run([str(executable), "-c", TIMING % {"model": str(MODEL),
                                                            "repeats": repeats}],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=600)
    if proc.returncode:
        raise SystemExit(proc.stdout)
    return {k: int(v) / 1000 for k, v in (line.split() for line in proc.stdout.splitlines())}


def host_cffi_ms(repeats):
    model = cbackend.load(read_ftv(MODEL))
    image = np.zeros((28, 28, 1), np.uint8)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.forward(image)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(argv):
    repeats = int(argv[0]) if argv else 51
    natmod_dir = cached_natmod("x64").path.parent
    firmware = cached_unix_port().path
    rows = {"natmod (.mpy, PyPI unix port)": run_timing(MICROPYTHON,
                                                         [ROOT / "device", natmod_dir], repeats),
            "firmware (unix port, module built in)": run_timing(firmware, [ROOT / "device"],
                                                                repeats)}
    cffi = host_cffi_ms(repeats)
    print("shipped model %s, medians of %d calls, ms" % (MODEL.name, repeats))
    print("%-40s %9s %11s %9s %9s %9s %10s %9s %9s" % (
        "build", "forward", "frame+fwd", "M.forward", "classify", "vs fwd", "beyond fwd",
        "vs f+f", "top-5 py"))
    for name, t in rows.items():
        over_forward = t["model_classify"] / t["native_forward"] - 1
        over_native = t["model_classify"] / t["native_frame_forward"] - 1
        print("%-40s %9.3f %11.3f %9.3f %9.3f %8.1f%% %7.3f ms %8.1f%% %9.3f"
              % (name, t["native_forward"], t["native_frame_forward"], t["model_forward"],
                 t["model_classify"], 100 * over_forward,
                 t["model_classify"] - t["native_forward"], 100 * over_native,
                 t["python_top5"]))
    print("%-40s %9.3f" % ("host cffi forward", cffi))


if __name__ == "__main__":
    main(sys.argv[1:])
