"""`ftervit distill`: phase 1, a ternary student distilled from a frozen float teacher."""
import argparse

from ..train.options import add_phase_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "distill", help="phase 1: distil a ternary student from a float teacher",
        description="Student = ternarize(copy of the teacher); loss = KL between the student's "
                    "and the frozen teacher's logits (temperature --temperature, optional "
                    "hard-label mix --alpha); AdamW, warm-up + cosine. Defaults: the paper's "
                    "ImageNet recipe (lr 1e-4, 250 epochs) on ImageFolder data, a scaled one "
                    "on small idx data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mode", choices=("full", "encoder"), default="full",
                   help="full: every weight ternary (FTerViT); encoder: only the encoder "
                        "blocks (baseline)")
    p.add_argument("--student-init", default=None, metavar="CKPT",
                   help="float checkpoint to ternarize instead of a copy of the teacher")
    add_phase_options(p, teacher_required=True)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.options import check_paths
    check_paths(args)  # before the import of torch below
    from ..train.run import run_command
    return run_command(args, "distill")
