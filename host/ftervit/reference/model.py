"""The whole integer forward pass of docs/arithmetic.md, over an `IntegerModel`."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..deploy_plan import Geometry
from . import ops
from .fixed_point import FRAC_BITS, q16_to_x12, saturate32


@dataclass
class IntegerModel:
    """What a `.ftv` file holds, decoded: ternary matrices as int8 in {-1, 0, 1}, q16 tensors
    as int16 with `frac_bits[name]`, multipliers as int32 words, the input table as int8."""
    geometry: Geometry
    attn_logit_mult: int
    tensors: Dict[str, np.ndarray]
    frac_bits: Dict[str, int] = field(default_factory=dict)
    labels: Optional[List[str]] = None

    def x12(self, name: str) -> np.ndarray:
        """A q16 tensor converted to x12."""
        return q16_to_x12(self.tensors[name], self.frac_bits[name])


def _linear(m: IntegerModel, prefix: str, x):
    t = m.tensors
    return ops.linear(x, t[f"{prefix}.weight"], t[f"{prefix}.mult"], m.x12(f"{prefix}.bias"))


def _norm(m: IntegerModel, prefix: str, x):
    t = m.tensors
    return ops.layer_norm(x, t[f"{prefix}.weight"], t[f"{prefix}.bias"], t[f"{prefix}.mult"])


def embed(m: IntegerModel, image) -> np.ndarray:
    """uint8 image [H, W, C] -> residual stream x12 [tokens, D]."""
    g, t = m.geometry, m.tensors
    tokens = ops.patch_embed(image, t["patch_embed.input_lut"], t["patch_embed.proj.weight"],
                             t["patch_embed.proj.mult"], m.x12("patch_embed.proj.bias"),
                             g.patch_size)
    pos = m.x12("pos_embed")
    if not g.cls_pos:
        tokens = tokens + pos
    x = np.concatenate([m.x12("cls_token")[None, :], tokens], axis=0)
    if g.cls_pos:
        x = x + pos
    return saturate32(x)


def block(m: IntegerModel, i: int, x) -> np.ndarray:
    p = f"blocks.{i}"
    qkv = _linear(m, f"{p}.attn.qkv", _norm(m, f"{p}.norm1", x))
    attn = ops.attention(qkv, m.geometry.num_heads, m.attn_logit_mult)
    x = saturate32(x + _linear(m, f"{p}.attn.proj", attn))
    hidden = ops.gelu(_linear(m, f"{p}.mlp.fc1", _norm(m, f"{p}.norm2", x)))
    return saturate32(x + _linear(m, f"{p}.mlp.fc2", hidden))


def forward(m: IntegerModel, image) -> np.ndarray:
    """Logits as int32 x12 (real logit = value / 4096) for one uint8 HWC image."""
    check_image(m.geometry, image)
    x = embed(m, image)
    for i in range(m.geometry.depth):
        x = block(m, i, x)
    return _linear(m, "head", _norm(m, "norm", x[:1]))[0]


def check_image(g: Geometry, image) -> None:
    expected = (g.img_size, g.img_size, g.in_chans)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 numpy array of shape {expected} (HWC), "
                         f"got {type(image).__name__} {getattr(image, 'dtype', '')}")
    if image.shape != expected:
        raise ValueError(f"image shape {image.shape} does not match the model's "
                         f"{expected} (height, width, channels)")


def topk(logits, k: int = 5):
    """Indices of the k largest logits, ties to the lower index."""
    logits = np.asarray(logits, dtype=np.int64)
    order = sorted(range(len(logits)), key=lambda i: (-int(logits[i]), i))
    return order[:k]


def logits_to_float(logits) -> np.ndarray:
    """Host-side display only: real logits."""
    return np.asarray(logits, dtype=np.float64) / (1 << FRAC_BITS)
