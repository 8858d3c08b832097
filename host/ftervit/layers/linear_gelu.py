"""An MLP's first product and its GELU as one matrix-product call, for a frozen teacher.

In a ViT's inference pass the GELU after `fc1` is a pass of its own over the
widest activation of the block (4 x the embedding): about 117 us a block for
DeiT-S at batch 256 on an H100 (docs/results.md), a sixth of the teacher's
forward pass.  cuBLASLt can apply bias and GELU in the matrix product's
epilogue, while the result is still in registers (`torch._addmm_activation`).

The epilogue's GELU is the tanh form on CUDA (the exact erf form on the CPU):
the two differ by at most 4.7e-4 per value, about one bf16 rounding step at
|x| = 0.1 and far less than one at the activations' typical size; the
teacher only provides soft targets (docs/results.md measures how far its
predictions move).  Nothing trained goes through this module:
`fuse_linear_gelu` is for frozen models (`TeacherRunner`), never for a student.
"""
import torch
import torch.nn as nn
from timm.layers import Mlp

from .retype import retyped


class LinearGELU(nn.Linear):
    """`gelu(linear(x))` in one call; same parameters and state-dict keys as the `nn.Linear`."""

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "LinearGELU":
        if type(linear) is not nn.Linear or linear.bias is None:
            raise ValueError(f"LinearGELU needs a plain nn.Linear with a bias, got {linear}")
        return retyped(linear, cls)  # the same Parameter objects

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        y = torch._addmm_activation(self.bias, rows, self.weight.t(), use_gelu=True)
        return y.reshape(*x.shape[:-1], self.out_features)


def _fusable(mlp: nn.Module) -> bool:
    return (type(mlp) is Mlp and type(mlp.fc1) is nn.Linear and mlp.fc1.bias is not None
            and type(mlp.act) is nn.GELU)


def fuse_linear_gelu(model: nn.Module) -> int:
    """In every timm `Mlp` of a frozen `model` whose `fc1` is a biased `nn.Linear` followed
    by `nn.GELU`, compute both as one `LinearGELU` (the GELU becomes `nn.Identity`).
    In place; parameters and state-dict keys are kept.  Returns how many were fused."""
    if model.training or any(p.requires_grad for p in model.parameters()):
        raise ValueError("fuse_linear_gelu is for frozen models: call .eval() and "
                         ".requires_grad_(False) first (its GELU is not the training one)")
    count = 0
    for mlp in model.modules():
        if _fusable(mlp):
            mlp.fc1 = LinearGELU.from_linear(mlp.fc1)
            mlp.act = nn.Identity()
            count += 1
    return count
