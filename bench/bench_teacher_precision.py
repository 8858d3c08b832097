"""How far a cheaper teacher runner moves the teacher's predictions, on real test images.

    python bench/bench_teacher_precision.py --teacher teacher.pt --data fashion-mnist

Runs one float checkpoint through `TeacherRunner` in each precision (fp32 is the
reference; bf16 with GELU in the MLP's first product, as the training commands
run it; bf16 with GELU as a pass of its own; fp8 where the GPU has it) over the
test split, and prints per precision: top-1 accuracy, the share of images whose
top-1 class equals the fp32 teacher's, the mean KL divergence from the fp32
teacher's softmax (temperature 1, in nats), and the largest logit difference.
A benchmark, not a test: run it deliberately on a GPU.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from ftervit.train.data import DataOptions, open_data  # noqa: E402
from ftervit.train.teacher import TeacherRunner, load_teacher  # noqa: E402

RUNNERS = {  # name: (precision, GELU in the epilogue)
    "fp32": ("fp32", False),
    "bf16": ("bf16", True),
    "bf16plain": ("bf16", False),
    "fp8": ("fp8", False),
}


def all_logits(runner, batches) -> torch.Tensor:
    return torch.cat([runner(x).float() for x, _ in batches])


def compare(name, logits, ref, labels) -> dict:
    kl = torch.nn.functional.kl_div(logits.log_softmax(-1), ref.log_softmax(-1),
                                    log_target=True, reduction="batchmean")
    return {"runner": name,
            "top1": round(100 * (logits.argmax(-1) == labels).float().mean().item(), 2),
            "same_top1_as_fp32": round(100 * (logits.argmax(-1) == ref.argmax(-1))
                                       .float().mean().item(), 3),
            "mean_kl_from_fp32": float(f"{kl.item():.3g}"),
            "max_logit_diff": round((logits - ref).abs().max().item(), 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True, help="float ftervit checkpoint")
    p.add_argument("--data", required=True, help="'fashion-mnist', idx folder or ImageFolder root")
    p.add_argument("--runners", default="fp32,bf16,bf16plain,fp8")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_teacher_precision: needs a CUDA GPU", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    _, meta = load_teacher(checkpoint=args.teacher)
    data = open_data(args.data, meta["mean"], meta["std"], device, img_size=meta["img_size"],
                     in_chans=meta["in_chans"], options=DataOptions(workers=4, train_subset=1))
    batches = list(data.val.eval_batches(args.batch_size, 0, 1))
    labels = torch.cat([y for _, y in batches])
    names = [n for n in args.runners.split(",") if n]
    logits = {}
    for name in names:
        precision, epilogue = RUNNERS[name]
        fresh, _ = load_teacher(checkpoint=args.teacher)  # the runner changes its model in place
        runner = TeacherRunner(fresh, device, precision=precision, gelu_epilogue=epilogue)
        if runner.precision != precision:
            print(f"{name}: not available here ({runner.precision} instead), skipped")
            continue
        logits[name] = all_logits(runner, batches)
    ref = logits["fp32"]
    rows = [compare(name, value, ref, labels) for name, value in logits.items()]
    print(f"{meta['model_name']} on {len(labels)} test images; {torch.cuda.get_device_name()}")
    print(f"{'runner':<10} {'top-1 %':>8} {'same top-1 %':>13} {'mean KL':>10} "
          f"{'max |dlogit|':>13}")
    for r in rows:
        print(f"{r['runner']:<10} {r['top1']:>8.2f} {r['same_top1_as_fp32']:>13.3f} "
              f"{r['mean_kl_from_fp32']:>10.3g} {r['max_logit_diff']:>13.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"teacher": args.teacher, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
