"""Building the models of a training run and checking that they fit together and the data.

* `train`: a float model from a timm name (optionally distilled from a teacher, e.g. a CNN);
* `distill`: the student is `ternarize(copy of the teacher)` (or of `--student-init`);
* `recover`: the student is a phase-1 checkpoint with the exact quantizers switched on.
"""
import copy
from dataclasses import dataclass
from typing import Optional

import torch.nn as nn

from ..checkpoint import check_meta, load_model, make_meta
from ..convert import check_patch_grid, ternarize
from ..layers import set_quantizers
from .teacher import load_teacher


@dataclass
class Models:
    student: nn.Module
    meta: dict                      # the student's checkpoint meta
    teacher: Optional[nn.Module] = None
    teacher_meta: Optional[dict] = None


def _timm():
    import timm

    from .. import models  # noqa: F401  (registers the micro architectures)
    return timm


def create_float_model(name: str, num_classes: int, img_size=None, in_chans=None,
                       drop_path: float = 0.0):
    """(model, model_kwargs): a timm model with random weights.  `img_size` / `in_chans` are
    passed only when given (architectures that take no `img_size`, e.g. CNNs, get none)."""
    timm = _timm()
    kwargs = {"num_classes": int(num_classes)}
    if in_chans is not None:
        kwargs["in_chans"] = int(in_chans)
    if img_size is not None:
        kwargs["img_size"] = int(img_size)
    if drop_path:
        kwargs["drop_path_rate"] = float(drop_path)
    for optional in (None, "img_size", "drop_path_rate"):
        kwargs.pop(optional, None)
        try:
            return timm.create_model(name, pretrained=False, **kwargs), dict(kwargs)
        except TypeError:
            continue
        except RuntimeError as exc:  # timm: unknown model
            raise ValueError(f"--model: {exc}") from None
    raise ValueError(f"cannot build {name} with {kwargs}")


def native_input(model: nn.Module):
    """(in_chans, img_size or None) the model is built for."""
    pe = getattr(model, "patch_embed", None)
    if pe is not None and hasattr(pe, "proj"):
        size = pe.img_size[0] if getattr(pe, "img_size", None) else None
        return pe.proj.in_channels, size
    cfg = getattr(model, "pretrained_cfg", None) or {}
    size = cfg.get("input_size")
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    chans = first_conv.in_channels if first_conv is not None else (size[0] if size else 3)
    return chans, None


def model_mean_std(model: nn.Module, in_chans: int):
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))
    if len(mean) != in_chans:
        mean, std = mean[:1] * in_chans, std[:1] * in_chans
    return mean, std


def build_train_models(args, labels, data_shape) -> Models:
    """Float model for `ftervit train`; data_shape is (C, H, W) for idx data, else None."""
    in_chans = args.in_chans
    img_size = args.img_size
    model, kwargs = create_float_model(args.model, len(labels), img_size=img_size,
                                       in_chans=in_chans, drop_path=args.drop_path)
    check_patch_grid(model)  # fail now, not after training, at ternarize or pack time
    chans, size = native_input(model)
    if size is None:  # CNNs: the data (or --img-size) decides
        size = img_size or (data_shape[-1] if data_shape else 224)
    mean, std = model_mean_std(model, chans)
    meta = make_meta(args.model, num_classes=len(labels), img_size=size, in_chans=chans,
                     mean=mean, std=std, labels=labels, model_kwargs=kwargs, phase="train")
    if args.init:
        init_model, init_meta = load_model(args.init)
        _same_architecture(meta, init_meta, args.init)
        model.load_state_dict(init_model.state_dict())
    teacher, tmeta = _optional_teacher(args, labels)
    models = Models(model, meta, teacher, tmeta)
    check_teacher_fits(models)
    return models


