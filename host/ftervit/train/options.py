"""Command-line options shared by `ftervit train`, `distill` and `recover`, and their recipes.

Hyper-parameters left unset on the command line come from `RECIPES`, chosen by
the phase and the kind of data: ImageNet-style folders get the paper's values
(phase 1: lr 1e-4 for 250 epochs; phase 2: lr 1e-5 for 10 epochs; float
teachers: DeiT's recipe), small idx datasets (Fashion-MNIST, MNIST) values
scaled to them (fewer images per epoch, so more epochs and a larger lr).
"""
import argparse

RECIPES = {
    # phase -> data kind -> defaults (batch_size is the global batch over all GPUs)
    "train": {
        "folder": dict(epochs=300, lr=1e-3, warmup_epochs=5, weight_decay=0.05, batch_size=1024,
                       label_smoothing=0.1, drop_path=0.1, alpha=0.5, temperature=1.0,
                       distill_kind="hard", min_lr_ratio=0.01),
        "idx": dict(epochs=200, lr=1e-3, warmup_epochs=10, weight_decay=0.05, batch_size=512,
                    label_smoothing=0.1, drop_path=0.1, alpha=0.5, temperature=1.0,
                    distill_kind="hard", min_lr_ratio=0.01),
    },
    "distill": {
        "folder": dict(epochs=250, lr=1e-4, warmup_epochs=5, weight_decay=0.05, batch_size=1024,
                       label_smoothing=0.0, drop_path=0.0, alpha=0.0, temperature=1.0,
                       distill_kind="soft", min_lr_ratio=0.01),
        "idx": dict(epochs=100, lr=5e-4, warmup_epochs=5, weight_decay=0.05, batch_size=512,
                    label_smoothing=0.0, drop_path=0.0, alpha=0.0, temperature=1.0,
                    distill_kind="soft", min_lr_ratio=0.01),
    },
    "recover": {
        "folder": dict(epochs=10, lr=1e-5, warmup_epochs=0, weight_decay=0.05, batch_size=1024,
                       label_smoothing=0.1, drop_path=0.0, alpha=0.0, temperature=1.0,
                       distill_kind="soft", min_lr_ratio=0.01),
        "idx": dict(epochs=10, lr=1e-5, warmup_epochs=0, weight_decay=0.05, batch_size=512,
                    label_smoothing=0.1, drop_path=0.0, alpha=0.0, temperature=1.0,
                    distill_kind="soft", min_lr_ratio=0.01),
    },
}
RECIPE_KEYS = tuple(RECIPES["train"]["idx"])
CHECKPOINT_OPTIONS = ("init", "teacher", "student_init")


def check_paths(args: argparse.Namespace) -> None:
    """The checkpoints a run reads and the one it writes, checked before any work (and
    before torch is imported, so a mistyped path costs nothing)."""
    from ..files import check_input_file, check_output_path, expect_checkpoint
    for option in CHECKPOINT_OPTIONS:
        path = getattr(args, option, None)
        if path is not None:
            expect_checkpoint(path)
    if getattr(args, "teacher_weights", None):
        check_input_file(args.teacher_weights, "teacher weights (.pth / .safetensors)")
    check_output_path(args.output, make_folder=True)


def resolve_recipe(args: argparse.Namespace, phase: str, data_kind: str) -> dict:
    """Hyper-parameters: the command line where given, else the recipe's defaults."""
    base = dict(RECIPES[phase][data_kind])
    for key in RECIPE_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            base[key] = value
    return base


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True,
                   help="'fashion-mnist', a folder of idx files (Fashion-MNIST / MNIST), or an "
                        "ImageFolder root with train/ and val/ class folders")
    g.add_argument("--batch-size", type=int, default=None,
                   help="global batch over all processes (default: by recipe, 512 small data / "
                        "1024 ImageFolder)")
    g.add_argument("--eval-batch-size", type=int, default=1024)
    g.add_argument("--workers", type=int, default=8, help="DataLoader workers (ImageFolder only)")
    g.add_argument("--train-subset", type=int, default=0, help="use the first N training images")
    g.add_argument("--val-subset", type=int, default=0, help="use the first N validation images")
    g.add_argument("--crop-pad", type=int, default=2,
                   help="small data: random crop after zero padding by this many pixels (0: off)")
    g.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    g.add_argument("--erase", type=float, default=0.25, help="random erasing probability")
    g.add_argument("--auto-augment", default="rand-m9-mstd0.5-inc1",
                   help="ImageFolder only: timm auto-augment policy ('' for none)")


