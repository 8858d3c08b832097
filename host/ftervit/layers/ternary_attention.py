"""TernaryAttention: timm multi-head self-attention with the int8 points of the integer runtime.

The projections (`qkv`, `proj`) are swapped for TernaryLinear by `ternarize`;
this module adds the quantization of the two attention products:

* Q: int8 per token and head (absmax over the head's channels);
* K, V: int8 with one scale per head over all tokens, so a query row's scores
  and the weighted sum of V need a single multiplier each;
* P (softmax probabilities): fixed point with 15 fractional bits, modelled
  only in `exact` mode (the recovery phase), where attention runs unfused.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Attention

from .fast import ste_act_per_group, ste_act_per_token, ste_fixed_point
from .quant import fake_act_per_group, fake_act_per_token, fake_fixed_point
from .retype import retyped

PROB_FRAC_BITS = 15


class TernaryAttention(Attention):
    """Same submodules and state-dict keys as `timm.layers.Attention`.
    `fast` selects fused quantizers of equal value (`layers.fast`)."""

    fast = False

    @staticmethod
    def unsupported_features(attn: Attention) -> list:
        """Names of the options of `attn` this class (and the integer runtime) lacks."""
        unsupported = []
        if not isinstance(attn.q_norm, nn.Identity) or not isinstance(attn.k_norm, nn.Identity):
            unsupported.append("qk_norm")
        if not isinstance(attn.norm, nn.Identity):
            unsupported.append("scale_norm")
        if getattr(attn, "gate", None) is not None:
            unsupported.append("gated attention")
        return unsupported

    @classmethod
    def from_float(cls, attn: Attention) -> "TernaryAttention":
        from ..convert import UnsupportedModelError  # (convert imports this module)
        if type(attn) is not Attention:
            raise TypeError(f"expected timm.layers.Attention, got {type(attn).__name__}")
        unsupported = cls.unsupported_features(attn)
        if unsupported:
            raise UnsupportedModelError("TernaryAttention does not support "
                                        + ", ".join(unsupported))
        new = retyped(attn, cls)
        new.quant_act = True
        new.exact = False
        return new

    def _quantize_qkv(self, q, k, v):
        if not self.quant_act:
            return q, k, v
        if self.fast:
            return (ste_act_per_token(q),
                    ste_act_per_group(k, dims=(-2, -1)),
                    ste_act_per_group(v, dims=(-2, -1)))
        return (fake_act_per_token(q),
                fake_act_per_group(k, dims=(-2, -1)),
                fake_act_per_group(v, dims=(-2, -1)))

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False,
                queries=None) -> torch.Tensor:
        """Self-attention over all tokens of `x`; with `queries`, output for the first
        `queries` tokens only (every token still gives keys and values)."""
        if attn_mask is not None or is_causal:
            raise ValueError("TernaryAttention supports unmasked self-attention only")
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if queries is not None:
            q = q[:, :, :queries]  # Q's quantizer is per token: slicing first changes no value
        q, k, v = self._quantize_qkv(q, k, v)
        if self.exact and self.quant_act:
            probs = ((q * self.scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)
            rounding = ste_fixed_point if self.fast else fake_fixed_point
            probs = rounding(probs, PROB_FRAC_BITS).to(v.dtype)
            x = self.attn_drop(probs) @ v
        elif self.fused_attn:
            x = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            x = self.attn_drop(attn) @ v
        x = x.transpose(1, 2).reshape(B, q.shape[2], self.attn_dim)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, qkv=int8:{self.quant_act}, exact_softmax={self.exact}"
