"""Host speed of the C runtime (native_module/ through cffi), against PyTorch and numpy.

    python bench/bench_host_speed.py [--repeats 10] [--native] [--skip-224]

Three tables, medians over repeats, everything measured in this one run on this CPU:

1. Whole-model latency at 224: FTerViT DeiT-III-S (`ftervit_small_patch16_224`, random
   weights, integerized) on the C runtime (one thread) vs the float PyTorch
   `deit3_small_patch16_224` (batch 1, torch's threads and one thread).
2. Fashion-MNIST-sized model (`ftervit_micro_patch4_28`): numpy integer reference vs the
   C runtime; the target is C >= 5x the reference's throughput.  Logits are checked equal.
3. Ternary matmul kernels on the DeiT-S shapes (197 tokens): MAC/s of the reference
   (decode every weight) and lookup-table kernels, tern2 and tern3, and dense int8.

`--native` builds the extension with -O3 -march=native (its own cached build); the
default is the tests' build (-O3, portable).  This is a benchmark, not a test.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import timm
import torch

import ftervit.models  # noqa: F401
from ftervit.cbackend import CModel, build
from ftervit.cbackend import ops as cops
from ftervit.ftv.ternary_pack import pack_ternary
from ftervit.integerize import integerize
from ftervit.reference import forward as reference_forward

DEIT_S_SHAPES = [("qkv", 384, 1152), ("proj", 384, 384), ("fc1", 384, 1536), ("fc2", 1536, 384)]


def median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def table(title: str, header, rows) -> None:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))


def _image(g, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (g.img_size, g.img_size, g.in_chans), dtype=np.uint8)


def bench_224(repeats: int, cflags) -> None:
    torch.manual_seed(0)
    imodel = integerize(timm.create_model("ftervit_small_patch16_224").eval())
    image = _image(imodel.geometry)
    rows = []
    c_ms = {}
    for layout in ("tern3", "tern2"):
        cmodel = CModel.from_integer_model(imodel, layout, extra_cflags=cflags)
        c_ms[layout] = median_ms(lambda: cmodel.forward(image), repeats)
    float_model = timm.create_model("deit3_small_patch16_224").eval()
    x = torch.randn(1, 3, 224, 224)
    threads = torch.get_num_threads()
    torch_ms = {}
    with torch.no_grad():
        for n in sorted({threads, 1}, reverse=True):
            torch.set_num_threads(n)
            torch_ms[n] = median_ms(lambda: float_model(x), repeats, warmup=2)
    torch.set_num_threads(threads)
    numpy_ms = median_ms(lambda: reference_forward(imodel, image), 1, warmup=0)
    for layout, ms in c_ms.items():
        rows.append((f"C runtime, {layout} (1 thread)", f"{ms:.1f}", "", ""))
    rows.append(("numpy integer reference (one run)", f"{numpy_ms:.1f}",
                 f"{c_ms['tern3'] / numpy_ms:.2f}", f"{c_ms['tern2'] / numpy_ms:.2f}"))
    for n, ms in torch_ms.items():
        rows.append((f"PyTorch float deit3_small_patch16_224 ({n} thread{'s' * (n > 1)})",
                     f"{ms:.1f}", f"{c_ms['tern3'] / ms:.2f}", f"{c_ms['tern2'] / ms:.2f}"))
    table("1. DeiT-III-S @224, batch 1: latency (ms)",
          ("runtime", "median ms", "C tern3 / this", "C tern2 / this"), rows)


def bench_micro(repeats: int, cflags) -> None:
    torch.manual_seed(0)
    imodel = integerize(timm.create_model("ftervit_micro_patch4_28").eval())
    image = _image(imodel.geometry, 1)
    numpy_ms = median_ms(lambda: reference_forward(imodel, image), max(3, repeats // 2))
    rows = [("numpy reference", f"{numpy_ms:.2f}", f"{1e3 / numpy_ms:.1f}", "1.0")]
    for layout in ("tern3", "tern2"):
        cmodel = CModel.from_integer_model(imodel, layout, extra_cflags=cflags)
        assert np.array_equal(cmodel.forward(image), reference_forward(imodel, image))
        ms = median_ms(lambda: cmodel.forward(image), repeats * 5)
        rows.append((f"C runtime, {layout}", f"{ms:.2f}", f"{1e3 / ms:.1f}",
                     f"{numpy_ms / ms:.1f}"))
    table("2. ftervit_micro_patch4_28 (28x28x1, 50 tokens, 6 blocks): numpy reference vs C "
          "(target: C >= 5x); logits identical",
          ("runtime", "median ms", "images/s", "x numpy"), rows)


def bench_matmul(repeats: int, cflags) -> None:
    module = build.load_extension(cflags)
    ffi, lib = module.ffi, module.lib
    rng = np.random.default_rng(2)
    n_tok = 197
    rows = []
    for name, k, n_out in DEIT_S_SHAPES:
        x = rng.integers(-127, 128, (n_tok, k), dtype=np.int8)
        w = rng.choice(np.array([-1, 0, 1], np.int8), (n_out, k), p=[0.35, 0.3, 0.35])
        out = np.zeros((n_tok, n_out), np.int32)
        want = x.astype(np.int64) @ w.astype(np.int64).T
        px = ffi.cast("int8_t *", x.ctypes.data)
        po = ffi.cast("int32_t *", out.ctypes.data)
        macs = n_tok * k * n_out
        row = [f"{name} {k}x{n_out}"]
        dense = np.ascontiguousarray(w)
        ms = median_ms(lambda: lib.ftv_matmul_i8_ref(
            px, ffi.cast("int8_t *", dense.ctypes.data), po, n_tok, k, n_out), repeats)
        row.append(f"{macs / ms / 1e6:.2f}")
        for layout in (2, 3):
            packed = np.frombuffer(pack_ternary(w, layout), np.uint8)
            pw = ffi.cast("uint8_t *", packed.ctypes.data)
            ref_fn = lib.ftv_matmul_tern2_ref if layout == 2 else lib.ftv_matmul_tern3_ref
            ms = median_ms(lambda: ref_fn(px, pw, po, n_tok, k, n_out), max(3, repeats // 3))
            assert np.array_equal(out, want)
            row.append(f"{macs / ms / 1e6:.2f}")
            lut_fn = lib.ftv_matmul_tern2_lut if layout == 2 else lib.ftv_matmul_tern3_lut
            for block_rows in (64, n_out):
                need = int(lib.ftv_matmul_lut_scratch_bytes(layout, k, block_rows))
                scratch = np.zeros(need, np.uint8)
                ps = ffi.cast("void *", scratch.ctypes.data)
                out[:] = 0
                ms = median_ms(lambda: lut_fn(px, pw, po, n_tok, k, n_out, ps, need), repeats)
                assert np.array_equal(out, want)
                row.append(f"{macs / ms / 1e6:.2f}")
        rows.append(tuple(row))
    table("3. Ternary matmul kernels, DeiT-S shapes, 197 tokens: GMAC/s (1 thread)",
          ("layer K x N", "int8 dense ref", "tern2 ref", "tern2 lut 64 rows", "tern2 lut all",
           "tern3 ref", "tern3 lut 64 rows", "tern3 lut all"), rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10, help="timed runs per entry (median)")
    ap.add_argument("--native", action="store_true",
                    help="build the extension with -O3 -march=native for this run")
    ap.add_argument("--skip-224", action="store_true", help="skip the slow 224 models")
    args = ap.parse_args()
    cflags = ["-march=native"] if args.native else []
    build.load_extension(cflags)
    flags = " ".join(list(build.DEFAULT_CFLAGS) + cflags)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); C extension: {flags}; "
          f"median of {args.repeats} runs")
    if not args.skip_224:
        bench_224(args.repeats, cflags)
    bench_micro(args.repeats, cflags)
    bench_matmul(args.repeats, cflags)


if __name__ == "__main__":
    main()
