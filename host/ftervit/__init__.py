"""FTerViT: Fully Ternary Vision Transformers for microcontrollers.

Host-side tools: quantization layers, conversion of timm DeiT / DeiT-III models,
training, packing to the `.ftv` model file, integer reference runtime and deploy.
"""
__version__ = "0.1.0"

from .layers import (  # noqa: F401
    TernaryLinear,
    TernaryBitConv2d,
    TernaryLayerNorm,
    TernaryAttention,
    set_quantizers,
)
from .convert import ternarize, UnsupportedModelError  # noqa: F401
