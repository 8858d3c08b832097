#!/usr/bin/env python3
"""Instruction counts of the camera-frame kernel on an Xtensa core.

Builds native_module/ftv_frame.c bare-metal for qemu-system-xtensa (-M sim
-cpu lx106) with xtensa-lx106-elf-gcc -O2, runs ftv_frame_to_image_ref and
_fast on camera-sized frames under the instruction-count TCG plugin
(bench/xtensa/insn_count.c), checks both images' checksums against a host
build of the same program, and prints executed instructions, instructions
per frame pixel and per output pixel, and milliseconds at 240 MHz and one
instruction a cycle (the ESP32-S3's clock; the lx106 is the stand-in core).

The lx106 has no 32 x 32 -> 64 high-word multiply, so _fast's reciprocal
divide calls a software __muldi3 here (bench/xtensa/muldi3.c); the
ESP32-S3's LX7 has MULUH and does it inline, so these counts overstate it.

    .venv/bin/python bench/bench_xtensa_frame.py

This is a benchmark, not a test (tests/test_frame.py is the test).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "xtensa"))
import build as xbuild  # noqa: E402  (bench/xtensa/build.py)

FORMATS = {"GRAYSCALE": 1, "RGB565": 2, "RGB888": 3}
CASES = [  # frame w, h, format, img_size, in_chans
    (240, 240, "RGB565", 28, 1),      # the shipped Fashion-MNIST model from the camera
    (240, 240, "GRAYSCALE", 28, 1),
    (240, 240, "RGB565", 224, 3),     # an ImageNet-size model
    (320, 240, "RGB565", 224, 3),     # QVGA, cropped to 240 x 240
    (240, 240, "RGB888", 224, 3),
    (96, 96, "GRAYSCALE", 224, 3),    # enlarging
]
CLOCK_HZ = 240e6


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugin = xbuild.build_plugin(tmp)
        rows = []
        for w, h, fmt, n, chans in CASES:
            shape = dict(FRAME_W=w, FRAME_H=h, FRAME_FMT=FORMATS[fmt], FRAME_IMG=n,
                         FRAME_CHANS=chans)
            name = f"frame_{w}x{h}_{fmt}_{n}_{chans}"
            elf = xbuild.build_image(tmp, shape, name, main="frame_main.c",
                                     sources=xbuild.FRAME_SOURCES)
            host = xbuild.run_host(xbuild.build_host(tmp, shape, name + "_host",
                                                     main="frame_main.c",
                                                     sources=xbuild.FRAME_SOURCES))
            rep = xbuild.run_image(elf, plugin)
            for k in ("frame_ref", "frame_fast"):
                got, want = rep["kernels"][k], host["kernels"][k]
                if got["rc"] != 0 or got["checksum"] != want["checksum"]:
                    raise SystemExit(f"{name} {k}: lx106 {got} != host {want}")
            ref, fast = rep["kernels"]["frame_ref"]["insns"], rep["kernels"]["frame_fast"]["insns"]
            rows.append((f"{w}x{h} {fmt}", f"{n}x{n}x{chans}", ref, fast, fast / (w * h),
                         fast / (n * n), fast / CLOCK_HZ * 1e3, ref / fast))
    head = ("frame", "image", "ref insns", "fast insns", "/frame px", "/out px",
            "fast ms@240MHz", "ref/fast")
    print("Camera frame -> model input, lx106 under QEMU (exact counts; checksums = host)")
    print(f"{head[0]:<18} {head[1]:<10} {head[2]:>12} {head[3]:>12} {head[4]:>10} "
          f"{head[5]:>8} {head[6]:>15} {head[7]:>9}")
    for r in rows:
        print(f"{r[0]:<18} {r[1]:<10} {r[2]:>12,} {r[3]:>12,} {r[4]:>10.1f} {r[5]:>8.0f} "
              f"{r[6]:>15.1f} {r[7]:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
