"""Integer primitives of docs/arithmetic.md, written for reading.

All arithmetic is on Python ints or numpy int64; every function states the
exact integer result, so the C kernels can reproduce it bit for bit.
"""
import math

import numpy as np

FRAC_BITS = 12            # int32 activations ("x12"): real = v * 2**-12
INT32_MAX = (1 << 31) - 1
ACT_QMAX = 127
QUANT_SHIFT = 23          # reciprocal precision in quant_rows
SCORE_FRAC_BITS = 8       # attention logits, base-2 units, 8 fractional bits
PROB_FRAC_BITS = 15       # softmax probabilities: p * 2**15
LN_INV_SHIFT = 20
GELU_RANGE = 8            # GELU table covers [-8, 8)
GELU_STEP_BITS = 6        # table step: 2**-6 (64 x12 units)
INV127 = (16513, 21)      # 1/127 ~= 16513 * 2**-21, as an integer multiplier


def round_shift(v, s):
    """round(v / 2**s), ties towards +infinity; s < 0 shifts left.  Arrays: elementwise, s
    may be an array.  For s > 0 this is (v + 2**(s-1)) >> s with an arithmetic shift."""
    v = np.asarray(v, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    pos = np.maximum(s, 0)
    half = np.where(pos > 0, np.left_shift(np.int64(1), np.maximum(pos - 1, 0)), 0)
    right = np.right_shift(v + half, pos)
    return np.where(s >= 0, right, np.left_shift(v, np.maximum(-s, 0)))


def saturate32(v):
    """Clamp to the symmetric int32 range [-(2**31-1), 2**31-1] and return int64."""
    return np.clip(np.asarray(v, dtype=np.int64), -INT32_MAX, INT32_MAX)


def bit_length(v):
    """Number of bits of a non-negative integer array (0 for 0)."""
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros(v.shape, dtype=np.int64)
    rest = v.copy()
    while np.any(rest > 0):
        nz = rest > 0
        out[nz] += 1
        rest = np.right_shift(rest, 1)
    return out


def udiv(n, d):
    """floor(n / d) for n >= 0, d > 0 (the C library's ftv_udiv64)."""
    return np.asarray(n, dtype=np.int64) // np.asarray(d, dtype=np.int64)


def div_round(n, d: int):
    """n / d rounded half away from zero, d > 0: sign(n) * floor((|n| + d//2) / d)."""
    n = np.asarray(n, dtype=np.int64)
    q = udiv(np.abs(n) + d // 2, d)
    return np.where(n < 0, -q, q)


def isqrt(v):
    """floor(sqrt(v)) elementwise for non-negative integers."""
    flat = [math.isqrt(int(x)) for x in np.asarray(v, dtype=np.int64).ravel()]
    return np.array(flat, dtype=np.int64).reshape(np.shape(v))


def decode_mult(word):
    """An int32 multiplier word -> (mantissa, shift): real = mantissa * 2**-shift."""
    word = np.asarray(word, dtype=np.int64)
    return np.right_shift(word, 8), np.bitwise_and(word, 0xFF)


def encode_mult(x: float) -> int:
    """Pack-time only (float input): the int32 word whose mantissa is in [2**14, 2**15]."""
    if x == 0 or abs(x) < 2.0 ** -240:
        return 0
    shift = 14 - math.floor(math.log2(abs(x)))
    if shift < 0:
        raise ValueError(f"multiplier {x} too large for the 24.8 encoding")
    mantissa = int(round(x * 2.0 ** shift))
    return int(np.int32((mantissa << 8) | shift))


def q16_to_x12(values, frac_bits: int):
    """int16 fixed point (real = v * 2**-frac_bits) -> int32 x12."""
    return round_shift(np.asarray(values, dtype=np.int64), frac_bits - FRAC_BITS)
