/* Fixed-point primitives of docs/arithmetic.md section 1, as inline C.
 *
 * The numpy reference computes in int64 containers, where sums and products
 * wrap modulo 2^64 and shifts by 64 or more give 0 (left) or the sign
 * (right).  Within the documented ranges nothing wraps; these helpers still
 * reproduce the wrapping results exactly for any input, without signed
 * overflow or oversized shifts (undefined behaviour in C): wrapping
 * arithmetic goes through uint64_t.  Right shifts of negative values are
 * arithmetic (as with every compiler the library targets: gcc, clang).
 */
#ifndef FTV_FIXED_H
#define FTV_FIXED_H

#include <stdint.h>

#define FTV_ARITH_VERSION   1       /* the docs/arithmetic.md version implemented */
#define FTV_FRAC_BITS       12      /* x12 activations: real = v / 4096 */
#define FTV_INT32_MAX       2147483647
#define FTV_ACT_QMAX        127     /* int8 activation codes in [-127, 127] */
#define FTV_QUANT_SHIFT     23      /* reciprocal precision of quantization */
#define FTV_SCORE_FRAC_BITS 8       /* attention logits: base 2, 8 fraction bits */
#define FTV_PROB_FRAC_BITS  15      /* probabilities: p * 2^15 */
#define FTV_LN_INV_SHIFT    20      /* LayerNorm reciprocal shift */
#define FTV_GELU_RANGE      8       /* GELU table covers [-8, 8) */
#define FTV_GELU_STEP_BITS  6       /* GELU table step 2^-6 */
#define FTV_INV127_MANT     16513   /* 1/127 ~= 16513 * 2^-21 */
#define FTV_INV127_SHIFT    21

/* a + b and a * b modulo 2^64 (the reference's int64 arithmetic). */
static inline int64_t ftv_add64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t ftv_mul64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Arithmetic right shift for any s >= 0 (s >= 64 gives 0 or -1). */
static inline int64_t ftv_asr64(int64_t v, int32_t s)
{
    if (s < 64)
        return v >> s;
    return v < 0 ? -1 : 0;
}

/* round(v / 2^s), ties towards +infinity: (v + 2^(s-1)) >> s for s > 0,
 * v for s == 0, v << -s for s < 0; all modulo 2^64 like the reference
 * (s > 64: the rounding term is 0; s <= -64: the result is 0). */
static inline int64_t ftv_round_shift(int64_t v, int32_t s)
{
    if (s > 0) {
        uint64_t half = s <= 64 ? (uint64_t)1 << (s - 1) : 0;
        return ftv_asr64((int64_t)((uint64_t)v + half), s);
    }
    if (s == 0)
        return v;
    if (s <= -64)
        return 0;
    return (int64_t)((uint64_t)v << -s);
}

/* Clamp to the symmetric int32 range [-(2^31 - 1), 2^31 - 1]. */
static inline int32_t ftv_sat32(int64_t v)
{
    if (v > FTV_INT32_MAX)
        return FTV_INT32_MAX;
    if (v < -FTV_INT32_MAX)
        return -FTV_INT32_MAX;
    return (int32_t)v;
}

/* Number of bits of v (0 for 0). */
static inline int32_t ftv_bitlen32(uint32_t v)
{
    int32_t n = 0;
    if (v >> 16) { v >>= 16; n += 16; }
    if (v >> 8)  { v >>= 8;  n += 8; }
    if (v >> 4)  { v >>= 4;  n += 4; }
    if (v >> 2)  { v >>= 2;  n += 2; }
    if (v >> 1)  { v >>= 1;  n += 1; }
    return n + (int32_t)v;
}

static inline int32_t ftv_bitlen64(uint64_t v)
{
    uint32_t hi = (uint32_t)(v >> 32);
    return hi ? 32 + ftv_bitlen32(hi) : ftv_bitlen32((uint32_t)v);
}

/* |v| as an unsigned 32-bit value (also for INT32_MIN). */
static inline uint32_t ftv_abs32(int32_t v)
{
    return v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
}

/* A multiplier word w stands for m * 2^-s: m = w >> 8 (signed), s = w & 0xff. */
static inline int32_t ftv_mult_mant(int32_t w)
{
    return w >> 8;
}

static inline int32_t ftv_mult_shift(int32_t w)
{
    return w & 0xff;
}

/* A q16 value (real = v * 2^-frac_bits) in x12: round_shift(v, frac_bits - 12).
 * The result needs 64 bits for frac_bits < -4 (it is not saturated). */
static inline int64_t ftv_q16_to_x12(int16_t v, int32_t frac_bits)
{
    return ftv_round_shift(v, frac_bits - FTV_FRAC_BITS);
}

#endif /* FTV_FIXED_H */
