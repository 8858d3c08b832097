"""CPU forward latency: FTerViT (fake-quant PyTorch) vs the float timm model it came from.

    python bench/bench_forward_cpu.py [--models ftervit_small_patch16_224 ...] [--repeats 20]

Prints median milliseconds (batch 1) and the ternary/float ratio, measured in
one run on the same CPU, alternating the two models to share machine noise.
"""
import argparse
import statistics
import time

import timm
import torch

import ftervit.models  # noqa: F401

FLOAT_TWIN = {
    "ftervit_tiny_patch16_224": "deit_tiny_patch16_224",
    "ftervit_small_patch16_224": "deit3_small_patch16_224",
    "ftervit_small_patch16_384": "deit3_small_patch16_384",
    "ftervit_micro_patch4_28": "deit_micro_patch4_28",
}


def _time_once(model, x) -> float:
    start = time.perf_counter()
    model(x)
    return (time.perf_counter() - start) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["ftervit_small_patch16_224",
                                                     "ftervit_micro_patch4_28"])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, median of "
          f"{args.repeats}")
    print(f"{'model':<28} {'float ms':>9} {'ternary ms':>11} {'ratio':>6}")
    for name in args.models:
        ternary = timm.create_model(name).eval()
        fp = timm.create_model(FLOAT_TWIN[name]).eval()
        chans, size = ternary.patch_embed.proj.in_channels, ternary.patch_embed.img_size
        x = torch.randn(1, chans, *size)
        times = {"float": [], "ternary": []}
        with torch.inference_mode():
            for _ in range(3):
                fp(x), ternary(x)
            for _ in range(args.repeats):
                times["float"].append(_time_once(fp, x))
                times["ternary"].append(_time_once(ternary, x))
        f_ms, t_ms = (statistics.median(times[k]) for k in ("float", "ternary"))
        print(f"{name:<28} {f_ms:>9.1f} {t_ms:>11.1f} {t_ms / f_ms:>6.2f}")


if __name__ == "__main__":
    main()
