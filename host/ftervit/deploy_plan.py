"""What the deployed model stores: one entry per tensor of the `.ftv` file.

This is the single description of the integer model's tensors, shared by the
packer, the readers and the size report (docs/format.md).  It needs the
geometry only, so the integer side imports it without torch; the size report
of a torch model lives in `size_report.py`.  Kinds:

* ``tern``  ternary matrix [rows, cols], packed 2 bits (tern2) or 1.6 bits (tern3) a weight;
* ``q16``   int16 fixed point with one exponent per tensor (biases, position embedding, class token);
* ``mult``  real multipliers, one int32 each (24-bit mantissa, 8-bit shift);
* ``i8``    int8 table (the patch embedding's pixel-to-code table).
"""
from __future__ import annotations  # `nn.Module` in annotations without importing torch

import math
from dataclasses import dataclass
from typing import List, Tuple

ALIGN = 16
TERNARY_LAYOUTS = {"tern2": 2.0, "tern3": 1.6}


@dataclass(frozen=True)
class PlannedTensor:
    name: str
    group: str  # patch_embed | encoder | norms | head | pos_embed | biases | scales | tables
    kind: str   # tern | q16 | mult | i8
    shape: Tuple[int, ...]

    def nbytes(self, layout: str = "tern3") -> int:
        if self.kind == "tern":
            rows, cols = self.shape
            per_byte = 4 if layout == "tern2" else 5
            return rows * math.ceil(cols / per_byte)
        count = math.prod(self.shape)
        return count * {"q16": 2, "mult": 4, "i8": 1}[self.kind]


@dataclass(frozen=True)
class Geometry:
    """Everything about a model's shape the integer runtime needs (the `.ftv` config)."""
    img_size: int
    patch_size: int
    in_chans: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    num_classes: int
    cls_pos: bool      # position embedding has a row for the class token (DeiT; not DeiT-III)
    layerscale: bool   # blocks have LayerScale (DeiT-III), folded into per-row multipliers

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        return self.num_patches + 1

    @property
    def pos_rows(self) -> int:
        return self.num_tokens if self.cls_pos else self.num_patches


def _linear(prefix: str, group: str, rows: int, cols: int, per_row: bool) -> List[PlannedTensor]:
    return [PlannedTensor(f"{prefix}.weight", group, "tern", (rows, cols)),
            PlannedTensor(f"{prefix}.mult", "scales", "mult", (rows if per_row else 1,)),
            PlannedTensor(f"{prefix}.bias", "biases", "q16", (rows,))]


def _norm(prefix: str, dim: int) -> List[PlannedTensor]:
    return [PlannedTensor(f"{prefix}.weight", "norms", "tern", (1, dim)),
            PlannedTensor(f"{prefix}.bias", "norms", "tern", (1, dim)),
            PlannedTensor(f"{prefix}.mult", "scales", "mult", (2,))]


def plan_tensors(g: Geometry) -> List[PlannedTensor]:
    """The tensors of the deployed integer model, in file order, for a Geometry (a torch
    model's comes from `convert.geometry_from_model`).  LayerScale is folded into per-row
    multipliers of the projection before it (attn.proj, mlp.fc2)."""
    if not isinstance(g, Geometry):
        raise TypeError(f"plan_tensors takes a Geometry, got {type(g).__name__} (for a torch "
                        "model, pass convert.geometry_from_model(model))")
    d, ls = g.embed_dim, g.layerscale
    plan = _linear("patch_embed.proj", "patch_embed", d, g.in_chans * g.patch_size ** 2, True)
    plan.append(PlannedTensor("patch_embed.input_lut", "tables", "i8", (g.in_chans, 256)))
    plan.append(PlannedTensor("cls_token", "pos_embed", "q16", (d,)))
    plan.append(PlannedTensor("pos_embed", "pos_embed", "q16", (g.pos_rows, d)))
    for i in range(g.depth):
        p = f"blocks.{i}"
        plan += _norm(f"{p}.norm1", d)
        plan += _linear(f"{p}.attn.qkv", "encoder", 3 * d, d, per_row=False)
        plan += _linear(f"{p}.attn.proj", "encoder", d, d, per_row=ls)
        plan += _norm(f"{p}.norm2", d)
        plan += _linear(f"{p}.mlp.fc1", "encoder", g.mlp_dim, d, per_row=False)
        plan += _linear(f"{p}.mlp.fc2", "encoder", d, g.mlp_dim, per_row=ls)
    plan += _norm("norm", d)
    plan += _linear("head", "head", g.num_classes, d, per_row=False)
    return plan


def padded(nbytes: int, align: int = ALIGN) -> int:
    return (nbytes + align - 1) // align * align
