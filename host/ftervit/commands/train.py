"""`ftervit train`: a full-precision model (the teacher of the later phases)."""
import argparse

from ..train.options import add_phase_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a full-precision model (the teacher)",
        description="Train a float timm model from scratch (or from --init). With --teacher, "
                    "it is distilled from that model as well (DeiT-style, e.g. from a CNN).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="deit_micro_patch4_28",
                   help="timm architecture (any; ftervit registers deit_micro_* and "
                        "resnet18_micro for small images)")
    p.add_argument("--init", default=None, metavar="CKPT", help="start from this checkpoint")
    p.add_argument("--img-size", type=int, default=None,
                   help="build the model for this image size (default: its own)")
    p.add_argument("--in-chans", type=int, default=None,
                   help="build the model for this many input channels (default: its own)")
    add_phase_options(p, teacher_required=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.options import check_paths
    check_paths(args)  # before the import of torch below
    from ..train.run import run_command
    return run_command(args, "train")
