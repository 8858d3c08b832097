"""FTerViT: Fully Ternary Vision Transformers for microcontrollers.

Host-side tools: quantization layers, conversion of timm DeiT / DeiT-III models,
training, packing to the `.ftv` model file, integer reference runtime and deploy.
The torch-based names below are imported on first use, so tools that only read
model files start without importing torch.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {
    "TernaryLinear": "layers", "TernaryBitConv2d": "layers", "TernaryLayerNorm": "layers",
    "TernaryAttention": "layers", "set_quantizers": "layers",
    "ternarize": "convert", "UnsupportedModelError": "convert",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ftervit' has no attribute {name!r}")
