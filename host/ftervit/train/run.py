"""`run_phase(args, phase)`: what `ftervit train / distill / recover` do, end to end."""
import sys

import torch

from .data import DataOptions, data_kind, open_data, peek_classes_and_shape, resolve
from .distributed import Dist
from .engine import Trainer
from .options import check_paths, resolve_recipe
from .setup import (build_distill_models, build_recover_models, build_train_models,
                    check_data_fits)

BUILDERS = {"train": build_train_models, "distill": build_distill_models,
            "recover": build_recover_models}


def data_options(args) -> DataOptions:
    return DataOptions(crop_pad=args.crop_pad, hflip=args.hflip, erase=args.erase,
                       auto_augment=args.auto_augment, workers=args.workers,
                       train_subset=args.train_subset, val_subset=args.val_subset)


def run_phase(args, phase: str):
    """Build, check, train; returns the engine's Outcome.  Errors that the user can fix are
    ValueError / FileNotFoundError with one-line messages."""
    check_paths(args)
    root = resolve(args.data)
    kind = data_kind(root)
    recipe = resolve_recipe(args, phase, kind)
    if phase == "train":
        args.drop_path = recipe["drop_path"]
    elif getattr(args, "drop_path", None) is None:
        args.drop_path = recipe["drop_path"]
    labels, shape = peek_classes_and_shape(root)

    dist = Dist.from_env(args.device)
    try:
        torch.manual_seed(args.seed)
        models = BUILDERS[phase](args, labels, shape)
        meta = models.meta
        check_data_fits(meta, labels, shape, str(args.data))
        meta["labels"] = list(labels)
        data = open_data(root, meta["mean"], meta["std"], dist.device, img_size=meta["img_size"],
                         in_chans=meta["in_chans"], options=data_options(args))
        trainer = Trainer(args, phase, models, data, recipe, dist)
        outcome = trainer.fit()
        if dist.is_main and outcome.finished and outcome.top1 is not None:
            print(f"ftervit {phase}: {outcome.path}: top-1 {outcome.top1:.2f} %, "
                  f"top-5 {outcome.top5:.2f} % after {outcome.epoch} epochs", file=sys.stderr)
        return outcome
    finally:
        dist.close()


def run_command(args, phase: str) -> int:
    """`run_phase` as a command: exit status 0 once the run is finished, or stopped on
    purpose by --max-steps; 1 otherwise."""
    outcome = run_phase(args, phase)
    return 0 if outcome.finished or args.max_steps else 1
