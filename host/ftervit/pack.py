"""Checkpoint -> `.ftv`: integerize, compute the golden vector, write, and read back."""
from pathlib import Path
from typing import Optional

import numpy as np

from .deploy_plan import plan_tensors
from .ftv import FtvModel, Golden, Q16, read_ftv, write_ftv, xorshift32_bytes
from .reference.fixed_point import FRAC_BITS
from .reference.loaded import integer_model, passes_golden  # noqa: F401 (their old home)
from .reference.model import IntegerModel, forward

DEFAULT_GOLDEN_SEED = 0x2545F491


def writer_tensors(imodel: IntegerModel) -> dict:
    """IntegerModel tensors in the writer's form (q16 tensors carry their frac bits)."""
    out = {}
    for t in plan_tensors(imodel.geometry):
        value = imodel.tensors[t.name]
        out[t.name] = Q16(value, imodel.frac_bits[t.name]) if t.kind == "q16" else value
    return out


def golden_for(imodel: IntegerModel, image: Optional[np.ndarray] = None,
               seed: int = DEFAULT_GOLDEN_SEED) -> Golden:
    """The golden vector: the reference runtime's logits for `image`, or for the xorshift32
    image of `seed` when no image is given."""
    g = imodel.geometry
    if image is None:
        generated = xorshift32_bytes(seed, g.img_size * g.img_size * g.in_chans)
        logits = forward(imodel, generated.reshape(g.img_size, g.img_size, g.in_chans))
        return Golden(logits=logits.astype(np.int32), seed=seed)
    return Golden(logits=forward(imodel, image).astype(np.int32), image=image)


def pack_model(model, path, layout: str = "tern3", labels=None,
               golden_image: Optional[np.ndarray] = None) -> FtvModel:
    """Write `model` (a full-ternary FTerViT) to `path`; returns the file as read back."""
    from .integerize import integerize  # torch: imported only by the commands that pack
    imodel = integerize(model, labels=labels)
    golden = golden_for(imodel, golden_image)
    write_ftv(Path(path), imodel.geometry, layout, imodel.attn_logit_mult, FRAC_BITS,
              writer_tensors(imodel), labels=imodel.labels, golden=golden)
    return read_ftv(path)


def file_size_table(ftv: FtvModel) -> dict:
    """Bytes per deploy-plan group as stored in the file (tensor data, without padding)."""
    groups = {}
    for record in ftv.tensors.values():
        groups[record.group] = groups.get(record.group, 0) + record.length
    groups["headers, labels, golden, padding"] = ftv.file_size - sum(groups.values())
    groups["file"] = ftv.file_size
    return groups
