"""The last block computed for the class token only: all that token pooling reads.

A ViT classifier with `global_pool='token'` reads only the prefix rows of the
last block's output (the class token; distilled DeiTs add a distillation
token).  The patch tokens still serve the last block's attention as keys and
values, but their queries, the attention output's projection, the second
norm, the MLP and the residual adds are computed only to be dropped: about
four fifths of a block, in the forward pass and again in the backward pass.

`ClassTokenBlock` runs the last block for the first `keep` tokens only.  Each
step it leaves out works token by token, and K and V, which mix tokens, are
still made from all of them (their quantizers included), so the rows it keeps
equal the full block's and the logits are unchanged up to float summation
order.  `class_token_output(model)` swaps it in (same parameters, same
state-dict keys); `class_token_output(model, False)` swaps the plain block back.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Attention
from timm.models.vision_transformer import Block, VisionTransformer

from .retype import retyped
from .ternary_attention import TernaryAttention


def attend_prefix(attn: Attention, x: torch.Tensor, keep: int) -> torch.Tensor:
    """`attn(x)` for the first `keep` tokens: queries from those, keys and values from all."""
    if isinstance(attn, TernaryAttention):
        return attn(x, queries=keep)
    batch, tokens, _ = x.shape
    qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q[:, :, :keep]), attn.k_norm(k)
    if attn.fused_attn:
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0)
    else:
        out = attn.attn_drop(((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)) @ v
    out = attn.norm(out.transpose(1, 2).reshape(batch, keep, attn.attn_dim))
    return attn.proj_drop(attn.proj(out))


class ClassTokenBlock(Block):
    """A timm `Block` whose output holds only its input's first `keep` tokens."""

    keep = 1

    @classmethod
    def from_block(cls, block: Block, keep: int) -> "ClassTokenBlock":
        new = retyped(block, cls)
        new.keep = int(keep)
        return new

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError("ClassTokenBlock supports unmasked self-attention only")
        keep = self.keep
        x = x[:, :keep] + self.drop_path1(self.ls1(attend_prefix(self.attn, self.norm1(x), keep)))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    def extra_repr(self) -> str:
        return f"output=first {self.keep} token(s)"


def tokens_read(model: nn.Module) -> Optional[int]:
    """How many leading tokens of the last block's output `model`'s head reads, or None when
    it reads them all (average or attention pooling) or `model` is no timm ViT."""
    if not isinstance(model, VisionTransformer) or not isinstance(model.blocks, nn.Sequential):
        return None
    if model.global_pool != "token" or model.attn_pool is not None:
        return None
    return model.num_prefix_tokens or None


def _swappable(block: nn.Module) -> bool:
    attn = getattr(block, "attn", None)
    return (type(block) in (Block, ClassTokenBlock) and isinstance(attn, Attention)
            and (type(attn) is Attention or isinstance(attn, TernaryAttention))
            and getattr(attn, "gate", None) is None)


def class_token_output(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Compute `model`'s last block for the tokens its head reads only (or undo it), in place;
    models whose head reads every token are left as they are.  Returns the model."""
    keep = tokens_read(model)
    if keep is None or not len(model.blocks) or not _swappable(model.blocks[-1]):
        return model
    last = model.blocks[-1]
    if enabled and type(last) is Block:
        model.blocks[-1] = ClassTokenBlock.from_block(last, keep)
    elif not enabled and type(last) is ClassTokenBlock:
        plain = retyped(last, Block)
        del plain.keep
        model.blocks[-1] = plain
    return model
