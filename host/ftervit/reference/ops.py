"""The operators of the integer runtime (docs/arithmetic.md), one function each.

Inputs and outputs are numpy int64 arrays holding the integer values the
spec names (int8 codes, int32 x12 activations, ...); int64 is only the
container.  Each function is the literal reading of its section of the spec.
"""
import numpy as np

from .fixed_point import (ACT_QMAX, FRAC_BITS, GELU_RANGE, GELU_STEP_BITS, INV127,
                          LN_INV_SHIFT, PROB_FRAC_BITS, QUANT_SHIFT, SCORE_FRAC_BITS, bit_length,
                          decode_mult, div_round, isqrt, round_shift, saturate32, udiv)
from .tables import EXP2_SIZE, exp2_table, gelu_table

_EXP2 = np.array(exp2_table(), dtype=np.int64)
_GELU = np.array(gelu_table(), dtype=np.int64)


# ---------------------------------------------------------------- activation quantization
def quantize(x, amax):
    """int8 codes of x (int32 x12, [..., K]) for a given absmax (broadcast over the last
    axis).  Returns (codes, a, sh): real(x) ~= code * a * 2**(sh - 12) / 127."""
    x = np.asarray(x, dtype=np.int64)
    amax = np.asarray(amax, dtype=np.int64)
    sh = np.maximum(bit_length(amax) - 16, 0)
    a = np.right_shift(amax, sh)
    r = udiv(ACT_QMAX << QUANT_SHIFT, np.maximum(a, 1))
    codes = round_shift(np.right_shift(x, sh[..., None]) * r[..., None], QUANT_SHIFT)
    codes = np.clip(codes, -ACT_QMAX, ACT_QMAX)
    return np.where(a[..., None] > 0, codes, 0), a, sh


def quantize_rows(x):
    """Per-row (token) absmax quantization: one (a, sh) per row."""
    x = np.asarray(x, dtype=np.int64)
    return quantize(x, np.abs(x).max(axis=-1))


def quantize_block(x):
    """One absmax for the whole matrix (K and V of a head): scalar (a, sh)."""
    x = np.asarray(x, dtype=np.int64)
    codes, a, sh = quantize(x.reshape(1, -1), np.array([np.abs(x).max()]))
    return codes.reshape(x.shape), int(a[0]), int(sh[0])


# ---------------------------------------------------------------- ternary matmul + requant
def ternary_matmul(codes, weights):
    """acc[t, o] = sum_k codes[t, k] * W[o, k]  (int32; W in {-1, 0, 1})."""
    return np.asarray(codes, dtype=np.int64) @ np.asarray(weights, dtype=np.int64).T


def linear(x, weights, mult, bias_x12):
    """TernaryLinear on x12 activations: quantize rows, ternary matmul, requantize.
    mult: int32 words, one per output row or one for all; bias_x12: [rows]."""
    codes, a, sh = quantize_rows(x)
    acc = ternary_matmul(codes, weights)
    m, s = decode_mult(np.asarray(mult))
    y = round_shift(acc * a[:, None] * m[None, :], s[None, :] - sh[:, None])
    return saturate32(y + np.asarray(bias_x12, dtype=np.int64)[None, :])


# ---------------------------------------------------------------- LayerNorm
def layer_norm(x, w_tern, b_tern, mult2):
    """TernaryLayerNorm on rows of x12 values -> x12.  mult2 = [gamma scale, beta scale]."""
    x = np.asarray(x, dtype=np.int64)
    rows, dim = x.shape
    centered = x - div_round(x.sum(axis=1), dim)[:, None]
    peak = np.abs(centered).max(axis=1)
    sh = np.maximum(bit_length(peak) - 15, 0)
    c = np.right_shift(centered, sh[:, None])
    root = isqrt((c * c).sum(axis=1))
    k_dim = int(isqrt(np.array([dim << (2 * FRAC_BITS)]))[0])
    inv = udiv(k_dim << LN_INV_SHIFT, np.maximum(root, 1))
    normed = np.where(root[:, None] > 0, round_shift(c * inv[:, None], LN_INV_SHIFT), 0)
    (mg, mb), (sg, sb) = decode_mult(np.asarray(mult2))
    gamma = np.asarray(w_tern, dtype=np.int64).reshape(-1) * mg
    beta = round_shift(np.asarray(b_tern, dtype=np.int64).reshape(-1) * mb, sb - FRAC_BITS)
    return saturate32(round_shift(normed * gamma[None, :], sg) + beta[None, :])


