"""Training throughput on random data: float training vs ternary distillation, side by side.

    python bench/bench_train_throughput.py                       # DeiT-III-S@224, batch 256, GPU 0
    python bench/bench_train_throughput.py --variants float-compiled,distill-fast-compiled

Every variant runs the real training step (bf16 autocast, fused AdamW, loss,
backward, optimizer step) on random images and labels already on the GPU:

* float-*:   the float timm model trained with cross-entropy (the reference point);
  float-patchlinear-* computes its patch embedding as one matrix product, as the
  ternary student's fused path and the teacher runner do; float-fast-* also
  computes the last block for the class token only (`layers.class_token`): the
  float model as `ftervit train` runs it;
* distill-*: FTerViT student = ternarize(copy of the teacher), KL loss to the frozen
  teacher; the teacher's forward pass is included in every step.  The name says
  how the student quantizes (ref: the reference fake-quantizers; fast: fused
  quantizers, last block for the class token only, as the training commands run
  it; fastfull: the same with the last block computed for every token; int8: fused,
  forward products as exact int8 x ternary `torch._int_mm`),
  how the teacher runs (amp: fp32 weights under autocast; bf16: weights cast once,
  GELU in the first MLP product's epilogue and the last block for the class token
  only, as the training commands run it; bf16plain: neither of those two; fp8: FP8
  tensor-core products), whether it runs one batch ahead on a second
  CUDA stream (overlap), and whether both are `torch.compile`d;
* distill-floatstudent-*: the same distillation step with the float model (as in
  float-fast-*) as the student, no quantizers at all: the ceiling that fusing the
  quantizers can reach;
* teacher-*: the teacher's forward pass alone (inference throughput).

`--profile` also records a few steps of each variant with the PyTorch profiler
and prints where the GPU time goes (matrix products, attention, the compiled
elementwise and reduction kernels, the optimizer), per step.

Images per second are timed with CUDA events over --steps steps after --warmup
steps (compilation happens in the warm-up).  A variant is skipped once
--time-budget seconds have passed, so the script always ends with its table.
This is a benchmark, not a test: run it deliberately on a GPU.

Under `torchrun --nproc_per_node=N` the trained module is wrapped in
DistributedDataParallel (batch --batch per GPU) and the table shows the
throughput of all GPUs together.
"""
import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

import timm  # noqa: E402

import ftervit.models  # noqa: E402,F401
from ftervit.convert import ternarize  # noqa: E402
from ftervit.layers import (int8_matmul_available, set_fast_quantizers,  # noqa: E402
                            use_patch_linear)
from ftervit.layers.class_token import class_token_output  # noqa: E402
from ftervit.train.engine import param_groups  # noqa: E402
from ftervit.train.losses import distillation_loss  # noqa: E402
from ftervit.train.options import COMPILE_MODES  # noqa: E402
from ftervit.train.teacher import TeacherRunner  # noqa: E402

# name: (kind, student quantizers, teacher precision, overlap, compiled)
VARIANTS = {  # in the default running order: each compiled module is reused by later variants
    "float-compiled": ("float", None, None, False, True),
    "float-patchlinear-compiled": ("float", "patchlinear", None, False, True),
    "float-fast-compiled": ("float", "floatfast", None, False, True),
    "distill-fast-bf16-overlap-compiled": ("distill", "fast", "bf16", True, True),
    "teacher-bf16-compiled": ("teacher", None, "bf16", False, True),
    "distill-fast-bf16plain-overlap-compiled": ("distill", "fast", "bf16plain", True, True),
    "distill-fastfull-bf16-overlap-compiled": ("distill", "fastfull", "bf16", True, True),
    "student-fastfull-compiled": ("student", "fastfull", None, False, True),
    "teacher-bf16plain-compiled": ("teacher", None, "bf16plain", False, True),
    "student-fast-compiled": ("student", "fast", None, False, True),
    "distill-floatstudent-bf16-compiled": ("distill", "floatfast", "bf16", False, True),
    "distill-fast-bf16-compiled": ("distill", "fast", "bf16", False, True),
    "distill-fast-fp8-overlap-compiled": ("distill", "fast", "fp8", True, True),
    "teacher-fp8-compiled": ("teacher", None, "fp8", False, True),
    "distill-int8-fp8-overlap-compiled": ("distill", "int8", "fp8", True, True),
    "float-eager": ("float", None, None, False, False),
    "distill-ref-amp-eager": ("distill", "ref", "amp", False, False),
    "distill-fast-bf16-overlap-eager": ("distill", "fast", "bf16", True, False),
    "distill-ref-amp-compiled": ("distill", "ref", "amp", False, True),
}


