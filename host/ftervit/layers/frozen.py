"""`frozen_ternary_weights(model)`: the scope in which a model's weights do not change.

Evaluation runs every batch through the same ternary matrices; quantizing them once
per scope instead of once per batch is the saving.  The scope is explicit because
nothing inside a tensor tells reliably that it changed: fused AdamW updates weights in
place without bumping `Tensor._version`, so a cache keyed on it goes stale after the
first optimizer step.  Entering the scope is a promise that the weights stay fixed
until it ends; on exit every ternary weight computed inside it is dropped.
"""
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
import torch.nn as nn

FROZEN_SLOT = "_frozen_scope"  # in the module's __dict__: not a buffer, never saved


class FrozenWeight:
    """One module's ternary weight for the current scope (computed on first use)."""
    __slots__ = ("weight",)

    def __init__(self):
        self.weight: Optional[torch.Tensor] = None


@contextmanager
def frozen_ternary_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, each ternary layer of `model` quantizes its weight at most once
    (for forwards without autograd).  The weights must not change inside the block.
    Nested scopes share the outer one's weights; the outer one drops them."""
    from .ternary_linear import TernaryLinear  # this module is imported by ternary_linear
    entered: List[nn.Module] = []
    for module in model.modules():
        if isinstance(module, TernaryLinear) and FROZEN_SLOT not in module.__dict__:
            module.__dict__[FROZEN_SLOT] = FrozenWeight()
            entered.append(module)
    try:
        yield model
    finally:
        for module in entered:
            module.__dict__.pop(FROZEN_SLOT, None)
