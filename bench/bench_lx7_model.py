#!/usr/bin/env python3
"""Whole-model instruction counts on the LX7 proxy beside lx106, and the device
estimate from the LX7 counts.

Each model runs twice, bare-metal under qemu-system-xtensa -M sim:

* lx106: xtensa-lx106-elf-gcc -O2, call0 ABI (bench/xtensa/model_build.py,
  the figures of bench_xtensa_model.py);
* LX7: -cpu de233_fpu (LX7.1.3, windowed registers, 32 physical AR), the
  runtime built as the xtensawin `.mpy` is (clang-22 -Os to IR, llc-22
  -mcpu=esp32, llvm-mc-22; bench/xtensa/lx7_build.py), MULUH/MULSH emulated
  by the exception handler and counted as one instruction each, window
  spill / refill handlers counted apart.

Both count every executed instruction exactly, per phase (the same
wrappers); logits are checked against the `.ftv` golden logits (the numpy
reference's) and the host C backend.  The estimate is the one of
docs/performance.md with the LX7 count:

    instructions / 240 MHz + PSRAM bytes read / 40 MB/s

PSRAM bytes follow the kernels' loop order (bench_xtensa_model.psram_model,
from the matmul plans of the run); the code is the same C, so they do not
depend on the compiler.

    .venv/bin/python bench/bench_lx7_model.py [--models micro3,shipped,small3]

This is a benchmark, not a test (tests/test_lx7_model.py is the test).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "xtensa"))
sys.path.insert(0, str(HERE))
import bench_xtensa_model as bx  # noqa: E402  (categories, PSRAM model, constants)
import lx7_build as lb  # noqa: E402  (bench/xtensa/lx7_build.py)
import model_build as mb  # noqa: E402  (bench/xtensa/model_build.py)

SHIPPED = HERE.parent / "models" / "fmnist_ftervit_micro.ftv"
MODELS = dict(bx.MODELS, shipped=None)


def load_model(key: str, work: Path):
    """(ftv, path) of a random model of bx.MODELS, or the shipped file."""
    if key == "shipped":
        from ftervit.ftv import read_ftv
        return read_ftv(SHIPPED), SHIPPED
    name, layout = MODELS[key]
    path = work / f"{key}.ftv"
    return mb.make_ftv(name, layout, path), path


def measure(work: Path, key: str, ftv, path: Path, plugin: Path, opt: str) -> dict:
    lx106 = mb.run_model(mb.build_model_elf(work, ftv, path, name=key + "_lx106"), plugin)
    elf7 = lb.build_model_elf(work, ftv, path, name=key + "_lx7", opt=opt)
    lx7 = lb.run_model(elf7, plugin)
    return {"lx106": lx106, "lx7": lx7, "muluh_sites": lb.muluh_sites(elf7.parent)}


def phase_sum(run, phases) -> int:
    return sum(run.insns[p] for p in phases)


def report(key: str, ftv, path: Path, res: dict, host, args) -> list[str]:
    a, b = res["lx106"], res["lx7"]
    g = ftv.geometry
    L = [f"== {key}: {path.name} ({g.img_size} px, {g.num_patches + 1} tokens, depth "
         f"{g.depth}, D {g.embed_dim}, {ftv.layout})"]
    want = np.asarray(ftv.golden.logits, np.int32)
    for name, run in (("lx106", a), ("LX7", b)):
        ok_g = np.array_equal(run.logits, want)
        ok_h = isinstance(host, np.ndarray) and np.array_equal(run.logits, host)
        host_txt = "PASS" if ok_h else host if isinstance(host, str) else "FAIL"
        L.append(f"   {name:5} logits == numpy reference (golden): {'PASS' if ok_g else 'FAIL'}; "
                 f"== host C backend: {host_txt}")
    L.append("")
    L.append(f"   {'category':42} {'lx106 M':>10} {'LX7 M':>10} {'LX7/lx106':>9} "
             f"{'LX7 /MAC':>8} {'LX7 spills':>10}")
    macs = {p: 0 for p in mb.PHASES}
    for c in b.calls:
        if c["op"] == "MATMUL":
            macs[c["phase"]] += c["n"][0] * c["n"][1] * c["n"][2]
        elif c["op"] == "ATTENTION":
            t, heads, hd = c["n"]
            macs[c["phase"]] += 2 * t * t * heads * hd
    all_macs = sum(macs.values())

    def row(label, phases):
        na, nb = phase_sum(a, phases), phase_sum(b, phases)
        m = sum(macs[p] for p in phases)
        sp = sum(b.window_insns[p] for p in phases)
        per_mac = f"{nb / m:8.3f}" if m else " " * 8
        return (f"   {label:42} {na / 1e6:10.2f} {nb / 1e6:10.2f} {nb / na if na else 0:9.3f} "
                f"{per_mac} {sp / 1e6:10.3f}")

    for name, phases in bx.CATEGORIES:
        L.append(row(name, phases))
        if name.startswith("matmuls"):
            L += [row(sub, [ph]) for sub, ph in bx.MATMULS]
    ta, tb = a.total, b.total
    spill = sum(v for p, v in b.window_insns.items() if p != "OUTSIDE")
    exc = sum(v for p, v in b.window_exceptions.items() if p != "OUTSIDE")
    allocas = sum(v for p, v in b.allocas.items() if p != "OUTSIDE")
    traps = sum(v for p, v in b.traps.items() if p != "OUTSIDE")
    L.append(f"   {'total':42} {ta / 1e6:10.2f} {tb / 1e6:10.2f} {tb / ta:9.3f} "
             f"{tb / all_macs:8.3f} {spill / 1e6:10.3f}")
    L.append(f"   (MACs {all_macs / 1e6:.1f} M.  LX7 'spills': window overflow/underflow handler "
             f"instructions, {exc} exceptions ({allocas} of them MOVSP/alloca), not in the LX7 "
             f"column; MULUH/MULSH executed {traps} times ({res['muluh_sites']} sites in the "
             f"code), emulated, each counted as one instruction)")

    regions = mb.memory_regions(a)
    model = bx.psram_model(ftv, a, regions)
    reads = sum(v[0] for (ph, buf), v in model.items() if buf in bx.PSRAM)
    t_r = reads / args.psram
    est = {n: r.total / args.clock + t_r for n, r in (("lx106", a), ("LX7", b))}
    est_sp = (tb + spill) / args.clock + t_r
    L.append("")
    L.append(f"   estimate, one core, IPC 1, {args.clock / 1e6:.0f} MHz, PSRAM reads "
             f"{reads / 1e6:.3f} MB at {args.psram / 1e6:.0f} MB/s = {t_r:.3f} s (not overlapped):")
    L.append(f"     lx106: {ta / 1e9:.4f} G / {args.clock / 1e6:.0f} MHz + {t_r:.3f} s = "
             f"{est['lx106']:.3f} s")
    L.append(f"     LX7:   {tb / 1e9:.4f} G / {args.clock / 1e6:.0f} MHz + {t_r:.3f} s = "
             f"{est['LX7']:.3f} s  (with this core's window spills: {est_sp:.3f} s)")
    return L


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="micro3,shipped,small3",
                    help=f"comma-separated, from {','.join(MODELS)}")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--clock", type=float, default=bx.CLOCK_HZ)
    ap.add_argument("--psram", type=float, default=bx.PSRAM_BPS)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--lx7-opt", default="-Os", choices=["-Os", "-O2", "-O3"],
                    help="clang optimisation of the LX7 runtime (default -Os, the .mpy's)")
    args = ap.parse_args()
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    for k in keys:
        if k not in MODELS:
            raise SystemExit(f"--models: unknown model {k!r}: choose from {', '.join(MODELS)}")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        models = {k: load_model(k, work) for k in keys}
        host = {}
        for k, (ftv, path) in models.items():
            try:
                from ftervit import cbackend
                host[k] = np.asarray(cbackend.load(path).forward(ftv.golden_input()), np.int32)
            except Exception as e:  # the host backend is optional here
                host[k] = f"{type(e).__name__}: {e}"
        plugin = mb.build_profiler(work)
        with ThreadPoolExecutor(args.jobs) as pool:
            futs = {k: pool.submit(measure, work, k, *models[k], plugin, args.lx7_opt)
                    for k in keys}
            results = {k: f.result() for k, f in futs.items()}
    print("Whole-model forward pass (ftv_forward), exact executed instructions, "
          "qemu-system-xtensa -M sim:\n  lx106: gcc -O2, call0 ABI;  LX7: -cpu de233_fpu, "
          f"clang-22 {args.lx7_opt} / llc-22 -mcpu=esp32 / llvm-mc-22 (the xtensawin .mpy's "
          "pipeline), "
          "windowed ABI, MULUH/MULSH emulated")
    ok = True
    for k in keys:
        print()
        print("\n".join(report(k, *models[k], results[k], host[k], args)))
        want = np.asarray(models[k][0].golden.logits, np.int32)
        ok &= all(np.array_equal(results[k][n].logits, want) for n in ("lx106", "lx7"))
    print(f"\n[{time.time() - t0:.0f} s]")
    if not ok:
        raise SystemExit("FAIL: QEMU logits differ from the golden logits")


if __name__ == "__main__":
    main()
