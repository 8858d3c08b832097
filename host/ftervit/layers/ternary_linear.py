"""TernaryLinear: BitNet b1.58 weights (one scale per tensor), int8 per-token activations."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .frozen import FROZEN_SLOT
from .fast import int8_matmul_fits, int8_ternary_linear, ste_act_per_token, ste_ternary
from .quant import fake_act_per_token, fake_ternary


class TernaryLinear(nn.Linear):
    """Drop-in for `nn.Linear` (same parameters, same state-dict keys).

    Forward: y = Q8(x) @ (s * T)^T + b, where T = clip(round(W / s), -1, 1),
    s = mean|W| and Q8 is per-token absmax int8 fake-quantization.  Gradients
    reach the float shadow weight `W` through a straight-through estimator.
    The bias stays high precision (int16 fixed point in the model file).
    `fast` / `int8_matmul` (see `layers.fast`) select fused quantizers of equal value.
    """

    fast = False
    int8_matmul = False
    prequantized_input = False  # set by gelu_quant.fuse_gelu_quant: the GELU before me quantizes

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.quant_weight = True
        self.quant_act = True

    @classmethod
    def from_float(cls, linear: nn.Linear) -> "TernaryLinear":
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                  device=linear.weight.device, dtype=linear.weight.dtype)
        new.load_state_dict(linear.state_dict())
        new.train(linear.training)
        return new

    def quantized_weight(self) -> torch.Tensor:
        return fake_ternary(self.weight) if self.quant_weight else self.weight

    def _frozen_weight(self) -> torch.Tensor:
        """The ternary weight for a forward without autograd.  Inside
        `frozen_ternary_weights(model)` it is computed once and reused until the scope
        ends; outside, on every call.  No cache outlives the scope: an optimizer may
        change the weight in place without any trace a cache could check (fused AdamW
        leaves `weight._version` unchanged)."""
        scope = self.__dict__.get(FROZEN_SLOT)
        if scope is None:
            return fake_ternary(self.weight.detach())
        if scope.weight is None:
            scope.weight = fake_ternary(self.weight.detach())
        return scope.weight

    def _inference_path(self) -> bool:
        return (self.quant_weight and not torch.is_grad_enabled()
                and not torch.compiler.is_compiling() and not (self.fast and self.int8_matmul))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._inference_path():
            if self.quant_act and not self.prequantized_input:
                x = fake_act_per_token(x)
            return F.linear(x, self._frozen_weight(), self.bias)
        if self.fast:
            return self._fast_forward(x)
        if self.quant_act:
            x = fake_act_per_token(x)
        return F.linear(x, self.quantized_weight(), self.bias)

    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.int8_matmul and self.quant_act and self.quant_weight \
                and int8_matmul_fits(x, self.weight):
            return int8_ternary_linear(x, self.weight, self.bias)
        if self.quant_act and not self.prequantized_input:
            x = ste_act_per_token(x)
        weight = ste_ternary(self.weight) if self.quant_weight else self.weight
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", w=ternary:{self.quant_weight}, a=int8:{self.quant_act}"
