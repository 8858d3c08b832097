"""TernaryLayerNorm: LayerNorm whose affine weight and bias are ternary, each with its own scale."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast import ste_ternary
from .quant import fake_ternary


class TernaryLayerNorm(nn.LayerNorm):
    """Drop-in for `nn.LayerNorm`: gamma = s_g * T_g, beta = s_b * T_b.

    Normalisation itself is unchanged (the integer runtime does it with an
    integer square root).  The input is the residual stream and is not
    quantized to int8 here.  `fast` selects fused quantizers of equal value.
    """

    fast = False

    def __init__(self, normalized_shape, eps=1e-6, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine,
                         bias=bias, device=device, dtype=dtype)
        if not elementwise_affine or self.bias is None:
            raise ValueError("TernaryLayerNorm needs an affine weight and bias")
        self.quant_weight = True

    @classmethod
    def from_float(cls, norm: nn.LayerNorm) -> "TernaryLayerNorm":
        if not norm.elementwise_affine or norm.bias is None or len(norm.normalized_shape) != 1:
            raise ValueError(f"TernaryLayerNorm needs a 1-d affine LayerNorm with bias, got {norm}")
        new = cls(norm.normalized_shape, eps=norm.eps,
                  device=norm.weight.device, dtype=norm.weight.dtype)
        new.load_state_dict(norm.state_dict())
        new.train(norm.training)
        return new

    def quantized_affine(self):
        if not self.quant_weight:
            return self.weight, self.bias
        if self.fast:
            return ste_ternary(self.weight), ste_ternary(self.bias)
        return fake_ternary(self.weight), fake_ternary(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.quantized_affine()
        return F.layer_norm(x, self.normalized_shape, weight, bias, self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", affine=ternary:{self.quant_weight}"
