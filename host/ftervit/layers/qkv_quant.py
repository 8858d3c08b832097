"""The attention's Q, K and V quantizers in one pass, and their gradient back in one.

`TernaryAttention` quantizes Q per token and head, and K and V with one scale
per head over all tokens.  Compiled, that is three kernels over the QKV
product's output: Q's reads its third once, but K's and V's read theirs twice,
once for the maximum over the head's N x D values and once for the codes,
since Inductor does not keep 12,608 values (DeiT at 224: 197 tokens x 64) in
registers.  `qkv_quant_triton` gives one program the whole N x D tile of one
head of Q, K or V, so every value is read once and written once.

It returns Q, K and V as contiguous (B, H, N, D) tensors.  Their gradients
come back from the attention in that layout, and the backward kernel
interleaves them into the (B, N, 3 x H x D) gradient of the QKV product in one
pass: the quantizers' gradient is straight through (STE), so this is the
copy the float model's attention needs as well.

`qkv_quant_ref` is the plainly written twin, built from the reference
quantizers.  As with `gelu_quant`, the kernel computes in float32 from the bf16
input, as Inductor's code for the reference does.
"""
import torch

from .quant import fake_act_per_group, fake_act_per_token
from .triton_quant import INTERPRET, absmax_step, fake_int8, tl, triton, triton_available

# Tiles up to this many values (padded to powers of two) are held in registers; larger
# ones (e.g. 577 tokens at 384 px) take the compiled reference path.
MAX_TILE = 16384