class Bench:
    def __init__(self, args):
        self.args = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.device = torch.device(args.device)
        if self.world > 1:
            import torch.distributed as dist
            self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(self.device)
            dist.init_process_group("nccl", device_id=self.device)
        torch.manual_seed(0)
        self.float_model = timm.create_model(args.model, num_classes=1000).to(self.device)
        self.teacher_src = copy.deepcopy(self.float_model).eval()
        b, size = args.batch, self.float_model.patch_embed.img_size[0]
        gen = torch.Generator(device=self.device).manual_seed(1)
        self.inputs = [(torch.randn(b, 3, size, size, device=self.device, generator=gen),
                        torch.randint(0, 1000, (b,), device=self.device, generator=gen))
                       for _ in range(4)]
        self.students, self.teachers, self.compiled = {}, {}, {}

    def student(self, quant: str):
        if quant not in self.students:
            if quant in ("patchlinear", "floatfast"):
                model = use_patch_linear(copy.deepcopy(self.teacher_src)).train()
            else:
                model = ternarize(copy.deepcopy(self.teacher_src)).train().to(self.device)
                set_fast_quantizers(model, quant != "ref", int8_matmul=quant == "int8")
            if quant in ("floatfast", "fast", "int8"):
                class_token_output(model)
            self.students[quant] = model
        return self.students[quant]

    def teacher(self, precision: str, compiled: bool, overlap: bool = False):
        key = (precision, compiled, overlap)
        if key not in self.teachers:
            mode = self.args.teacher_compile_mode or self.args.compile_mode
            self.teachers[key] = TeacherRunner(
                copy.deepcopy(self.teacher_src), self.device,
                precision="bf16" if precision == "bf16plain" else precision,
                gelu_epilogue=precision != "bf16plain", class_token_only=precision != "bf16plain",
                compile_model=compiled, compile_mode=mode, overlap=overlap)
        return self.teachers[key]

    def maybe_compiled(self, key, model, compiled: bool):
        if not compiled:
            return self.wrapped(key, model)
        if key not in self.compiled:
            self.compiled[key] = torch.compile(self.wrapped(key, model),
                                              mode=self.args.compile_mode)
        return self.compiled[key]

    def wrapped(self, key, model):
        """The module the step calls: DistributedDataParallel under torchrun."""
        if self.world == 1:
            return model
        ddp_key = ("ddp", key)
        if ddp_key not in self.compiled:
            self.compiled[ddp_key] = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index])
        return self.compiled[ddp_key]

    def run(self, name: str) -> dict:
        kind, quant, precision, overlap, compiled = VARIANTS[name]
        if kind == "float":
            model = self.student(quant) if quant else self.float_model.train()
            key = quant or "float"
            return self._time_train(name, self.maybe_compiled(key, model, compiled), model,
                                    None, False)
        if kind == "student":
            model = self.student(quant)
            return self._time_train(name, self.maybe_compiled(quant, model, compiled), model,
                                    None, False)
        if kind == "teacher":
            return self._time_teacher(name, self.teacher(precision, compiled))
        model = self.student(quant)
        teacher = self.teacher(precision, compiled, overlap)
        return self._time_train(name, self.maybe_compiled(quant, model, compiled), model,
                                teacher, overlap)

    def _time_train(self, name, fwd, params_of, teacher, overlap) -> dict:
        opt = torch.optim.AdamW(param_groups(params_of, 0.05), lr=1e-4, fused=True)
        inputs = self.inputs

        def pending_for(i):
            x = inputs[i % len(inputs)][0]
            return teacher.submit(x) if teacher is not None else None

        def one_step(i, pending):
            x, y = inputs[i % len(inputs)]
            nxt = pending_for(i + 1) if overlap else None
            if teacher is not None and not overlap:
                pending = pending_for(i)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = fwd(x)
            if teacher is not None:
                loss = distillation_loss(logits, pending.result())
            else:
                loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return nxt

        return self._timed(name, one_step, pending_for(0) if overlap else None)

    def _time_teacher(self, name, teacher) -> dict:
        inputs = self.inputs

        def one_step(i, _):
            teacher(inputs[i % len(inputs)][0])
            return None

        return self._timed(name, one_step, None)

    def _timed(self, name, one_step, state) -> dict:
        args = self.args
        torch.cuda.reset_peak_memory_stats(self.device)
        t0 = time.perf_counter()
        for i in range(args.warmup):
            state = one_step(i, state)
        torch.cuda.synchronize(self.device)
        warm_s = time.perf_counter() - t0
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for i in range(args.warmup, args.warmup + args.steps):
            state = one_step(i, state)
        end.record()
        torch.cuda.synchronize(self.device)
        ms = start.elapsed_time(end)
        images = args.steps * args.batch * self.world
        result = {"variant": name, "img_per_s": round(images / (ms / 1000), 1),
                  "gpus": self.world, "ms_per_step": round(ms / args.steps, 2),
                  "warmup_s": round(warm_s, 1),
                  "peak_mem_gib": round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)}
        if args.profile:
            first = args.warmup + args.steps
            result["profile_ms_per_step"] = profile_steps(
                lambda i, st: one_step(first + i, st), state, args.profile)
        return result


