"""The attention's Q/K/V quantizers and their gradient: compiled reference vs one-pass kernels.

    python bench/bench_qkv_quant.py          # DeiT-S: 256 images x 197 tokens x 6 heads x 64

Times each kernel alone with CUDA events (median of --reps):

* forward: a plain copy of the QKV output (the floor: one read, one write); the
  compiled reference quantizers (`TernaryAttention`'s fused path without
  `layers.qkv_quant`); the Triton kernel.  Codes are checked against the compiled
  reference;
* backward: the (B, H, N, D) gradients of Q, K and V interleaved into the QKV
  product's (B, N, 3 x H x D) gradient, compiled (what autograd does for the float
  model's views) and by the Triton kernel.  Values must be equal.

A benchmark, not a test: run it deliberately on a GPU.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from ftervit.layers import fast, qkv_quant  # noqa: E402


def timed(fn, reps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1000)
    return statistics.median(times)


def reference_quant(qkv, heads):
    q, k, v = qkv_quant.split_heads(qkv, heads)
    return (fast.ste_act_per_token(q), fast.ste_act_per_group(k, (-2, -1)),
            fast.ste_act_per_group(v, (-2, -1)))


def interleave_ref(gq, gk, gv):
    batch, heads, tokens, head_dim = gq.shape
    return torch.stack((gq, gk, gv)).permute(1, 3, 0, 2, 4).reshape(batch, tokens, -1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--tokens", type=int, default=197)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_qkv_quant: needs a CUDA GPU", file=sys.stderr)
        return 2
    b, n, h, d = args.batch, args.tokens, args.heads, args.head_dim
    qkv = torch.randn(b, n, 3 * h * d, device="cuda", dtype=torch.bfloat16) * 2
    grads = [torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(3)]

    copy = torch.compile(lambda t: t * 1)
    compiled = torch.compile(reference_quant)
    stack = torch.compile(interleave_ref)
    reference = compiled(qkv, h)
    kernel_out = qkv_quant._quantize(qkv, h)
    differing = sum((a != r).sum().item() for a, r in zip(kernel_out, reference))
    grad_ref, grad_kernel = stack(*grads), qkv_quant._interleave(*grads)
    rows = [
        ("forward: copy of the QKV output", timed(lambda: copy(qkv), args.reps), "-"),
        ("forward: quantizers, compiled", timed(lambda: compiled(qkv, h), args.reps), "0"),
        ("forward: quantizers, Triton kernel",
         timed(lambda: qkv_quant._quantize(qkv, h), args.reps), f"{differing:,}"),
        ("backward: interleave, compiled", timed(lambda: stack(*grads), args.reps), "0"),
        ("backward: interleave, Triton kernel",
         timed(lambda: qkv_quant._interleave(*grads), args.reps),
         f"{(grad_kernel != grad_ref).sum().item():,}"),
    ]
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"{b} x {n} tokens x {h} heads x {d} bf16\n")
    print(f"{'variant':<40} {'us':>8} {'values != compiled':>19}")
    for name, us, diff in rows:
        print(f"{name:<40} {us:>8.1f} {diff:>19}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
