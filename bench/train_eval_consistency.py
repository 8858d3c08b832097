"""Training's own validation against `ftervit eval` of the checkpoint the run writes.

    python bench/train_eval_consistency.py --data D --workdir runs/consistency \
        [--teacher T | --teacher-epochs 10] [--epochs 10] [--distill-args="--compile"]

Without --teacher, a float `deit_micro_patch4_28` teacher is trained first
(`ftervit train`).  Then `ftervit distill` runs with --distill-args, and
`ftervit eval` scores its last checkpoint twice: in float (the command's
default) and under bf16 autocast (how training evaluates on a GPU).  Prints the
logged val_top1 of every epoch, then the last epoch's against both evaluations.
Every step is a subprocess of the `ftervit` command, so the code under test is
whatever `ftervit` PYTHONPATH imports.
"""
import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

TEACHER_MODEL = "deit_micro_patch4_28"


def ftervit(*args: str) -> None:
    command = [sys.executable, "-m", "ftervit", *args]
    print("$ ftervit " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True)


def read_epochs(log: Path):
    """(epoch, val_top1) of every evaluated epoch in a run's JSONL log."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(r["epoch"], r["val_top1"]) for r in records if "val_top1" in r]


def shared_options(args, training: bool):
    """--device and the data subsets, as each command spells them."""
    options = ["--device", args.device, "--val-subset", str(args.val_subset)]
    return options + (["--train-subset", str(args.train_subset)] if training else [])


def evaluate(args, checkpoint: Path, amp: bool) -> float:
    out = checkpoint.with_name(checkpoint.stem + (".eval_amp.json" if amp else ".eval.json"))
    ftervit("eval", str(checkpoint), "--data", args.data, "--json", str(out),
            "--amp" if amp else "--no-amp", *shared_options(args, training=False))
    return json.loads(out.read_text())["top1"]


def train_teacher(args, workdir: Path) -> Path:
    teacher = workdir / "teacher.pt"
    ftervit("train", "--model", TEACHER_MODEL, "--data", args.data, "--epochs",
            str(args.teacher_epochs), "--warmup-epochs", "1", "--compile", "--quiet",
            "--overwrite", "--output", str(teacher), *shared_options(args, training=True))
    return teacher


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="'fashion-mnist' or a folder of idx files")
    p.add_argument("--workdir", required=True, type=Path)
    p.add_argument("--teacher", type=Path, default=None, help="float checkpoint (else trained)")
    p.add_argument("--teacher-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10, help="distillation epochs")
    p.add_argument("--distill-args", default="--compile",
                   help="further `ftervit distill` options, one string")
    p.add_argument("--device", default="auto")
    p.add_argument("--train-subset", type=int, default=0, help="first N training images (0: all)")
    p.add_argument("--val-subset", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    teacher = args.teacher or train_teacher(args, args.workdir)
    student = args.workdir / "student.pt"
    ftervit("distill", "--teacher", str(teacher), "--data", args.data, "--epochs",
            str(args.epochs), "--warmup-epochs", "1", "--quiet", "--overwrite",
            "--output", str(student), *shared_options(args, training=True),
            *shlex.split(args.distill_args))
    epochs = read_epochs(student.with_name(student.stem + ".jsonl"))
    if not epochs:
        raise SystemExit(f"{student}: the log holds no evaluated epoch")
    float_top1, amp_top1 = evaluate(args, student, False), evaluate(args, student, True)

    print(f"\n{'epoch':>5} {'val_top1 (log)':>15}")
    for epoch, top1 in epochs:
        print(f"{epoch:>5} {top1:>15.2f}")
    last = epochs[-1][1]
    print(f"\n{'last epoch val_top1':<34} {last:>7.2f} %")
    print(f"{'ftervit eval (float)':<34} {float_top1:>7.2f} %  gap {last - float_top1:+.2f} pp")
    print(f"{'ftervit eval --amp (bf16)':<34} {amp_top1:>7.2f} %  gap {last - amp_top1:+.2f} pp")
    if args.json:
        args.json.write_text(json.dumps({"epochs": epochs, "eval_float": float_top1,
                                         "eval_amp": amp_top1, "teacher": str(teacher),
                                         "distill_args": args.distill_args}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
