#!/usr/bin/env python3
"""Instruction counts of the ternary matmul kernels on an Xtensa core.

Builds native_module's matmul kernels bare-metal for qemu-system-xtensa
(-M sim -cpu lx106) with xtensa-lx106-elf-gcc -O2 -Wall -Wextra -Werror,
runs each kernel on the matmul shapes of DeiT-III-Small@224 under the
instruction-count TCG plugin (bench/xtensa/insn_count.c), checks every
kernel's output checksum against a host build of the same program, and
prints executed instructions per multiply-accumulate for:

  tern2_ref / tern3_ref   plain decode-and-multiply reference kernels
  tern2_lut / tern3_lut   the lookup-table kernels (what ftv_dispatch.h uses)
  i8_ref                  a dense int8 x int8 -> int32 reference loop (baseline)

plus dense/optimized ratios, the bytes each lookup-table call reads from its
x and W buffers (PSRAM on the device) and a whole forward pass (12 blocks).

    .venv/bin/python bench/bench_xtensa_matmul.py [--tokens N] [--scratch BYTES]

This is a benchmark, not a test (tests/test_matmul_kernels.py is the test).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "xtensa"))
import build as xbuild  # noqa: E402  (bench/xtensa/build.py)

# DeiT-III-Small@224: embed 384, 6 heads, MLP 1536, 196 patches + class token.
SHAPES = [  # name, tokens, K, n_out, times per forward pass
    ("patch", 196, 768, 384, 1),
    ("qkv", 197, 384, 1152, 12),
    ("proj", 197, 384, 384, 12),
    ("fc1", 197, 384, 1536, 12),
    ("fc2", 197, 1536, 384, 12),
    ("head", 1, 384, 1000, 1),
]
KERNELS = ["tern2_ref", "tern3_ref", "tern2_lut", "tern3_lut", "i8_ref"]
CLOCK_HZ = 240e6        # ESP32-S3 core clock, estimate assumes 1 instruction/cycle
PSRAM_BPS = 40e6        # octal PSRAM read bandwidth, bytes/s (memcpy measurement)


def plan_str(lut: dict) -> str:
    return f"{lut['blocks']}x{lut['slabs']}"


def clang_check() -> str:
    try:
        xbuild.require(xbuild.CLANG)
        xbuild.require(xbuild.LLC)
    except xbuild.ToolMissing as e:
        return f"skipped ({e})"
    with tempfile.TemporaryDirectory() as d:
        for src in xbuild.KERNEL_SOURCES:
            xbuild.clang_esp32_check(xbuild.NATIVE / src, Path(d) / (src + ".s"))
    return "ok (clang-22 -Wall -Wextra -Werror, llc-22 -mcpu=esp32)"


def run_shape(work: Path, plugin: Path, name: str, n_tok: int, K: int, n_out: int,
              scratch: int) -> dict:
    shape = dict(BENCH_N_TOK=n_tok, BENCH_K=K, BENCH_N_OUT=n_out, BENCH_SCRATCH=scratch)
    elf = xbuild.build_image(work, shape, name)
    host = xbuild.run_host(xbuild.build_host(work, shape, name + "_host"))
    rep = xbuild.run_image(elf, plugin)
    for k in KERNELS:
        got, want = rep["kernels"][k], host["kernels"][k]
        if got["rc"] != 0 or got["checksum"] != want["checksum"]:
            raise SystemExit(f"{name}/{k}: QEMU rc {got['rc']} checksum {got['checksum']}, "
                             f"host {want['checksum']}")
    if len({rep["kernels"][k]["checksum"] for k in KERNELS}) != 1:
        raise SystemExit(f"{name}: kernels disagree: {rep['kernels']}")
    if rep["lut"] != host["lut"]:
        raise SystemExit(f"{name}: sizing helpers differ between QEMU and host")
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=0,
                    help="tokens per shape (default: the model's, 197 / 196 / 1)")
    ap.add_argument("--scratch", type=int, default=128 * 1024,
                    help="kernel scratch bytes in internal SRAM (default 131072)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    t0 = time.time()
    shapes = [(n, min(t, args.tokens) if args.tokens else t, K, o, c)
              for n, t, K, o, c in SHAPES]
    print(f"ESP32 compile check: {clang_check()}")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        plugin = xbuild.build_plugin(work)
        with ThreadPoolExecutor(args.jobs) as pool:
            futs = [pool.submit(run_shape, work, plugin, n, t, K, o, args.scratch)
                    for n, t, K, o, _ in shapes]
            reps = [f.result() for f in futs]

    print(f"\nExecuted Xtensa lx106 instructions per MAC (QEMU TCG plugin, exact; "
          f"xtensa-lx106-elf-gcc -O2), scratch {args.scratch} B; "
          f"checksums equal the host build's for every kernel and shape.")
    hdr = (f"{'shape':6} {'tok':>4} {'K':>5} {'n_out':>5} {'MMAC':>7} | {'t2_ref':>6} {'t3_ref':>6} "
           f"{'t2_lut':>6} {'t3_lut':>6} {'i8_ref':>6} | {'i8/t2':>5} {'i8/t3':>5} | "
           f"{'plan t2':>9} {'plan t3':>9} {'PSRAM t2':>9} {'PSRAM t3':>9}")
    print(hdr)
    print("-" * len(hdr))
    tot = {k: 0 for k in KERNELS}
    tot_macs = 0
    tot_psram = {"tern2": 0, "tern3": 0}
    tot_write = {"tern2": 0, "tern3": 0}
    for (name, t, K, o, times), rep in zip(shapes, reps):
        macs = t * K * o
        ipm = {k: rep["kernels"][k]["insns"] / macs for k in KERNELS}
        lut = rep["lut"]
        print(f"{name:6} {t:>4} {K:>5} {o:>5} {macs / 1e6:>7.2f} | {ipm['tern2_ref']:>6.2f} "
              f"{ipm['tern3_ref']:>6.2f} {ipm['tern2_lut']:>6.3f} {ipm['tern3_lut']:>6.3f} "
              f"{ipm['i8_ref']:>6.2f} | {ipm['i8_ref'] / ipm['tern2_lut']:>5.1f} "
              f"{ipm['i8_ref'] / ipm['tern3_lut']:>5.1f} | {plan_str(lut['tern2']):>9} "
              f"{plan_str(lut['tern3']):>9} {lut['tern2']['psram_bytes']:>9} "
              f"{lut['tern3']['psram_bytes']:>9}")
        for k in KERNELS:
            tot[k] += rep["kernels"][k]["insns"] * times
        tot_macs += macs * times
        for lay in tot_psram:
            tot_psram[lay] += lut[lay]["psram_bytes"] * times
            tot_write[lay] += lut[lay]["out_write_bytes"] * times
    print("-" * len(hdr))
    ipm = {k: tot[k] / tot_macs for k in KERNELS}
    print(f"{'model':6} {'':>4} {'':>5} {'':>5} {tot_macs / 1e6:>7.1f} | {ipm['tern2_ref']:>6.2f} "
          f"{ipm['tern3_ref']:>6.2f} {ipm['tern2_lut']:>6.3f} {ipm['tern3_lut']:>6.3f} "
          f"{ipm['i8_ref']:>6.2f} | {ipm['i8_ref'] / ipm['tern2_lut']:>5.1f} "
          f"{ipm['i8_ref'] / ipm['tern3_lut']:>5.1f} |")
    full = all(t == st for (_, t, *_), (_, st, *_) in zip(shapes, SHAPES))
    note = "" if full else f" (shapes cut to {args.tokens} tokens: not the model's totals)"
    print(f"\nForward pass, matmuls only (patch + 12 x (qkv, proj, fc1, fc2) + head){note}:")
    for k in KERNELS:
        print(f"  {k:10} {tot[k] / 1e9:7.3f} G instructions  = {tot[k] / CLOCK_HZ:6.2f} s "
              f"at {CLOCK_HZ / 1e6:.0f} MHz, 1 instr/cycle")
    for lay in ("tern2", "tern3"):
        b, wr = tot_psram[lay], tot_write[lay]
        print(f"  {lay}_lut PSRAM: reads {b / 1e6:5.2f} MB (W once, x once per block, out "
              f"read back per extra slab), writes {wr / 1e6:5.2f} MB (out); "
              f"{(b + wr) / PSRAM_BPS:5.3f} s at {PSRAM_BPS / 1e6:.0f} MB/s")
        print(f"  {lay}_lut estimate: {tot[lay + '_lut'] / CLOCK_HZ:5.2f} s instructions + "
              f"{(b + wr) / PSRAM_BPS:5.2f} s PSRAM = "
              f"{tot[lay + '_lut'] / CLOCK_HZ + (b + wr) / PSRAM_BPS:5.2f} s per inference, "
              f"one core")
    print("  (plan: blocks x slabs of the lookup-table call; weights are read from PSRAM "
          "exactly once per call.\n   lx106 has no zero-overhead loops, the ESP32-S3's LX7 "
          "does: its counts would be a little lower.)")
    print(f"\n[{time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main()