def build_distill_models(args, labels, data_shape=None) -> Models:
    teacher, tmeta = load_teacher(args.teacher, args.teacher_model, args.teacher_weights,
                                  num_classes=len(labels), labels=labels)
    if args.student_init:
        base, base_meta = load_model(args.student_init)
        if base_meta["mode"] != "float":
            raise ValueError(f"{args.student_init}: --student-init must be a float model")
    else:
        base, base_meta = copy.deepcopy(teacher), tmeta
    student = ternarize(base, mode=args.mode, mean=base_meta["mean"], std=base_meta["std"])
    meta = dict(base_meta, mode=args.mode, exact=False, phase="distill")
    _set_drop_path(student, args.drop_path or 0.0)
    meta["model_kwargs"] = _with_drop_path(meta["model_kwargs"], args.drop_path or 0.0)
    check_meta(meta)
    models = Models(student, meta, teacher, tmeta)
    check_teacher_fits(models)
    return models


def build_recover_models(args, labels, data_shape=None) -> Models:
    student, meta = load_model(args.init)
    if meta["mode"] == "float":
        raise ValueError(f"{args.init}: recover fine-tunes a ternary student (from ftervit "
                         "distill); this checkpoint is a float model")
    set_quantizers(student, exact=True)
    _set_drop_path(student, args.drop_path or 0.0)
    meta = dict(meta, exact=True, phase="recover",
                model_kwargs=_with_drop_path(meta["model_kwargs"], args.drop_path or 0.0))
    teacher, tmeta = _optional_teacher(args, labels)
    models = Models(student.train(), meta, teacher, tmeta)
    check_teacher_fits(models)
    return models


def _optional_teacher(args, labels):
    if args.teacher is None and args.teacher_model is None:
        return None, None
    return load_teacher(args.teacher, args.teacher_model, args.teacher_weights,
                        num_classes=len(labels), labels=labels)


def _set_drop_path(model: nn.Module, rate: float) -> None:
    """Linearly increasing stochastic depth over the blocks, as timm builds it."""
    from timm.layers import DropPath
    blocks = getattr(model, "blocks", [])
    for i, blk in enumerate(blocks):
        p = rate * i / max(len(blocks) - 1, 1)
        for name in ("drop_path1", "drop_path2"):
            if hasattr(blk, name):
                setattr(blk, name, DropPath(p) if p > 0 else nn.Identity())


def _with_drop_path(kwargs: dict, rate: float) -> dict:
    """model_kwargs recording the stochastic depth the student really trains with."""
    kwargs = {k: v for k, v in kwargs.items() if k != "drop_path_rate"}
    if rate:
        kwargs["drop_path_rate"] = float(rate)
    return kwargs


def _same_architecture(meta: dict, other: dict, where) -> None:
    for key in ("model_name", "num_classes", "img_size", "in_chans"):
        if meta[key] != other[key]:
            raise ValueError(f"{where}: {key} is {other[key]!r}, this run needs {meta[key]!r}")


def check_teacher_fits(models: Models) -> None:
    """Teacher and student must see the same images and predict the same classes."""
    t, s = models.teacher_meta, models.meta
    if t is None:
        return
    if t["num_classes"] != s["num_classes"]:
        raise ValueError(f"teacher predicts {t['num_classes']} classes, the student "
                         f"{s['num_classes']}")
    if t["img_size"] != s["img_size"] or t["in_chans"] != s["in_chans"]:
        raise ValueError(f"teacher takes {t['in_chans']}x{t['img_size']}x{t['img_size']} images, "
                         f"the student {s['in_chans']}x{s['img_size']}x{s['img_size']}")


def check_data_fits(meta: dict, labels, data_shape, data_name) -> None:
    """The model's classes and input shape against the data's (idx data has a fixed shape)."""
    if meta["num_classes"] != len(labels):
        raise ValueError(f"the model predicts {meta['num_classes']} classes, {data_name} has "
                         f"{len(labels)}")
    if data_shape is not None:
        want = (meta["in_chans"], meta["img_size"], meta["img_size"])
        if tuple(data_shape) != want:
            raise ValueError(f"the model takes {want[0]}x{want[1]}x{want[2]} images, {data_name} "
                             f"has {data_shape[0]}x{data_shape[1]}x{data_shape[2]}")
