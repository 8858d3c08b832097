"""Fused quantizers for training speed, equal in value to the reference in `quant.py`.

The reference fake-quantizers build the straight-through estimator out of
ordinary ops, `q(x).detach() + (x - x.detach())`: every quantizer adds several
graph nodes and passes over its tensor in eager mode, and in the backward pass.
Here each quantizer is one autograd node whose forward computes the same
codes and scales with the same ops and whose backward hands the gradient
straight through (no work at all).  Values equal the reference's.

`int8_ternary_linear` goes further for `TernaryLinear`: the forward product is
the exact integer product of the int8 activation codes and the ternary codes
(`torch._int_mm`, int32 accumulation, as the integer runtime computes it),
scaled once; the backward products run in the gradient's precision on the
dequantized operands, recomputed from the saved int8 codes (half the saved
bytes of a bf16 activation).

Switch a model over with `set_fast_quantizers(model, True, int8_matmul=...)`.
"""
import torch
import torch.nn as nn
from torch.autograd import Function

from .quant import absmax_scale, int8_codes, ternary_codes, ternary_scale


class _TernarySTE(Function):
    @staticmethod
    def forward(ctx, w, dims):
        scale = ternary_scale(w, dims)
        return ternary_codes(w, scale) * scale

    @staticmethod
    def backward(ctx, grad):
        return grad, None


# Inductor reduces rows of at most 1024 values in one pass; wider rows (the MLP's hidden
# layer, 4 x 384 = 1536 in DeiT-S) get a looped kernel that reads the row, and recomputes
# whatever was fused into it (the GELU), twice.  Taking the row maximum in chunks of this
# width keeps each reduction one pass; a maximum is exact in any order, so values are equal.
# (On CUDA the MLP's hidden layer goes through `gelu_quant`'s one-pass kernel instead.)
ROW_CHUNK = 512


def row_absmax(x: torch.Tensor) -> torch.Tensor:
    """max |x| over the last dim (kept), in chunks of ROW_CHUNK when the row is wider than 1024."""
    n = x.shape[-1]
    if n > 1024 and n % ROW_CHUNK == 0:
        chunked = x.abs().unflatten(-1, (n // ROW_CHUNK, ROW_CHUNK)).amax(dim=-1)
        return chunked.amax(dim=-1, keepdim=True)
    return x.abs().amax(dim=-1, keepdim=True)


class _ActPerTokenSTE(Function):
    @staticmethod
    def forward(ctx, x):
        scale = absmax_scale(row_absmax(x))
        return int8_codes(x, scale) * scale

    @staticmethod
    def backward(ctx, grad):
        return grad


class _ActPerGroupSTE(Function):
    @staticmethod
    def forward(ctx, x, dims):
        scale = absmax_scale(x.abs().amax(dim=dims, keepdim=True))
        return int8_codes(x, scale) * scale

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _ActStaticSTE(Function):
    @staticmethod
    def forward(ctx, x, scale):
        return int8_codes(x, scale) * scale

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _FixedPointSTE(Function):
    @staticmethod
    def forward(ctx, x, frac_bits):
        one = float(1 << frac_bits)
        return torch.round(x * one) / one

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def ste_ternary(w: torch.Tensor, dims=None) -> torch.Tensor:
    return _TernarySTE.apply(w, dims)


def ste_act_per_token(x: torch.Tensor) -> torch.Tensor:
    return _ActPerTokenSTE.apply(x)


def ste_act_per_group(x: torch.Tensor, dims) -> torch.Tensor:
    return _ActPerGroupSTE.apply(x, tuple(dims))


def ste_act_static(x: torch.Tensor, scale: float) -> torch.Tensor:
    return _ActStaticSTE.apply(x, scale)


def ste_fixed_point(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    return _FixedPointSTE.apply(x, frac_bits)


def _output_dtype(x: torch.Tensor) -> torch.dtype:
    kind = x.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return x.dtype


class _Int8TernaryLinear(Function):
    """y = (codes_x @ codes_w^T) * (s_x * s_w) + b with an exact int8 x int8 -> int32 product."""

    @staticmethod
    def forward(ctx, x, w, b):
        out_dtype = _output_dtype(x)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1]).float()
        sx = absmax_scale(x2.abs().amax(dim=-1, keepdim=True))
        cx = int8_codes(x2, sx).to(torch.int8)
        w32 = w.float()
        sw = ternary_scale(w32)
        cw = ternary_codes(w32, sw).to(torch.int8)
        y = torch._int_mm(cx, cw.t()) * (sx * sw)
        if b is not None:
            y = y + b.float()
        ctx.save_for_backward(cx, sx, cw, sw)
        ctx.w_dtype = w.dtype
        ctx.has_bias = b is not None
        return y.to(out_dtype).reshape(*lead, w.shape[0])

    @staticmethod
    def backward(ctx, grad):
        cx, sx, cw, sw = ctx.saved_tensors
        lead = grad.shape[:-1]
        g2 = grad.reshape(-1, grad.shape[-1])
        dt = g2.dtype
        grad_x = g2 @ (cw.float() * sw).to(dt)
        grad_w = g2.t() @ (cx.float() * sx).to(dt)
        grad_b = g2.sum(0).to(ctx.w_dtype) if ctx.has_bias else None
        return grad_x.reshape(*lead, cw.shape[1]), grad_w.to(ctx.w_dtype), grad_b


def int8_matmul_fits(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Shapes `torch._int_mm` takes on every backend: more than 16 rows, K and N multiples of 8."""
    rows = x.numel() // max(x.shape[-1], 1)
    return rows > 16 and weight.shape[1] % 8 == 0 and weight.shape[0] % 8 == 0


def int8_ternary_linear(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    return _Int8TernaryLinear.apply(x, weight, bias)


def int8_matmul_available(device) -> bool:
    """Whether `torch._int_mm` runs on `device` (tried once on a small product)."""
    try:
        a = torch.ones(32, 64, dtype=torch.int8, device=device)
        b = torch.ones(32, 64, dtype=torch.int8, device=device)
        return int(torch._int_mm(a, b.t())[0, 0]) == 64
    except (RuntimeError, NotImplementedError):
        return False


def set_fast_quantizers(model: nn.Module, enabled: bool = True, int8_matmul: bool = False) -> nn.Module:
    """Use the fused quantizers (and optionally the int8 forward product) in every quantizing
    module of `model`.  Values are unchanged; returns the model."""
    from .gelu_quant import fuse_gelu_quant
    for module in model.modules():
        if hasattr(module, "quant_weight") or hasattr(module, "quant_act"):
            module.fast = bool(enabled)
            module.int8_matmul = bool(enabled and int8_matmul)
    return fuse_gelu_quant(model, enabled)
