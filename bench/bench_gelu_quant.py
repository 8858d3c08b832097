"""GELU + per-token int8 quantizer on the MLP hidden layer: one pass or two, side by side.

    python bench/bench_gelu_quant.py          # DeiT-S hidden layer: 256 x 197 tokens x 1536

Times the forward kernel(s) alone with CUDA events (median of --reps) and
checks each variant's codes against the compiled reference:

* float GELU (compiled): the floor, one read and one write;
* compiled GELU + quantizer, as Inductor fuses it (two kernels: the row maximum in
  chunks, `fast.row_absmax`, then the codes);
* the same with Inductor's coordinate-descent tuning of each kernel's launch;
* the Triton kernel `layers.gelu_quant` (autotuned launch configuration).

A benchmark, not a test: run it deliberately on a GPU.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from ftervit.layers import fast, gelu_quant  # noqa: E402


def timed(fn, x, reps: int) -> float:
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1000)
    return statistics.median(times)


def fresh_compile(fn, **options):
    torch._dynamo.reset()
    return torch.compile(fn, options=options or None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=256 * 197)
    p.add_argument("--width", type=int, default=1536)
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gelu_quant: needs a CUDA GPU", file=sys.stderr)
        return 2
    x = torch.randn(args.rows, args.width, device="cuda", dtype=torch.bfloat16) * 2

    def gelu_then_quant(t):
        return fast.ste_act_per_token(F.gelu(t))

    rows = []
    floor = timed(fresh_compile(F.gelu), x, args.reps)
    rows.append(("float GELU, compiled", floor, None))
    compiled = fresh_compile(gelu_then_quant)
    reference = compiled(x)
    rows.append(("GELU + quant, compiled", timed(compiled, x, args.reps), reference))
    tuned = fresh_compile(gelu_then_quant, coordinate_descent_tuning=True)
    rows.append(("  + coordinate-descent tuning", timed(tuned, x, args.reps), tuned(x)))
    rows.append(("GELU + quant, Triton kernel", timed(gelu_quant.gelu_quant_triton, x, args.reps),
                 gelu_quant.gelu_quant_triton(x)))
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"{args.rows} x {args.width} bf16\n")
    print(f"{'variant':<40} {'us':>8} {'vs float':>9} {'values != compiled':>19}")
    for name, us, out in rows:
        diff = "-" if out is None else f"{(out != reference).float().mean().item():.2e}"
        print(f"{name:<40} {us:>8.1f} {us / floor:>8.2f}x {diff:>19}")
    print(f"\nTriton kernel launch configuration: {gelu_quant._gelu_quant_kernel.best_config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
