"""What the deployed model stores: one entry per tensor of the `.ftv` file.

This is the single description of the integer model's tensors, shared by the
size report and the packer (docs/format.md).  Kinds:

* ``tern``  ternary matrix [rows, cols], packed 2 bits (tern2) or 1.6 bits (tern3) a weight;
* ``q16``   int16 fixed point with one exponent per tensor (biases, position embedding, class token);
* ``mult``  real multipliers, one int32 each (24-bit mantissa, 8-bit shift);
* ``i8``    int8 table (the patch embedding's pixel-to-code table).
"""
import math
from dataclasses import dataclass
from typing import List, Tuple

import torch.nn as nn
from timm.layers import LayerScale

from .convert import check_supported

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


def _has_layerscale(ls: nn.Module) -> bool:
    return isinstance(ls, LayerScale)


def _linear(prefix: str, group: str, linear: nn.Module, per_row: bool) -> List[PlannedTensor]:
    rows, cols = linear.weight.shape[0], linear.weight[0].numel()
    out = [PlannedTensor(f"{prefix}.weight", group, "tern", (rows, cols)),
           PlannedTensor(f"{prefix}.mult", "scales", "mult", (rows if per_row else 1,))]
    if linear.bias is not None:
        out.append(PlannedTensor(f"{prefix}.bias", "biases", "q16", (rows,)))
    return out


def _norm(prefix: str, norm: nn.LayerNorm) -> List[PlannedTensor]:
    dim = norm.normalized_shape[0]
    return [PlannedTensor(f"{prefix}.weight", "norms", "tern", (1, dim)),
            PlannedTensor(f"{prefix}.bias", "norms", "tern", (1, dim)),
            PlannedTensor(f"{prefix}.mult", "scales", "mult", (2,))]


def plan_tensors(model: nn.Module) -> List[PlannedTensor]:
    """The tensors of the deployed integer model, in file order.  LayerScale is folded into
    per-row multipliers of the projection before it (attn.proj, mlp.fc2)."""
    check_supported(model)
    pe = model.patch_embed.proj
    in_chans = pe.in_channels
    plan = _linear("patch_embed.proj", "patch_embed", pe, per_row=True)
    plan.append(PlannedTensor("patch_embed.input_lut", "tables", "i8", (in_chans, 256)))
    plan.append(PlannedTensor("cls_token", "pos_embed", "q16", (model.embed_dim,)))
    plan.append(PlannedTensor("pos_embed", "pos_embed", "q16", tuple(model.pos_embed.shape[1:])))
    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}"
        plan += _norm(f"{p}.norm1", blk.norm1)
        plan += _linear(f"{p}.attn.qkv", "encoder", blk.attn.qkv, per_row=False)
        plan += _linear(f"{p}.attn.proj", "encoder", blk.attn.proj,
                        per_row=_has_layerscale(blk.ls1))
        plan += _norm(f"{p}.norm2", blk.norm2)
        plan += _linear(f"{p}.mlp.fc1", "encoder", blk.mlp.fc1, per_row=False)
        plan += _linear(f"{p}.mlp.fc2", "encoder", blk.mlp.fc2, per_row=_has_layerscale(blk.ls2))
    plan += _norm("norm", model.norm)
    plan += _linear("head", "head", model.head, per_row=False)
    return plan


def padded(nbytes: int, align: int = ALIGN) -> int:
    return (nbytes + align - 1) // align * align


def size_table(model: nn.Module, float_bits: int = 32) -> dict:
    """Bytes per group for each ternary layout, tensors padded to 16 bytes as in the file.

    Weights a float model keeps float (encoder-only mode: patch embedding, norms,
    head) are counted at `float_bits` each.
    """
    plan = plan_tensors(model)
    float_params = _float_weight_names(model)
    table = {}
    for layout in TERNARY_LAYOUTS:
        groups = {}
        for t in plan:
            if t.kind == "tern" and t.name in float_params:
                nbytes = padded(math.prod(t.shape) * float_bits // 8)
            else:
                nbytes = padded(t.nbytes(layout))
            groups[t.group] = groups.get(t.group, 0) + nbytes
        groups["total"] = sum(groups.values())
        table[layout] = groups
    return table


def _float_weight_names(model: nn.Module) -> set:
    """Names of planned ternary tensors whose module is still float (encoder-only baseline)."""
    from .layers import TernaryBitConv2d, TernaryLayerNorm, TernaryLinear
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.LayerNorm)) and not isinstance(
                module, (TernaryLinear, TernaryBitConv2d, TernaryLayerNorm)):
            names.update({f"{name}.weight", f"{name}.bias"})
    return names


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def format_size_table(model: nn.Module, name: str = "model", float_bits: int = 32) -> str:
    table = size_table(model, float_bits=float_bits)
    groups = [g for g in table["tern3"] if g != "total"] + ["total"]
    lines = [f"{name}: {count_params(model):,} parameters; deployed bytes by group",
             f"{'group':<12} {'2-bit (tern2)':>15} {'1.6-bit (tern3)':>16}"]
    for g in groups:
        lines.append(f"{g:<12} {table['tern2'][g]:>15,} {table['tern3'][g]:>16,}")
    lines.append(f"{'MB (1e6 B)':<12} {table['tern2']['total'] / 1e6:>15.3f} "
                 f"{table['tern3']['total'] / 1e6:>16.3f}")
    return "\n".join(lines)
