"""TernaryBitConv2d: the patch embedding with ternary weights, one scale per output channel."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast import ste_act_static, ste_ternary
from .patch_linear import patch_linear
from .quant import ACT_QMAX, fake_act_static, fake_ternary


def image_input_scale(mean, std) -> float:
    """int8 step for normalised images: the largest |(p - mean) / std| over p in [0, 1]
    and all channels maps to code 127.  On the device a per-channel 256-entry table
    turns each uint8 pixel straight into this code (docs/arithmetic.md)."""
    worst = max(max(abs((0.0 - m) / s), abs((1.0 - m) / s)) for m, s in zip(mean, std))
    return worst / ACT_QMAX


class TernaryBitConv2d(nn.Conv2d):
    """Drop-in for the patch-embedding `nn.Conv2d` (stride == kernel, no padding).

    Weights: T = clip(round(W / s_o), -1, 1) with s_o = mean |W[o]| per output
    channel o.  Input: the normalised image quantized to int8 with the fixed
    step `input_scale` (see `image_input_scale`); `None` leaves it float.
    `fast` selects fused quantizers of equal value (`layers.fast`) and computes the
    convolution as one matrix product (`layers.patch_linear`).
    """

    fast = False

    def __init__(self, *args, input_scale=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.quant_weight = True
        self.quant_act = True
        self.input_scale = input_scale

    @classmethod
    def from_float(cls, conv: nn.Conv2d, input_scale=None) -> "TernaryBitConv2d":
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding not in ((0, 0), "valid") \
                or conv.stride != conv.kernel_size:
            raise ValueError(
                "TernaryBitConv2d converts patch-embedding convolutions only "
                f"(stride == kernel, no padding, groups 1); got {conv}")
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                  bias=conv.bias is not None, input_scale=input_scale,
                  device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_state_dict(conv.state_dict())
        new.train(conv.training)
        return new

    def quantized_weight(self) -> torch.Tensor:
        return fake_ternary(self.weight, dims=(1, 2, 3)) if self.quant_weight else self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast:
            if self.quant_act and self.input_scale is not None:
                x = ste_act_static(x, self.input_scale)
            weight = ste_ternary(self.weight, (1, 2, 3)) if self.quant_weight else self.weight
            return patch_linear(x, weight, self.bias)
        if self.quant_act and self.input_scale is not None:
            x = fake_act_static(x, self.input_scale)
        return F.conv2d(x, self.quantized_weight(), self.bias, self.stride)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", w=ternary/channel:{self.quant_weight}, "
                                       f"a=int8(step {self.input_scale}):{self.quant_act}")
