"""Deployed bytes of a torch FTerViT model, by group and ternary layout (against the paper).

The plan itself (`deploy_plan.py`) needs only the geometry; this report reads a
torch model, so it lives apart from the integer side.
"""
import math

import torch.nn as nn

from .convert import geometry_from_model
from .deploy_plan import TERNARY_LAYOUTS, padded, plan_tensors


def size_table(model: nn.Module, float_bits: int = 32) -> dict:
    """Bytes per group for each ternary layout, tensors padded to 16 bytes as in the file.

    Weights a float model keeps float (encoder-only mode: patch embedding, norms,
    head) are counted at `float_bits` each.
    """
    plan = plan_tensors(geometry_from_model(model))
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