def add_optim_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation (unset values come from the phase's recipe)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW)")
    g.add_argument("--min-lr-ratio", type=float, default=None,
                   help="final lr of the cosine schedule as a fraction of the peak")
    g.add_argument("--warmup-epochs", type=float, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--label-smoothing", type=float, default=None)
    g.add_argument("--drop-path", type=float, default=None, help="stochastic depth rate")
    g.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm (0: off)")


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def add_teacher_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("teacher" + ("" if required else " (optional)"))
    g.add_argument("--teacher", default=None, metavar="CKPT", help="float ftervit checkpoint")
    g.add_argument("--teacher-model", default=None, metavar="NAME",
                   help="timm architecture of a teacher given as plain weights")
    g.add_argument("--teacher-weights", default=None, metavar="PATH",
                   help="local weights for --teacher-model (.pth / .safetensors); nothing is "
                        "downloaded")
    g.add_argument("--temperature", type=float, default=None, help="KL temperature")
    g.add_argument("--alpha", type=float, default=None,
                   help="weight of the hard-label cross-entropy mixed into the KL loss")
    g.add_argument("--distill-kind", choices=("soft", "hard"), default=None,
                   help="soft: KL to the teacher's distribution; hard: CE to its top-1")
    g.add_argument("--teacher-precision", choices=("fp32", "amp", "bf16", "fp8"), default=None,
                   help="teacher arithmetic (default bf16 on CUDA, fp32 on CPU)")
    g.add_argument("--teacher-overlap", action=argparse.BooleanOptionalAction, default=True,
                   help="run the teacher one batch ahead on a second CUDA stream")
    g.add_argument("--teacher-gelu-epilogue", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="bf16 teacher: each MLP's GELU (tanh form) inside its first matrix "
                        "product's epilogue instead of a pass of its own")


def add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--output", "-o", required=True,
                   help="checkpoint path (rewritten atomically every epoch); the JSONL log goes "
                        "beside it with the suffix .jsonl")
    g.add_argument("--resume", action="store_true",
                   help="continue from --output (model, optimizer, schedule, RNG, epoch, step)")
    g.add_argument("--overwrite", action="store_true", help="start afresh over an existing --output")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on for CUDA)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                   help="torch.compile the student (and the teacher)")
    g.add_argument("--compile-mode", default=None, choices=COMPILE_MODES,
                   help="torch.compile mode, implies --compile (reduce-overhead: CUDA graphs, "
                        "the fastest on a GPU; default: 'default')")
    g.add_argument("--fast-quant", action=argparse.BooleanOptionalAction, default=True,
                   help="fused quantizers, a patch embedding computed as one matrix "
                        "product, and the last block computed for the class token only "
                        "(equal values up to float rounding, faster)")
    g.add_argument("--int8-matmul", action=argparse.BooleanOptionalAction, default=False,
                   help="student forward products as exact int8 x ternary products")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                   help="also checkpoint every N steps inside an epoch (0: at epoch ends only)")
    g.add_argument("--max-steps", type=int, default=0,
                   help="stop (with a checkpoint) after this many steps in total; --resume "
                        "continues")
    g.add_argument("--eval-every", type=int, default=1, metavar="EPOCHS",
                   help="evaluate every N epochs (and always after the last)")
    g.add_argument("--eval-amp", action=argparse.BooleanOptionalAction, default=False,
                   help="evaluate under bf16 autocast (faster; default off: in float, as "
                        "`ftervit eval` does, so the logged top-1 is the checkpoint's)")
    g.add_argument("--log-every", type=int, default=20, metavar="STEPS",
                   help="progress-bar loss update interval")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def add_phase_options(p: argparse.ArgumentParser, teacher_required: bool) -> None:
    """Everything `train`, `distill` and `recover` share: data, optimizer, teacher, run."""
    add_data_options(p)
    add_optim_options(p)
    add_teacher_options(p, required=teacher_required)
    add_run_options(p)