def split_heads(qkv: torch.Tensor, heads: int):
    """(B, N, 3 * H * D) -> q, k, v, each a (B, H, N, D) view, as timm's Attention splits."""
    batch, tokens, width = qkv.shape
    return qkv.reshape(batch, tokens, 3, heads, width // (3 * heads)).permute(2, 0, 3, 1, 4).unbind(0)


def qkv_quant_ref(qkv: torch.Tensor, heads: int):
    """The reference: Q int8 per token and head; K and V int8 with one scale per head."""
    q, k, v = split_heads(qkv, heads)
    return (fake_act_per_token(q), fake_act_per_group(k, dims=(-2, -1)),
            fake_act_per_group(v, dims=(-2, -1)))


def _tile(tokens: int, head_dim: int):
    """The (tokens, head_dim) tile padded to powers of two."""
    return 1 << (tokens - 1).bit_length(), 1 << (head_dim - 1).bit_length()


def tile_fits(tokens: int, head_dim: int) -> bool:
    block_n, block_d = _tile(tokens, head_dim)
    return block_n * block_d <= MAX_TILE


def fits(qkv: torch.Tensor, heads: int) -> bool:
    """Whether the Triton kernels take this QKV output (CUDA, a head's tile in registers)."""
    if (qkv.dim() != 3 or qkv.shape[-1] % (3 * heads) or not triton_available(qkv)
            or qkv.dtype not in (torch.bfloat16, torch.float16, torch.float32)):
        return False
    return tile_fits(qkv.shape[1], qkv.shape[-1] // (3 * heads))


if triton is not None:
    @triton.jit
    def _tile_offsets(tokens, head_dim, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        n = tl.arange(0, BLOCK_N)[:, None]
        d = tl.arange(0, BLOCK_D)[None, :]
        return n, d, (n < tokens) & (d < head_dim)

    @triton.jit
    def _qkv_quant_kernel(qkv_ptr, q_ptr, k_ptr, v_ptr, tokens, heads, head_dim,
                          BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        """Program (b * heads + h, part): part 0 quantizes head h of Q per token, parts 1
        and 2 head h of K or V with one scale over the tile."""
        bh = tl.program_id(0)
        part = tl.program_id(1)
        b = bh // heads
        h = bh - b * heads
        n, d, mask = _tile_offsets(tokens, head_dim, BLOCK_N, BLOCK_D)
        width = 3 * heads * head_dim
        src = b * tokens * width + n * width + (part * heads + h) * head_dim + d
        x = tl.load(qkv_ptr + src, mask=mask, other=0.0).to(tl.float32)
        row_amax = tl.max(tl.abs(x), axis=1, keep_dims=True)  # padded lanes hold 0
        dst = bh * tokens * head_dim + n * head_dim + d
        if part == 0:
            tl.store(q_ptr + dst, fake_int8(x, absmax_step(row_amax)).to(q_ptr.dtype.element_ty),
                     mask=mask)
        else:
            y = fake_int8(x, absmax_step(tl.max(row_amax)))
            if part == 1:
                tl.store(k_ptr + dst, y.to(k_ptr.dtype.element_ty), mask=mask)
            else:
                tl.store(v_ptr + dst, y.to(v_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _load_grad(g_ptr, b, h, n, d, mask, s_b, s_h, s_n, s_d):
        return tl.load(g_ptr + b * s_b + h * s_h + n * s_n + d * s_d, mask=mask, other=0.0)

    @triton.jit
    def _qkv_grad_kernel(gq_ptr, gk_ptr, gv_ptr, out_ptr, tokens, heads, head_dim,
                         sq_b, sq_h, sq_n, sq_d, sk_b, sk_h, sk_n, sk_d, sv_b, sv_h, sv_n, sv_d,
                         BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        """Program (b * heads + h, part): copies head h of dQ, dK or dV (any strides) into
        its place in the (B, N, 3 * H * D) gradient."""
        bh = tl.program_id(0)
        part = tl.program_id(1)
        b = bh // heads
        h = bh - b * heads
        n, d, mask = _tile_offsets(tokens, head_dim, BLOCK_N, BLOCK_D)
        if part == 0:
            g = _load_grad(gq_ptr, b, h, n, d, mask, sq_b, sq_h, sq_n, sq_d)
        elif part == 1:
            g = _load_grad(gk_ptr, b, h, n, d, mask, sk_b, sk_h, sk_n, sk_d)
        else:
            g = _load_grad(gv_ptr, b, h, n, d, mask, sv_b, sv_h, sv_n, sv_d)
        width = 3 * heads * head_dim
        dst = b * tokens * width + n * width + (part * heads + h) * head_dim + d
        tl.store(out_ptr + dst, g.to(out_ptr.dtype.element_ty), mask=mask)


NUM_WARPS = 8  # 16,384-value tiles: 64 values a thread


def _launch_options():
    return {} if INTERPRET else {"num_warps": NUM_WARPS}


def _quantize(qkv: torch.Tensor, heads: int):
    qkv = qkv.contiguous()
    batch, tokens, width = qkv.shape
    head_dim = width // (3 * heads)
    q, k, v = (qkv.new_empty(batch, heads, tokens, head_dim) for _ in range(3))
    block_n, block_d = _tile(tokens, head_dim)
    _qkv_quant_kernel[(batch * heads, 3)](qkv, q, k, v, tokens, heads, head_dim,
                                          BLOCK_N=block_n, BLOCK_D=block_d, **_launch_options())
    return q, k, v


def _interleave(gq: torch.Tensor, gk: torch.Tensor, gv: torch.Tensor) -> torch.Tensor:
    batch, heads, tokens, head_dim = gq.shape
    out = gq.new_empty(batch, tokens, 3 * heads * head_dim)
    block_n, block_d = _tile(tokens, head_dim)
    _qkv_grad_kernel[(batch * heads, 3)](gq, gk, gv, out, tokens, heads, head_dim,
                                         *gq.stride(), *gk.stride(), *gv.stride(),
                                         BLOCK_N=block_n, BLOCK_D=block_d, **_launch_options())
    return out


@torch.library.custom_op("ftervit::qkv_quant", mutates_args=())
def _qkv_quant_op(qkv: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _quantize(qkv, heads)


@_qkv_quant_op.register_fake
def _(qkv, heads):
    batch, tokens, width = qkv.shape
    return tuple(qkv.new_empty(batch, heads, tokens, width // (3 * heads)) for _ in range(3))


@torch.library.custom_op("ftervit::qkv_grad", mutates_args=())
def _qkv_grad_op(gq: torch.Tensor, gk: torch.Tensor, gv: torch.Tensor) -> torch.Tensor:
    return _interleave(gq, gk, gv)


@_qkv_grad_op.register_fake
def _(gq, gk, gv):
    batch, heads, tokens, head_dim = gq.shape
    return gq.new_empty(batch, tokens, 3 * heads * head_dim)


def _backward(ctx, gq, gk, gv):
    shape = ctx.part_shape
    gq, gk, gv = (g if g is not None else torch.zeros(shape, dtype=ctx.dtype, device=ctx.device)
                  for g in (gq, gk, gv))
    return _qkv_grad_op(gq, gk, gv), None


def _setup_context(ctx, inputs, output):
    ctx.part_shape, ctx.dtype, ctx.device = output[0].shape, output[0].dtype, output[0].device


_qkv_quant_op.register_autograd(_backward, setup_context=_setup_context)


def qkv_quant_triton(qkv: torch.Tensor, heads: int):
    """Q, K, V of a (B, N, 3 * H * D) QKV output, fake-quantized as `qkv_quant_ref` does,
    as contiguous (B, H, N, D) tensors; the gradient passes straight through."""
    return _qkv_quant_op(qkv, heads)


__all__ = ["qkv_quant_ref", "qkv_quant_triton", "split_heads", "fits", "tile_fits"]