# ---------------------------------------------------------------- GELU
def gelu(x):
    """GELU of x12 values by table with linear interpolation (step 2**-6 on [-8, 8))."""
    x = np.asarray(x, dtype=np.int64)
    lo, hi = -GELU_RANGE << FRAC_BITS, GELU_RANGE << FRAC_BITS
    u = np.clip(x - lo, 0, hi - lo - 1)
    i = np.right_shift(u, GELU_STEP_BITS)
    f = np.bitwise_and(u, (1 << GELU_STEP_BITS) - 1)
    inside = _GELU[i] + round_shift((_GELU[i + 1] - _GELU[i]) * f, GELU_STEP_BITS)
    return np.where(x < lo, 0, np.where(x >= hi, x, inside))


# ---------------------------------------------------------------- attention
def softmax_row(scores):
    """Probabilities (2**15 = 1) from base-2 logits with 8 fractional bits."""
    scores = np.asarray(scores, dtype=np.int64)
    d = scores.max() - scores
    whole = np.right_shift(d, SCORE_FRAC_BITS)
    e = np.where(whole < 16,
                 np.right_shift(_EXP2[np.bitwise_and(d, EXP2_SIZE - 1)], np.minimum(whole, 15)),
                 0)
    recip = udiv(1 << (2 * PROB_FRAC_BITS + 16), e.sum())
    return round_shift(e * recip, PROB_FRAC_BITS + 16)


def attention_head(q, k, v, logit_mult):
    """One head, one query row at a time.  q, k, v: x12 [N, head_dim]; returns x12 [N, head_dim].
    logit_mult: int32 word for log2(e) / (127**2 * sqrt(head_dim))."""
    q_codes, q_a, q_sh = quantize_rows(q)
    k_codes, k_a, k_sh = quantize_block(k)
    v_codes, v_a, v_sh = quantize_block(v)
    m_l, s_l = (int(t) for t in decode_mult(np.int64(logit_mult)))
    out = np.zeros(q_codes.shape, dtype=np.int64)
    for t in range(q_codes.shape[0]):
        dots = k_codes @ q_codes[t]
        gain = round_shift(int(q_a[t]) * k_a * m_l, 16)
        scores = saturate32(round_shift(dots * gain, s_l - int(q_sh[t]) - k_sh))
        probs = softmax_row(scores)
        out[t] = probs @ v_codes
    return saturate32(round_shift(out * v_a * INV127[0], INV127[1] + PROB_FRAC_BITS - v_sh))


def attention(qkv, num_heads: int, logit_mult):
    """Multi-head attention from the qkv projection's x12 output [N, 3*D] -> x12 [N, D].
    Column layout of qkv: (which, head, channel), as timm's reshape(B, N, 3, H, hd)."""
    n, three_d = qkv.shape
    dim = three_d // 3
    hd = dim // num_heads
    out = np.zeros((n, dim), dtype=np.int64)
    for h in range(num_heads):
        cols = slice(h * hd, (h + 1) * hd)
        q = qkv[:, 0 * dim:1 * dim][:, cols]
        k = qkv[:, 1 * dim:2 * dim][:, cols]
        v = qkv[:, 2 * dim:3 * dim][:, cols]
        out[:, cols] = attention_head(q, k, v, logit_mult)
    return out


# ---------------------------------------------------------------- patch embedding
def image_codes(image, input_lut):
    """uint8 image [H, W, C] -> int8 codes [H, W, C] through the per-channel table."""
    image = np.asarray(image)
    lut = np.asarray(input_lut, dtype=np.int64)
    return np.stack([lut[c][image[..., c]] for c in range(image.shape[-1])], axis=-1)


def patches(codes, patch: int):
    """[H, W, C] codes -> [tokens, C*P*P], token order row-major over the patch grid and
    each patch ordered (channel, row, column) like a PyTorch conv weight."""
    h, w, c = codes.shape
    gh, gw = h // patch, w // patch
    grid = codes.reshape(gh, patch, gw, patch, c).transpose(0, 2, 4, 1, 3)
    return grid.reshape(gh * gw, c * patch * patch)


def patch_embed(image, input_lut, weights, mult, bias_x12, patch: int):
    """Patch embedding: static int8 input, ternary weights, per-channel multiplier -> x12."""
    acc = ternary_matmul(patches(image_codes(image, input_lut), patch), weights)
    m, s = decode_mult(np.asarray(mult))
    y = round_shift(acc * m[None, :], s[None, :] - FRAC_BITS)
    return saturate32(y + np.asarray(bias_x12, dtype=np.int64)[None, :])
