"""Fake-quantizers with straight-through gradients.

Every function returns a float tensor holding exactly representable values
(integer code times scale) in the forward pass, and passes the gradient
straight through to its input in the backward pass (STE).  The code/scale
split matches what the integer runtime stores, see docs/arithmetic.md.
"""
import torch

EPS = 1e-5
ACT_QMAX = 127  # int8 activation codes are in [-127, 127] (a subset of [-128, 127])


def _ste(x: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
    """Forward `x_q` exactly, backward identity to `x`.  (The common `x + (x_q - x).detach()`
    can be one rounding step off `x_q`, enough to flip a later quantizer's code.)"""
    return x_q.detach() + (x - x.detach())


def ternary_scale(w: torch.Tensor, dims=None) -> torch.Tensor:
    """BitNet b1.58 scale: mean |W| over `dims` (all dims when None), never zero."""
    if dims is None:
        return w.abs().mean().clamp_min(EPS)
    return w.abs().mean(dim=dims, keepdim=True).clamp_min(EPS)


def ternary_codes(w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """t = clip(round(W / scale), -1, 1), returned as float in {-1, 0, 1}."""
    return torch.clamp(torch.round(w / scale), -1, 1)


def fake_ternary(w: torch.Tensor, dims=None) -> torch.Tensor:
    """Ternary weight times its scale, with STE. `dims` picks per-tensor or per-channel."""
    scale = ternary_scale(w.detach(), dims)
    return _ste(w, ternary_codes(w, scale) * scale)


def absmax_scale(amax: torch.Tensor, qmax: int = ACT_QMAX) -> torch.Tensor:
    """The int8 step that maps |x| = amax to code qmax, never zero."""
    return amax.clamp_min(EPS) / qmax


def int8_codes(x: torch.Tensor, scale, qmax: int = ACT_QMAX) -> torch.Tensor:
    """clip(round(x / scale), -qmax - 1, qmax), as float."""
    return torch.clamp(torch.round(x / scale), -qmax - 1, qmax)


def act_codes_per_token(x: torch.Tensor, qmax: int = ACT_QMAX):
    """Per-token (last dim) absmax int8 quantization: returns (codes, scale)."""
    scale = absmax_scale(x.detach().abs().amax(dim=-1, keepdim=True), qmax)
    return int8_codes(x, scale, qmax), scale


def fake_act_per_token(x: torch.Tensor, qmax: int = ACT_QMAX) -> torch.Tensor:
    codes, scale = act_codes_per_token(x, qmax)
    return _ste(x, codes * scale)


def fake_act_per_group(x: torch.Tensor, dims, qmax: int = ACT_QMAX) -> torch.Tensor:
    """Absmax int8 quantization sharing one scale over `dims` (e.g. all tokens of a head)."""
    scale = absmax_scale(x.detach().abs().amax(dim=dims, keepdim=True), qmax)
    return _ste(x, int8_codes(x, scale, qmax) * scale)


def fake_act_static(x: torch.Tensor, scale: float, qmax: int = ACT_QMAX) -> torch.Tensor:
    """int8 quantization with a fixed scale (the patch-embedding input)."""
    return _ste(x, int8_codes(x, scale, qmax) * scale)


def fake_fixed_point(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """Round to a multiple of 2**-frac_bits (probabilities in the integer softmax)."""
    one = float(1 << frac_bits)
    return _ste(x, torch.round(x * one) / one)
