"""Pack-time conversion of a trained FTerViT (PyTorch) into the integer model.

This is the only place where floats become integers: ternary codes with the
training layers' own functions, real scales as 24.8 multiplier words, biases,
class token and position embedding as int16 fixed point, and the patch
embedding's pixel table.  Everything after this is integer-only
(docs/arithmetic.md).
"""
import math

import numpy as np
import torch
import torch.nn as nn
from timm.layers import LayerScale

from .convert import geometry_from_model
from .deploy_plan import plan_tensors
from .layers import TernaryBitConv2d, TernaryLayerNorm, TernaryLinear
from .layers.quant import ACT_QMAX, ternary_codes, ternary_scale
from .reference.fixed_point import encode_mult
from .reference.model import IntegerModel


class NotPackableError(ValueError):
    """The checkpoint cannot be represented by the integer model file."""


def _q16(values: torch.Tensor, name: str):
    """Float tensor -> (int16 array, frac_bits) using the most fractional bits that fit."""
    v = values.detach().double().cpu().numpy().reshape(-1)
    peak = float(np.abs(v).max()) if v.size else 0.0
    if not np.all(np.isfinite(v)):
        raise NotPackableError(f"{name} holds NaN or infinite values")
    frac = 15 if peak == 0 else math.floor(math.log2(32767.0 / peak))
    frac = max(min(frac, 40), -16)
    q = np.clip(np.round(v * 2.0 ** frac), -32767, 32767).astype(np.int16)
    return q, frac


def _mults(values, name: str) -> np.ndarray:
    out = []
    for x in np.asarray(values, dtype=np.float64).reshape(-1):
        if not math.isfinite(x):
            raise NotPackableError(f"{name} holds a NaN or infinite scale")
        try:
            out.append(encode_mult(float(x)))
        except ValueError as exc:
            raise NotPackableError(f"{name}: {exc}") from None
    return np.array(out, dtype=np.int32)


def _require(module, cls, name):
    if not isinstance(module, cls):
        raise NotPackableError(f"{name} is {type(module).__name__}, expected {cls.__name__}: "
                               "only full-ternary FTerViT models (mode='full') can be packed")
    if not module.quant_weight or not getattr(module, "quant_act", True):
        raise NotPackableError(f"{name} has its quantizers switched off")


def _linear(out, frac, name, lin, layerscale=None):
    _require(lin, TernaryLinear, name)
    w = lin.weight.detach().float()
    scale = ternary_scale(w)
    out[f"{name}.weight"] = ternary_codes(w, scale).to(torch.int8).numpy()
    bias = lin.bias.detach().double()
    if layerscale is not None:  # folded: one multiplier per output row
        gamma = layerscale.gamma.detach().double()
        bias = bias * gamma
        out[f"{name}.mult"] = _mults((scale.double() / ACT_QMAX * gamma).numpy(),
                                     f"{name}.mult")
    else:
        out[f"{name}.mult"] = _mults([float(scale) / ACT_QMAX], f"{name}.mult")
    out[f"{name}.bias"], frac[f"{name}.bias"] = _q16(bias, f"{name}.bias")


def _norm(out, name, norm):
    _require(norm, TernaryLayerNorm, name)
    codes, scales = [], []
    for p in (norm.weight, norm.bias):
        v = p.detach().float()
        s = ternary_scale(v)
        codes.append(ternary_codes(v, s).to(torch.int8).numpy().reshape(1, -1))
        scales.append(float(s))
    out[f"{name}.weight"], out[f"{name}.bias"] = codes
    out[f"{name}.mult"] = _mults(scales, f"{name}.mult")


def input_table(mean, std, input_scale: float, in_chans: int) -> np.ndarray:
    """int8 code of every uint8 pixel value, per channel: round(((p/255 - mean) / std) / step)."""
    pixels = np.arange(256, dtype=np.float64) / 255.0
    rows = [np.clip(np.round((pixels - mean[c]) / std[c] / input_scale), -ACT_QMAX, ACT_QMAX)
            for c in range(in_chans)]
    return np.stack(rows).astype(np.int8)


def _patch_embed(out, frac, model, mean, std):
    conv = model.patch_embed.proj
    _require(conv, TernaryBitConv2d, "patch_embed.proj")
    if conv.input_scale is None:
        raise NotPackableError("patch_embed.proj has no int8 input step (input_scale)")
    w = conv.weight.detach().float()
    scale = ternary_scale(w, dims=(1, 2, 3))
    out["patch_embed.proj.weight"] = (ternary_codes(w, scale).to(torch.int8)
                                      .reshape(w.shape[0], -1).numpy())
    row = scale.double().reshape(-1) * conv.input_scale
    out["patch_embed.proj.mult"] = _mults(row.numpy(), "patch_embed.proj.mult")
    out["patch_embed.proj.bias"], frac["patch_embed.proj.bias"] = _q16(conv.bias,
                                                                      "patch_embed.proj.bias")
    out["patch_embed.input_lut"] = input_table(mean, std, conv.input_scale, conv.in_channels)


def attn_logit_mult(head_dim: int) -> int:
    """log2(e) / (127**2 * sqrt(head_dim)) as a multiplier word (docs/arithmetic.md)."""
    return encode_mult(math.log2(math.e) / (ACT_QMAX ** 2 * math.sqrt(head_dim)))


@torch.no_grad()
def integerize(model: nn.Module, labels=None) -> IntegerModel:
    """A full-ternary FTerViT -> IntegerModel (tensors named and shaped as `plan_tensors`)."""
    if getattr(model, "ftervit_mode", None) != "full":
        raise NotPackableError("only full-ternary FTerViT models can be packed; got mode="
                               f"{getattr(model, 'ftervit_mode', 'float')!r}")
    geometry = geometry_from_model(model)
    norm = getattr(model, "ftervit_norm", None)
    if norm is None:
        raise NotPackableError("the model carries no input normalisation (mean/std)")
    out, frac = {}, {}
    _patch_embed(out, frac, model, norm["mean"], norm["std"])
    out["cls_token"], frac["cls_token"] = _q16(model.cls_token, "cls_token")
    out["pos_embed"], frac["pos_embed"] = _q16(model.pos_embed, "pos_embed")
    out["pos_embed"] = out["pos_embed"].reshape(model.pos_embed.shape[1:])
    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}"
        ls1 = blk.ls1 if isinstance(blk.ls1, LayerScale) else None
        ls2 = blk.ls2 if isinstance(blk.ls2, LayerScale) else None
        _norm(out, f"{p}.norm1", blk.norm1)
        _linear(out, frac, f"{p}.attn.qkv", blk.attn.qkv)
        _linear(out, frac, f"{p}.attn.proj", blk.attn.proj, ls1)
        _norm(out, f"{p}.norm2", blk.norm2)
        _linear(out, frac, f"{p}.mlp.fc1", blk.mlp.fc1)
        _linear(out, frac, f"{p}.mlp.fc2", blk.mlp.fc2, ls2)
    _norm(out, "norm", model.norm)
    _linear(out, frac, "head", model.head)
    expected = [t.name for t in plan_tensors(geometry)]
    assert list(out) == expected, "integerize out of step with deploy_plan.plan_tensors"
    return IntegerModel(geometry, attn_logit_mult(geometry.head_dim), out, frac,
                        list(labels) if labels is not None else None)
