"""`ftervit recover`: phase 2, a short low-lr fine-tune with the integer runtime's exact quantizers."""
import argparse

from ..train.options import add_phase_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "recover", help="phase 2: fine-tune a ternary student with the exact quantizers",
        description="Fine-tune a phase-1 student at a low learning rate (paper: 1e-5 cosine, "
                    "10 epochs) with the quantizers in the exact form the integer runtime uses "
                    "(softmax probabilities in 15-bit fixed point). With a teacher the loss is "
                    "the same KL as phase 1, without one label cross-entropy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--init", required=True, metavar="CKPT",
                   help="the phase-1 (ftervit distill) checkpoint")
    add_phase_options(p, teacher_required=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.options import check_paths
    check_paths(args)  # before the import of torch below
    from ..train.run import run_command
    return run_command(args, "recover")
