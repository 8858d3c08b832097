"""Quantization layers: drop-in ternary twins of the float layers of a ViT."""
from .quant import fake_ternary, fake_act_per_token, ternary_codes, ternary_scale  # noqa: F401
from .ternary_linear import TernaryLinear
from .ternary_conv import TernaryBitConv2d, image_input_scale
from .ternary_norm import TernaryLayerNorm
from .ternary_attention import TernaryAttention, PROB_FRAC_BITS
from .switches import set_quantizers, quantizer_state
from .fast import set_fast_quantizers, int8_matmul_available
from .patch_linear import PatchLinearConv2d, use_patch_linear
from .frozen import frozen_ternary_weights

__all__ = [
    "TernaryLinear", "TernaryBitConv2d", "TernaryLayerNorm", "TernaryAttention",
    "image_input_scale", "set_quantizers", "quantizer_state", "PROB_FRAC_BITS",
    "set_fast_quantizers", "int8_matmul_available", "PatchLinearConv2d", "use_patch_linear",
    "frozen_ternary_weights",
]
