#!/usr/bin/env python3
"""Whole-model instruction counts and device latency estimate of the C runtime.

Builds the whole runtime (every native_module/*.c but MicroPython binding
files) for the qemu-system-xtensa sim machine (-cpu lx106) with
xtensa-lx106-elf-gcc -O2 -Wall -Wextra -Werror, links a packed `.ftv` model
and its golden input into the image, and runs ftv_forward once under the
profiling plugin (bench/xtensa/insn_profile.c).  For each model it prints:

* PASS/FAIL: the QEMU logits against the `.ftv` golden logits (the numpy
  reference's) and against the host C backend (ftervit.cbackend);
* executed instructions per category (exact), their share, the MACs and
  instructions per MAC of matmuls and attention, with attention split into
  scores / softmax / weighted sum (from a -g build of the same code, whose
  counts per phase are checked equal);
* PSRAM bytes per inference from the kernels' loop order (the matmul plans
  for the matmuls), beside the bytes the code actually loads and stores per
  buffer (counted by the plugin: shows re-reads that the model assumes
  cached), and the device estimate with its assumptions.

    .venv/bin/python bench/bench_xtensa_model.py [--models small3,small2,micro3,micro2]
        [--mm-scratch BYTES] [--no-mem] [--jobs N]

Models have random weights (timm initialisation, norms / biases perturbed):
instruction counts do not depend on the weight values except through a few
data-dependent branches.  This is a benchmark, not a test
(tests/test_xtensa_model.py is the test).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "xtensa"))
import model_build as mb  # noqa: E402  (bench/xtensa/model_build.py)

MODELS = {
    "small3": ("ftervit_small_patch16_224", "tern3"),
    "small2": ("ftervit_small_patch16_224", "tern2"),
    "micro3": ("ftervit_micro_patch4_28", "tern3"),
    "micro2": ("ftervit_micro_patch4_28", "tern2"),
}
CLOCK_HZ = 240e6          # ESP32-S3 core clock; 1 instruction per cycle assumed
PSRAM_BPS = 40e6          # PSRAM -> core bytes/s (memcpy PSRAM->SRAM measures ~39 MB/s)
CACHE_BYTES = 32 * 1024   # ESP32-S3 data cache in front of PSRAM (default configuration)
PSRAM = ("weights", "image", "x", "wide", "narrow", "codes")   # buffers assumed in PSRAM
# The design's floor (docs: DESIGN.md "Performance model of the device").
FLOOR_GMAC, FLOOR_MAC_PER_CYCLE, FLOOR_CORES, FLOOR_WEIGHTS_MB = 4.6, 16, 2, 5.8

CATEGORIES = [  # name, phases
    ("patch embed (gather, requant, pos add)", ["GATHER", "RQ_PATCH", "EMBED_ADD"]),
    ("LayerNorm (fused with quantize)", ["LN_BLOCK"]),
    ("quantize / requantize", ["Q_ATTN", "Q_MLP", "RQ_QKV", "RQ_FC1"]),
    ("matmuls (ternary, lookup tables)", ["MM_PATCH", "MM_QKV", "MM_PROJ", "MM_FC1",
                                          "MM_FC2", "MM_HEAD"]),
    ("attention (QK^T, softmax, PV)", ["ATTN"]),
    ("GELU", ["GELU"]),
    ("residual (requantize + add)", ["RES_PROJ", "RES_FC2"]),
    ("head (final LN, requant)", ["LN_HEAD", "RQ_HEAD"]),
    ("control (ftv_model.c)", ["CONTROL"]),
]
MATMULS = [("  patch", "MM_PATCH"), ("  qkv", "MM_QKV"), ("  proj", "MM_PROJ"),
           ("  fc1", "MM_FC1"), ("  fc2", "MM_FC2"), ("  head", "MM_HEAD")]
ATTN_PARTS = [  # sub-row, labels of bench/xtensa/model_build.source_ranges
    ("  scores q.k (attn_scores)", lambda l: l.endswith("/attn_scores")),
    ("  softmax (attn_softmax16)", lambda l: l.endswith("/attn_softmax16")),
    ("  Q/K/V codes (quant_row32, absmax)", lambda l: l.split("/")[0] == "quant_row32"
     or l.split("/")[-1] in ("block_amax", "row_amax", "row_scale", "attn_fast_carve")),
    ("  weighted sum p.v, output scaling, loops", lambda l: l.startswith("ftv_attention")),
    ("  __muldi3 (64-bit multiply helper)", lambda l: l == "__muldi3"),
    ("  ftv_udiv64 (division helper)", lambda l: l.startswith("ftv_udiv64")),
]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------ PSRAM model

def region_of(regions, ptr: int) -> str:
    for name, lo, hi in regions:
        if lo <= ptr < hi:
            return name
    return "other"


def psram_model(ftv, run, regions) -> dict:
    """{(phase, buffer): [read, written]} bytes by the kernels' loop order:
    each op streams its inputs and outputs once (re-reads of one row, <= 6 KB,
    hit the cache), matmuls as their plan says (W once, x once per block, out
    read back per extra slab), attention reads a head's K and V columns twice
    (absmax pass, then codes) when they exceed the cache, weights once."""
    g = ftv.geometry
    out: dict = {}

    def acc(phase, ptr, nbytes, write=False):
        if ptr == 0 or nbytes == 0:
            return
        cell = out.setdefault((phase, region_of(regions, ptr)), [0, 0])
        cell[1 if write else 0] += nbytes

    for i, c in enumerate(run.calls):
        ph, n, p = c["phase"], c["n"], c["p"]
        if c["op"] == "MATMUL":
            plan = run.plans[i]
            acc(ph, p[1], plan["w_bytes"])
            acc(ph, p[0], plan["x_bytes"])
            acc(ph, p[2], plan["out_read_bytes"])
            acc(ph, p[2], plan["out_write_bytes"], True)
        elif c["op"] in ("REQUANT", "REQUANT_ADD"):
            rows, n_out, per_row = n
            acc(ph, p[1], rows * n_out * 4)
            if c["op"] == "REQUANT_ADD":
                acc(ph, p[0], rows * n_out * 4)
            acc(ph, p[2], (n_out if per_row else 1) * 4)
            acc(ph, p[3], n_out * 2)
            acc(ph, p[0], rows * n_out * 4, True)
        elif c["op"] == "LN_QUANT":
            rows, dim, _ = n
            acc(ph, p[1], rows * dim * 4)
            acc(ph, p[4], 8)
            acc(ph, p[0], rows * dim, True)
        elif c["op"] == "UNPACK":
            count, layout, _ = n
            acc(ph, p[1], cdiv(count, 4 if layout == 2 else 5))
            acc(ph, p[0], count, True)
        elif c["op"] == "QUANT_ROWS":
            rows, k, _ = n
            acc(ph, p[1], rows * k * 4)
            acc(ph, p[0], rows * k, True)
        elif c["op"] == "GELU":
            acc(ph, p[1], n[0] * 4)
            acc(ph, p[0], n[0] * 4, True)
        elif c["op"] == "ATTENTION":
            t, heads, hd = n
            dim = heads * hd
            kv_passes = 2 if t * hd * 4 > CACHE_BYTES else 1
            acc(ph, p[1], t * dim * 4 * (1 + 2 * kv_passes))
            acc(ph, p[0], t * dim * 4, True)
        elif c["op"] == "GATHER":
            img, ch, ps = n
            acc(ph, p[1], img * img * ch)
            acc(ph, p[2], 256 * ch)
            acc(ph, p[0], (img // ps) ** 2 * ch * ps * ps, True)
    # the embedding loop of ftv_model.c: tokens (narrow), class token and
    # position embedding (weights) -> residual stream x
    reg = {name: lo for name, lo, _ in regions}
    d, patches = g.embed_dim, g.num_patches
    acc("EMBED_ADD", reg["narrow"], patches * d * 4)
    acc("EMBED_ADD", reg["weights"], ftv.tensor("pos_embed").length
        + ftv.tensor("cls_token").length)
    acc("EMBED_ADD", reg["x"], (patches + 1) * d * 4, True)
    return out


# --------------------------------------------------------------- one model

def measure(work: Path, key: str, ftv, ftv_path: Path, plugin: Path, mm_scratch: int,
            mem: bool) -> dict:
    elf = mb.build_model_elf(work, ftv, ftv_path, mm_scratch, name=key)
    elf_g = mb.build_model_elf(work, ftv, ftv_path, mm_scratch, name=key + "_g", debug=True)
    run = mb.run_model(elf, plugin)
    out = {"run": run, "unwrapped": mb.unwrapped_calls(elf.parent)}
    out["regions"] = mb.memory_regions(run)
    if mem:
        out["mem"] = mb.run_model(elf, plugin, regions=out["regions"])
    out["src"] = mb.run_model(elf_g, plugin, by_source=True)
    return out


def fmt_bytes(n: float) -> str:
    return f"{n / 1e6:8.3f}"


def report(key: str, ftv, res: dict, host_logits, args) -> list[str]:
    run, src, regions = res["run"], res["src"], res["regions"]
    mem = res.get("mem")
    g = ftv.geometry
    L = []
    gold = np.asarray(ftv.golden.logits, np.int32)
    ok_gold = run.passed and np.array_equal(run.logits, gold)
    L.append(f"== {key}: {ftv.layout}, {g.img_size} px / {g.patch_size}, {g.num_tokens} tokens, "
             f"D {g.embed_dim}, depth {g.depth}, {g.num_heads} heads, MLP {g.mlp_dim}, "
             f"{g.num_classes} classes; file {ftv.file_size / 1e6:.3f} MB")
    L.append(f"   logits under QEMU == .ftv golden (numpy reference): "
             f"{'PASS' if ok_gold else 'FAIL'}")
    if isinstance(host_logits, str):
        L.append(f"   logits under QEMU == host C backend: not checked ({host_logits})")
    else:
        L.append(f"   logits under QEMU == host C backend: "
                 f"{'PASS' if np.array_equal(run.logits, host_logits) else 'FAIL'}")
    same = all(src.insns[p] == run.insns[p] for p in mb.PHASES)
    L.append(f"   -g build (for the source split) executes the same count in every phase: "
             f"{'yes' if same else 'NO'}")
    if mem is not None:
        L.append(f"   memory-counting run executes the same count: "
                 f"{'yes' if mem.insns == run.insns else 'NO'}")
    problems = []
    if run.insns["UNEXPECTED"]:
        problems.append("calls outside the expected order (phase UNEXPECTED)")
    if res["unwrapped"] and set(res["unwrapped"]) - {"ftv_udiv64", "ftv_attention_scratch_bytes",
                                                     "ftv_matmul_lut_scratch_bytes"}:
        problems.append(f"unwrapped operator calls land in control: {res['unwrapped']}")
    if any(c["op"] == "MATMUL" and c["p"][4] != args.mm_scratch for c in run.calls):
        problems.append("the matmul scratch is not the size assumed")
    for p in problems:
        L.append(f"   WARNING: {p}")

    # ---- MACs and PSRAM model
    macs = {p: 0 for p in mb.PHASES}
    for c in run.calls:
        if c["op"] == "MATMUL":
            macs[c["phase"]] += c["n"][0] * c["n"][1] * c["n"][2]
        elif c["op"] == "ATTENTION":
            t, heads, hd = c["n"]
            macs[c["phase"]] += 2 * t * t * heads * hd
    model = psram_model(ftv, run, regions)
    rd = {p: sum(v[0] for (ph, b), v in model.items() if ph == p and b in PSRAM)
          for p in mb.PHASES}
    wr = {p: sum(v[1] for (ph, b), v in model.items() if ph == p and b in PSRAM)
          for p in mb.PHASES}
    total = run.total

    hdr = (f"   {'category':42} {'instr (M)':>10} {'share':>6} {'MMAC':>8} {'instr/MAC':>9} "
           f"{'PSRAM rd MB':>11} {'wr MB':>7} {'est. s':>7}")
    L.append("")
    L.append(hdr)
    L.append("   " + "-" * (len(hdr) - 3))

    def row(name, n, m=0, r=None, w=None):
        est = n / args.clock + (r or 0) / args.psram
        ipm = f"{n / m:9.3f}" if m else ""
        mm = f"{m / 1e6:8.1f}" if m else ""
        io = f"{r / 1e6:11.3f} {w / 1e6:7.3f}" if r is not None else f"{'':11} {'':7}"
        L.append(f"   {name:42} {n / 1e6:10.2f} {100 * n / total:5.1f}% {mm:>8} {ipm:>9} "
                 f"{io} {est:7.3f}")

    def phase_row(name, phases):
        row(name, sum(run.insns[p] for p in phases), sum(macs[p] for p in phases),
            sum(rd[p] for p in phases), sum(wr[p] for p in phases))

    for name, phases in CATEGORIES:
        phase_row(name, phases)
        if phases[0] == "MM_PATCH":
            for sub, ph in MATMULS:
                phase_row(sub, [ph])
        if phases == ["ATTN"]:
            parts = src.by_function["ATTN"]
            seen = set()
            for sub, match in ATTN_PARTS:
                labels = [lab for lab in parts if match(lab) and lab not in seen]
                seen.update(labels)
                half = macs["ATTN"] // 2 if "scores" in sub or "weighted" in sub else 0
                row(sub, sum(parts[lab] for lab in labels), half)
            rest = sum(v for lab, v in parts.items() if lab not in seen)
            if rest:
                row("  other", rest)
    L.append("   " + "-" * (len(hdr) - 3))
    all_macs = sum(macs.values())
    reads, writes = sum(rd.values()), sum(wr.values())
    L.append(f"   {'total':42} {total / 1e6:10.2f} {100.0:5.1f}% {all_macs / 1e6:8.1f} "
             f"{total / all_macs:9.3f} {reads / 1e6:11.3f} {writes / 1e6:7.3f} "
             f"{total / args.clock + reads / args.psram:7.3f}")
    mm_insns = sum(run.insns[p] for _, p in MATMULS)
    mm_macs = sum(macs[p] for _, p in MATMULS)
    L.append(f"   matmuls: {mm_insns / 1e9:.3f} G instructions for {mm_macs / 1e9:.3f} GMAC = "
             f"{mm_insns / mm_macs:.3f} instructions per MAC")
    mul = sum(d.get("__muldi3", 0) for p, d in run.by_function.items() if p != "OUTSIDE")
    div = sum(d.get("ftv_udiv64", 0) for p, d in run.by_function.items() if p != "OUTSIDE")
    L.append(f"   helpers inside the rows above: __muldi3 {mul / 1e6:.1f} M instructions "
             f"({mul // 27} calls of 27, {100 * mul / total:.1f}%), ftv_udiv64 "
             f"{div / 1e6:.1f} M ({100 * div / total:.1f}%)")

    # ---- PSRAM: weights once, modeled vs accessed per buffer
    tensor_bytes = sum(t.length for t in ftv.tensors.values())
    w_model = sum(v[0] for (ph, b), v in model.items() if b == "weights")
    w_mm = sum(run.plans[i]["w_bytes"] for i, c in enumerate(run.calls) if c["op"] == "MATMUL")
    tern = sum(t.length for t in ftv.tensors.values() if t.kind == "tern")
    norm_tern = sum(t.length for n, t in ftv.tensors.items()
                    if t.kind == "tern" and ".norm" in "." + n)
    L.append("")
    L.append(f"   weights read once per inference: matmul plans read {w_mm} B of W = the "
             f"file's {tern - norm_tern} B of ternary matrices "
             f"({'yes' if w_mm == tern - norm_tern else 'NO'}); all weight reads in the model "
             f"{w_model} B = the file's {tensor_bytes} tensor bytes "
             f"({'yes' if w_model == tensor_bytes else 'NO'})")
    sizes = {name: hi - lo for name, lo, hi in regions}
    L.append(f"   buffers: PSRAM = model file {sizes['weights'] / 1e3:.0f} KB, image "
             f"{sizes['image'] / 1e3:.1f} KB, ftv_forward's activations x / wide / narrow / "
             f"codes {sum(sizes[b] for b in ('x', 'wide', 'narrow', 'codes')) / 1e3:.0f} KB; "
             f"SRAM = matmul scratch {sizes['mm_scratch'] / 1e3:.0f} KB, row scales + LN row + "
             f"attention scratch {sizes['small'] / 1e3:.1f} KB, stack, logits, tables")
    L.append("")
    L.append(f"   {'buffer':10} {'where':5} {'model rd MB':>11} {'model wr MB':>11}"
             + (f" {'loaded MB':>10} {'stored MB':>10}  (bytes the code accesses, QEMU)"
                if mem is not None else ""))
    names = [r[0] for r in regions if r[0] != "scratch_rest"] + ["other"]
    for b in names:
        mr = sum(v[0] for (ph, bb), v in model.items() if bb == b)
        mw = sum(v[1] for (ph, bb), v in model.items() if bb == b)
        line = f"   {b:10} {'PSRAM' if b in PSRAM else 'SRAM':5} {mr / 1e6:11.3f} {mw / 1e6:11.3f}"
        if mem is not None:
            ld = sum(v[0] for (ph, bb), v in mem.mem.items() if bb == b and ph != "OUTSIDE")
            st = sum(v[1] for (ph, bb), v in mem.mem.items() if bb == b and ph != "OUTSIDE")
            line += f" {ld / 1e6:10.3f} {st / 1e6:10.3f}"
        L.append(line)
    if mem is not None:
        w_ld = {ph: v[0] for (ph, b), v in mem.mem.items() if b == "weights"}
        exact = all(w_ld.get(c["phase"], 0) == sum(
            run.plans[i]["w_bytes"] for i, cc in enumerate(run.calls)
            if cc["op"] == "MATMUL" and cc["phase"] == c["phase"])
            for c in run.calls if c["op"] == "MATMUL")
        L.append(f"   (measured: the matmuls load exactly their plans' W bytes from the model "
                 f"file: {'yes' if exact else 'NO'}; 'other' = stack, globals, constant tables, "
                 f"logits)")

    # ---- estimate
    t_i, t_r, t_w = total / args.clock, reads / args.psram, writes / args.psram
    L.append("")
    L.append(f"   device estimate, one core: {total / 1e9:.3f} G instructions / "
             f"{args.clock / 1e6:.0f} MHz = {t_i:.3f} s  +  PSRAM reads {reads / 1e6:.3f} MB / "
             f"{args.psram / 1e6:.0f} MB/s = {t_r:.3f} s  ->  {t_i + t_r:.3f} s per inference "
             f"(writes {writes / 1e6:.3f} MB: +{t_w:.3f} s if they cost as much as reads)")
    if g.img_size < 64:
        act = sum(sizes[b] for b in ("x", "wide", "narrow", "codes"))
        r_w = sum(v[0] for (ph, b), v in model.items() if b in ("weights", "image"))
        L.append(f"   (this model's activation buffers, {act / 1e3:.0f} KB, could live in SRAM "
                 f"instead: PSRAM reads would be the weights only, {r_w / 1e6:.3f} MB = "
                 f"{r_w / args.psram:.3f} s)")
    floor_c = all_macs / (FLOOR_MAC_PER_CYCLE * FLOOR_CORES * args.clock)
    L.append(f"   design floor for comparison: {all_macs / 1e9:.3f} GMAC at "
             f"{FLOOR_MAC_PER_CYCLE} int8 MAC/cycle on {FLOOR_CORES} cores = {floor_c:.3f} s; "
             f"weights {tensor_bytes / 1e6:.2f} MB once = {tensor_bytes / args.psram:.3f} s")
    return L


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="small3,small2,micro3,micro2",
                    help=f"comma-separated, from {','.join(MODELS)}")
    ap.add_argument("--mm-scratch", type=int, default=128 * 1024,
                    help="matmul kernel scratch in internal SRAM, bytes (default 131072)")
    ap.add_argument("--no-mem", action="store_true",
                    help="skip the (slower) run that counts the bytes each buffer is accessed")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--clock", type=float, default=CLOCK_HZ)
    ap.add_argument("--psram", type=float, default=PSRAM_BPS)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the images, model files and plugin logs here")
    args = ap.parse_args()
    t0 = time.time()
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    for k in keys:
        if k not in MODELS:
            raise SystemExit(f"unknown model {k!r}: choose from {', '.join(MODELS)}")
    mb.require_tools()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ftvs, host = {}, {}
        for k in keys:
            name, layout = MODELS[k]
            path = work / f"{k}.ftv"
            ftvs[k] = (mb.make_ftv(name, layout, path), path)
            try:
                from ftervit import cbackend
                host[k] = cbackend.load(path).forward(ftvs[k][0].golden_input())
            except Exception as e:  # the host backend is optional here
                host[k] = f"{type(e).__name__}: {e}"
        plugin = mb.build_profiler(work)
        with ThreadPoolExecutor(args.jobs) as pool:
            futs = {k: pool.submit(measure, work, k, ftvs[k][0], ftvs[k][1], plugin,
                                   args.mm_scratch, not args.no_mem) for k in keys}
            results = {k: f.result() for k, f in futs.items()}

    print("Whole-model forward pass (ftv_forward) on qemu-system-xtensa -M sim -cpu lx106, "
          "xtensa-lx106-elf-gcc -O2; executed instructions counted exactly by a TCG plugin.")
    print(f"Estimate = instructions / {args.clock / 1e6:.0f} MHz (IPC 1, one core; lx106 counts "
          f"as a proxy for the ESP32-S3's LX7) + PSRAM bytes read / {args.psram / 1e6:.0f} MB/s. "
          f"PSRAM: the model file, the image and ftv_forward's activation buffers; SRAM: the "
          f"matmul scratch ({args.mm_scratch} B), small buffers, stack, tables.  PSRAM bytes "
          f"follow the kernels' loop order (see psram_model); a row re-read inside one op is "
          f"assumed to hit the {CACHE_BYTES // 1024} KB cache.")
    for k in keys:
        print()
        print("\n".join(report(k, ftvs[k][0], results[k], host[k], args)))
    print(f"\nDesign floor (DESIGN.md): {FLOOR_GMAC} GMAC at {FLOOR_MAC_PER_CYCLE} int8 MAC/cycle "
          f"on {FLOOR_CORES} x {args.clock / 1e6:.0f} MHz = "
          f"{FLOOR_GMAC * 1e9 / (FLOOR_MAC_PER_CYCLE * FLOOR_CORES * args.clock):.2f} s; "
          f"{FLOOR_WEIGHTS_MB} MB of weights once = {FLOOR_WEIGHTS_MB * 1e6 / args.psram:.3f} s.")
    print(f"\n[{time.time() - t0:.0f} s]")
    if not all(r["run"].passed for r in results.values()):
        raise SystemExit("FAIL: QEMU logits differ from the golden logits")


if __name__ == "__main__":
    main()