# Kernel-name fragments that say which kind of work a CUDA kernel does, first match wins.
KERNEL_KINDS = (
    ("attention", ("flash", "fmha", "attention", "efficient_attention")),
    ("matmul", ("gemm", "xmma", "cutlass", "nvjet", "cublas", "wgmma", "triton_tem", "_mm_")),
    ("optimizer", ("multi_tensor", "adam", "foreach")),
    ("compiled elementwise/reduction", ("triton", "gelu_quant")),  # gelu_quant: ours, Triton
)


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    for kind, fragments in KERNEL_KINDS:
        if any(f in lowered for f in fragments):
            return kind
    return "other"


def profile_steps(one_step, state, steps: int) -> dict:
    """GPU milliseconds per step spent in each kind of kernel, over `steps` profiled steps,
    and (under "kernels") the 40 costliest kernels with their launches per step."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for i in range(steps):
            state = one_step(i, state)
        torch.cuda.synchronize()
    totals, kernels = {}, []
    for event in prof.key_averages():
        us = getattr(event, "self_device_time_total", None)
        if us is None:
            us = getattr(event, "self_cuda_time_total", 0)
        if us <= 0 or getattr(event, "device_type", None) is None:
            continue
        if "cuda" not in str(event.device_type).lower():
            continue
        kind = kernel_kind(event.key)
        totals[kind] = totals.get(kind, 0.0) + us / 1000 / steps
        kernels.append((round(us / 1000 / steps, 3), event.count / steps, event.key[:160]))
    totals["total"] = sum(totals.values())
    summary = {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    summary["launches"] = round(sum(k[1] for k in kernels))
    summary["kernels"] = sorted(kernels, reverse=True)[:40]
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="deit3_small_patch16_224")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--device", default="cuda")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated, in the order to run; known: " + ", ".join(VARIANTS))
    p.add_argument("--time-budget", type=float, default=480.0,
                   help="skip the remaining variants after this many seconds")
    p.add_argument("--json", default=None, help="write the results here as well")
    p.add_argument("--compile-mode", default=None, choices=COMPILE_MODES,
                   help="torch.compile mode of the compiled variants (reduce-overhead: CUDA graphs)")
    p.add_argument("--teacher-compile-mode", default=None, choices=COMPILE_MODES,
                   help="the teacher's torch.compile mode, if not --compile-mode's")
    p.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=True,
                   help="let cuDNN pick its fastest convolution for the patch embedding, as the "
                        "training commands do (default: on)")
    p.add_argument("--inductor", action="append", default=[], metavar="KEY=VALUE",
                   help="set a torch._inductor.config option (int, float, True/False or text)")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="also profile STEPS steps of each variant and print GPU time by kernel kind")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_train_throughput: needs a CUDA GPU", file=sys.stderr)
        return 2
    import torch._inductor.config as inductor_config
    with inductor_config.patch(parse_inductor_options(args.inductor, p)):
        return run_variants(args, p)


def run_variants(args, p) -> int:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants: {unknown}")
    bench = Bench(args)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if not main_rank:
        args.json = None
        sys.stdout = open(os.devnull, "w")
    gpu = torch.cuda.get_device_name(bench.device) + (f" x{bench.world}" if bench.world > 1 else "")
    print(f"{gpu}; torch {torch.__version__}; {args.model}; batch {args.batch}; "
          f"int8 matmul {'yes' if int8_matmul_available(bench.device) else 'no'}; "
          f"cudnn.benchmark {'on' if args.cudnn_benchmark else 'off'}; "
          f"compile mode {args.compile_mode or 'default'}", flush=True)
    results, t_start = [], time.perf_counter()
    for name in names:
        if time.perf_counter() - t_start > args.time_budget:
            results.append({"variant": name, "skipped": "time budget"})
            continue
        try:
            r = bench.run(name)
        except Exception as exc:  # one failing variant must not lose the others' numbers
            r = {"variant": name, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        results.append(r)
        print(json.dumps(r), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"gpu": gpu, "torch": torch.__version__,
                                                   "model": args.model, "batch": args.batch,
                                                   "results": results}, indent=1))
    ref = next((r["img_per_s"] for r in results
                if r["variant"] == "float-compiled" and "img_per_s" in r), None)
    print(f"\n{'variant':<38} {'img/s':>9} {'ms/step':>8} {'vs float':>9} {'mem GiB':>8}")
    for r in results:
        if "img_per_s" not in r:
            print(f"{r['variant']:<38} {r.get('error') or r.get('skipped')}")
            continue
        rel = f"{100 * r['img_per_s'] / ref:.0f} %" if ref else "-"
        print(f"{r['variant']:<38} {r['img_per_s']:>9,.0f} {r['ms_per_step']:>8.1f} {rel:>9} "
              f"{r['peak_mem_gib']:>8.1f}")
    print_profiles(results)
    return 0


def parse_inductor_options(pairs, parser) -> dict:
    """{dotted key: value} from KEY=VALUE pairs, each key checked against
    torch._inductor.config; nothing is set here (main applies them with the scoped
    `config.patch`, so no caller is left with changed global config)."""
    import torch._inductor.config as config
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        *path, name = key.split(".")
        owner = config
        for part in path:
            owner = getattr(owner, part, None)
        if not sep or owner is None or not hasattr(owner, name):
            parser.error(f"--inductor {pair!r}: expected KEY=VALUE with a known inductor option")
        value = {"true": True, "false": False}.get(text.lower(), text)
        if isinstance(value, str):
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    pass
        options[key] = value
    return options


def print_profiles(results) -> None:
    profiled = [r for r in results if r.get("profile_ms_per_step")]
    if not profiled:
        return
    kinds = []
    for r in profiled:
        kinds += [k for k in r["profile_ms_per_step"]
                  if k not in kinds and k not in ("total", "launches", "kernels")]
    kinds += ["total", "launches"]
    print(f"\nGPU ms per step by kernel kind (profiled steps)\n{'variant':<38} "
          + " ".join(f"{k[:14]:>14}" for k in kinds))
    for r in profiled:
        row = r["profile_ms_per_step"]
        print(f"{r['variant']:<38} " + " ".join(f"{row.get(k, 0.0):>14.2f}" for k in kinds))


if __name__ == "__main__":
    sys.exit(main())
