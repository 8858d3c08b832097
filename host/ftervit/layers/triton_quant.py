"""What the Triton quantizer kernels (`gelu_quant`, `qkv_quant`) share.

The int8 fake-quantizer in float32 steps, written as Inductor compiles the
reference (`quant.absmax_scale`, `quant.int8_codes`): scale = max(amax, EPS) / 127
correctly rounded, codes = round-half-even(x / scale) clipped to [-128, 127].
Kernels computing with these give the values the compiled reference gives.
"""
import os

import torch

from .quant import ACT_QMAX, EPS

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the reference paths are used
    triton = None
    tl = None

# Triton's CPU interpreter (tests): no libdevice and no autotuning there
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def triton_available(x: torch.Tensor) -> bool:
    """Whether a Triton kernel can run on `x`: CUDA (or any device under the interpreter)
    and int32 offsets."""
    return triton is not None and (x.is_cuda or INTERPRET) and x.numel() < 2**31


if triton is not None:
    EPS_C = tl.constexpr(EPS)
    QMAX_C = tl.constexpr(float(ACT_QMAX))

    if INTERPRET:
        # Adding and subtracting 1.5 * 2**23 rounds a float32 of magnitude below 2**22 to
        # an integer, halves to even, as torch.round does.
        @triton.jit
        def round_half_even(v):
            return (v + 12582912.0) - 12582912.0
    else:
        from triton.language.extra import libdevice

        @triton.jit
        def round_half_even(v):
            return libdevice.rint(v)

    @triton.jit
    def absmax_step(amax):
        """The int8 step of a group whose largest |value| is `amax` (float32)."""
        return tl.div_rn(tl.maximum(amax, EPS_C), QMAX_C)

    @triton.jit
    def fake_int8(v, step):
        """codes x step, in float32."""
        codes = round_half_even(v / step)
        return tl.minimum(tl.maximum(codes, -QMAX_C - 1.0), QMAX_C) * step
