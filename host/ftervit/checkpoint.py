"""Training checkpoints: one file that rebuilds its model without any other input.

A checkpoint is a `torch.save` dictionary::

    {"format": "ftervit-checkpoint", "version": 1,
     "meta":  {...},            # how to rebuild the model, see `make_meta`
     "model": state_dict,       # float tensors on the CPU
     "optimizer": ..., "scheduler": ..., "scaler": ...,   # optional, for --resume
     "train_state": {...}}      # optional: epoch, step, RNG states, ...

`meta` holds `model_name` (the timm name of the *float* architecture),
`model_kwargs` (passed to `timm.create_model`), `mode` ('float', 'full' or
'encoder'), `exact` (the recovery phase's exact attention), `mean`, `std`,
`num_classes`, `img_size`, `in_chans` and `labels` (class names).  Files are
written atomically (temporary file in the same folder, then rename), so a run
killed while saving leaves the previous checkpoint intact.  Files are read with
`weights_only=True`: loading one never runs code.
"""
import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

FORMAT = "ftervit-checkpoint"
VERSION = 1
MODES = ("float", "full", "encoder")
REQUIRED_META = ("model_name", "model_kwargs", "mode", "mean", "std", "num_classes",
                 "img_size", "in_chans", "labels", "exact")


def make_meta(model_name: str, *, num_classes: int, img_size: int, in_chans: int,
              mean: Sequence[float], std: Sequence[float], mode: str = "float",
              labels: Optional[Sequence[str]] = None, model_kwargs: Optional[dict] = None,
              exact: bool = False, **extra) -> dict:
    """The `meta` dictionary of a checkpoint.  `model_kwargs` default: the class count and
    input channels; add `img_size` there for architectures that take it (ViTs)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if model_kwargs is None:
        model_kwargs = {"num_classes": int(num_classes), "in_chans": int(in_chans)}
    labels = [str(c) for c in labels] if labels is not None else \
        [str(i) for i in range(num_classes)]
    meta = {"model_name": str(model_name), "model_kwargs": dict(model_kwargs), "mode": mode,
            "exact": bool(exact), "mean": [float(m) for m in mean],
            "std": [float(s) for s in std], "num_classes": int(num_classes),
            "img_size": int(img_size), "in_chans": int(in_chans), "labels": labels}
    meta.update(extra)
    check_meta(meta)
    return meta


def check_meta(meta, where: str = "checkpoint") -> dict:
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: 'meta' is not a dictionary")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"{where}: meta lacks {', '.join(missing)}")
    if meta["mode"] not in MODES:
        raise ValueError(f"{where}: unknown mode {meta['mode']!r} (expected one of {MODES})")
    if len(meta["labels"]) != meta["num_classes"]:
        raise ValueError(f"{where}: {len(meta['labels'])} labels for "
                         f"{meta['num_classes']} classes")
    if len(meta["mean"]) != meta["in_chans"] or len(meta["std"]) != meta["in_chans"]:
        raise ValueError(f"{where}: mean/std need {meta['in_chans']} values each")
    return meta


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def build_model(meta: dict) -> nn.Module:
    """A freshly initialised model of the architecture `meta` describes (no weights loaded)."""
    import timm

    from . import models  # noqa: F401  (registers the ftervit / micro architectures)
    from .convert import ternarize
    from .layers import set_quantizers

    check_meta(meta)
    try:
        model = timm.create_model(meta["model_name"], pretrained=False, **meta["model_kwargs"])
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ValueError(f"cannot build {meta['model_name']!r}: {exc}") from None
    if meta["mode"] != "float":
        ternarize(model, mode=meta["mode"], mean=meta["mean"], std=meta["std"])
        set_quantizers(model, exact=meta["exact"])
    return model


def rng_state() -> dict:
    """Every random generator a training run draws from (CPU, CUDA, Python, numpy)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                       int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def atomic_torch_save(obj, path) -> Path:
    """`torch.save` to a temporary file beside `path`, fsync, then rename over `path`
    (ftervit.files.write_atomic); a missing folder is created, as training runs expect."""
    from .files import write_atomic
    return write_atomic(path, lambda f: torch.save(obj, f), make_folder=True)


def _cpu_state_dict(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap_model(model).state_dict().items()}


def save_checkpoint(path, model: nn.Module, meta: dict, optimizer=None, scheduler=None,
                    scaler=None, train_state: Optional[dict] = None) -> Path:
    """Write a checkpoint atomically.  Optimizer / scheduler / scaler / train_state are
    optional: leave them out for a file that is only for inference (a few MB)."""
    check_meta(meta)
    payload = {"format": FORMAT, "version": VERSION, "meta": dict(meta),
               "model": _cpu_state_dict(model)}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        payload["scaler"] = scaler.state_dict()
    if train_state is not None:
        payload["train_state"] = dict(train_state)
    return atomic_torch_save(payload, path)


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint dictionary, checked.  Missing file -> FileNotFoundError; anything that is
    not an intact checkpoint of this version -> ValueError saying what is wrong."""
    from .files import expect_checkpoint
    path = expect_checkpoint(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip, pickle and unpickler errors all mean the same here
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ValueError(f"{path}: not a readable checkpoint (corrupt or truncated file; "
                         f"{type(exc).__name__}{': ' + detail if detail else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an ftervit checkpoint (no '{FORMAT}' marker); "
                         "plain timm/torch weights can be used as a teacher with "
                         "--teacher-model NAME --teacher-weights PATH")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {payload.get('version')!r}, "
                         f"this ftervit reads version {VERSION}")
    if not isinstance(payload.get("model"), dict):
        raise ValueError(f"{path}: checkpoint holds no model state")
    check_meta(payload.get("meta"), where=str(path))
    return payload


def load_model(path, map_location="cpu"):
    """Rebuild the model a checkpoint describes and load its weights: `(model, meta)`.
    The model is in eval mode."""
    payload = read_checkpoint(path, map_location=map_location)
    meta = payload["meta"]
    model = build_model(meta)
    try:
        model.load_state_dict(payload["model"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"{path}: weights do not fit {meta['model_name']} "
                         f"(mode {meta['mode']}): {' '.join(first[:3])[:300]}") from None
    return model.to(map_location).eval(), meta


def export_weights_only(src, dst) -> Path:
    """Copy a checkpoint without optimizer/scheduler/training state (the file to ship)."""
    payload = read_checkpoint(src)
    slim = {k: payload[k] for k in ("format", "version", "meta", "model")}
    return atomic_torch_save(slim, dst)
