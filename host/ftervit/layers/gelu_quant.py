"""GELU followed by the per-token int8 quantizer, in one pass over the hidden layer.

In a ternary MLP the hidden layer goes fc1 -> GELU -> int8 per token -> fc2.
The quantizer needs the maximum of each GELU row before it can write a code,
so compiled separately it reads the hidden layer (the widest tensor of the
block) twice.  `gelu_quant_triton` keeps each row in registers: one read, one
write, like the float GELU alone.  `gelu_quant_ref` is its plainly written
twin, built from the reference quantizer.

Both return codes x scale in the input's dtype; the gradient is GELU's, passed
straight through the rounding (the quantizer's STE).  The Triton kernel, like
Inductor's code for the same expression, computes in float32 from the bf16
input, so on the GPU a code can differ from the CPU reference by one where a
value sits on a rounding boundary.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast import ste_act_per_token
from .quant import ACT_QMAX, EPS, fake_act_per_token

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the reference path is used
    triton = None

# Triton's CPU interpreter (tests): no libdevice and no autotuning there
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def gelu_quant_ref(x: torch.Tensor) -> torch.Tensor:
    """The reference: exact (erf) GELU, then per-token absmax int8 fake-quantization."""
    return fake_act_per_token(F.gelu(x))


if triton is not None:
    EPS_C = tl.constexpr(EPS)
    QMAX_C = tl.constexpr(float(ACT_QMAX))
    _CONFIGS = [triton.Config({"ROWS": rows}, num_warps=warps)
                for rows in (1, 2, 4) for warps in (1, 2, 4, 8)]

    if INTERPRET:
        # Adding and subtracting 1.5 * 2**23 rounds a float32 of magnitude below 2**22 to
        # an integer, halves to even, as torch.round does.
        @triton.jit
        def _round_half_even(v):
            return (v + 12582912.0) - 12582912.0
    else:
        from triton.language.extra import libdevice

        @triton.jit
        def _round_half_even(v):
            return libdevice.rint(v)

    @triton.jit
    def _gelu_chunk(x_ptr, offsets, mask):
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        return 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))

    @triton.jit
    def _row_absmax(g):
        return tl.max(tl.abs(g), axis=1, keep_dims=True)

    @triton.jit
    def _store_codes(y_ptr, offsets, mask, g, scale):
        codes = _round_half_even(g / scale)
        codes = tl.minimum(tl.maximum(codes, -QMAX_C - 1.0), QMAX_C)
        tl.store(y_ptr + offsets, (codes * scale).to(y_ptr.dtype.element_ty), mask=mask)

    @triton.autotune(configs=_CONFIGS, key=["N"])
    @triton.jit
    def _gelu_quant_kernel(x_ptr, y_ptr, n_rows, N: tl.constexpr, BLOCK: tl.constexpr,
                           CHUNKS: tl.constexpr, ROWS: tl.constexpr):
        """ROWS rows a program, each held in registers as CHUNKS blocks of BLOCK values
        (N = CHUNKS * BLOCK, or CHUNKS = 1 and BLOCK >= N, masked), so a 1536-wide row
        is 3 x 512 with no padded lanes computing GELU for nothing."""
        rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)[:, None]
        cols = tl.arange(0, BLOCK)[None, :]
        mask = (rows < n_rows) & (cols < N)
        offsets = rows * N + cols  # int32: callers keep numel below 2**31
        g0 = _gelu_chunk(x_ptr, offsets, mask)
        amax = _row_absmax(g0)  # masked lanes hold GELU(0) = 0
        g1 = g0
        g2 = g0
        g3 = g0
        if CHUNKS > 1:
            g1 = _gelu_chunk(x_ptr, offsets + BLOCK, mask)
            amax = tl.maximum(amax, _row_absmax(g1))
        if CHUNKS > 2:
            g2 = _gelu_chunk(x_ptr, offsets + 2 * BLOCK, mask)
            amax = tl.maximum(amax, _row_absmax(g2))
        if CHUNKS > 3:
            g3 = _gelu_chunk(x_ptr, offsets + 3 * BLOCK, mask)
            amax = tl.maximum(amax, _row_absmax(g3))
        scale = tl.div_rn(tl.maximum(amax, EPS_C), QMAX_C)
        _store_codes(y_ptr, offsets, mask, g0, scale)
        if CHUNKS > 1:
            _store_codes(y_ptr, offsets + BLOCK, mask, g1, scale)
        if CHUNKS > 2:
            _store_codes(y_ptr, offsets + 2 * BLOCK, mask, g2, scale)
        if CHUNKS > 3:
            _store_codes(y_ptr, offsets + 3 * BLOCK, mask, g3, scale)


def row_blocks(n: int):
    """(BLOCK, CHUNKS) for a row of n values: n = CHUNKS * BLOCK with BLOCK a power of two
    and CHUNKS <= 4 where possible (no idle lanes), else one padded block."""
    for chunks in (1, 2, 3, 4):
        block = n // chunks
        if n % chunks == 0 and block & (block - 1) == 0 and block >= 16:
            return block, chunks
    return 1 << (n - 1).bit_length(), 1


INTERPRET_ROWS = 2


def triton_available(x: torch.Tensor) -> bool:
    return triton is not None and x.is_cuda and x.numel() < 2**31


def _launch(x: torch.Tensor) -> torch.Tensor:
    x2 = x.reshape(-1, x.shape[-1]).contiguous()
    y = torch.empty_like(x2)
    n_rows, n_cols = x2.shape
    block, chunks = row_blocks(n_cols)
    grid = lambda meta: (triton.cdiv(n_rows, meta["ROWS"]),)  # noqa: E731
    if INTERPRET:
        _gelu_quant_kernel.fn[grid](x2, y, n_rows, N=n_cols, BLOCK=block, CHUNKS=chunks,
                                    ROWS=INTERPRET_ROWS)
    else:
        _gelu_quant_kernel[grid](x2, y, n_rows, N=n_cols, BLOCK=block, CHUNKS=chunks)
    return y.view_as(x)


@torch.library.custom_op("ftervit::gelu_quant", mutates_args=())
def _gelu_quant_op(x: torch.Tensor) -> torch.Tensor:
    return _launch(x)


@_gelu_quant_op.register_fake
def _(x):
    return torch.empty_like(x)


def _backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return torch.ops.aten.gelu_backward(grad, x)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


_gelu_quant_op.register_autograd(_backward, setup_context=_setup_context)


def gelu_quant_triton(x: torch.Tensor) -> torch.Tensor:
    """One-pass GELU + per-token int8 fake-quantization (CUDA, Triton)."""
    return _gelu_quant_op(x)


class QuantGELU(nn.GELU):
    """The MLP's GELU with the next layer's activation quantizer folded in.

    `fuse_gelu_quant` puts it in place of a timm `Mlp`'s `nn.GELU` when `fc2`
    is a TernaryLinear with fused quantizers, and marks `fc2` so it does not
    quantize its input a second time.  Whether to quantize is read from `fc2`
    at every call, so `set_quantizers` keeps working.  No parameters: the
    state dict is unchanged.
    """

    def __init__(self, consumer: nn.Module):
        super().__init__(approximate="none")
        self.__dict__["consumer"] = consumer  # not a submodule: fc2 stays registered once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.consumer.quant_act:
            return F.gelu(x)
        if (x.requires_grad and triton_available(x)  # training; evaluation keeps the reference
                and x.dtype in (torch.bfloat16, torch.float16, torch.float32)):
            return gelu_quant_triton(x)
        return ste_act_per_token(F.gelu(x))


def _passes_through(module) -> bool:
    """Nothing between the GELU and fc2 may change values (dropout would, after quantizing)."""
    return isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and module.p == 0)


def _fusable(mlp: nn.Module) -> bool:
    """A timm `Mlp` (fc1 -> act -> drop1 -> norm -> fc2), exact GELU, TernaryLinear fc2."""
    act, fc2 = getattr(mlp, "act", None), getattr(mlp, "fc2", None)
    return (type(act) in (nn.GELU, QuantGELU) and act.approximate == "none"
            and hasattr(fc2, "prequantized_input")
            and _passes_through(getattr(mlp, "drop1", None))
            and _passes_through(getattr(mlp, "norm", nn.Identity())))


def fuse_gelu_quant(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Fold each ternary MLP's hidden-layer quantizer into its GELU (or undo it)."""
    for mlp in model.modules():
        if not _fusable(mlp):
            continue
        fuse = enabled and mlp.fc2.fast and not mlp.fc2.int8_matmul
        if fuse and type(mlp.act) is nn.GELU:
            mlp.act = QuantGELU(mlp.fc2)
        elif not fuse and type(mlp.act) is QuantGELU:
            mlp.act = nn.GELU()
        mlp.fc2.prequantized_input = fuse
    return model


__all__ = ["gelu_quant_ref", "gelu_quant_triton", "triton_available", "QuantGELU",
           "fuse_gelu_quant"]
