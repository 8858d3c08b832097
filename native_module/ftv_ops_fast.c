/* Optimized twins of the operators that run on every token: activation
 * quantization, requantization (fused with the residual add), LayerNorm +
 * quantization, GELU and attention.  Each is tested bit-equal to its `_ref`
 * twin (ftv_ops_ref.c) on random and extreme inputs; the comments say why
 * the narrower arithmetic is exact.  They keep 64-bit products out of the
 * inner loops (32-bit cores: one multiply instruction pair, no libgcc call)
 * and are written so compilers can vectorize the int8 loops. */
#include <string.h>

#include "ftv_args.h"
#include "ftv_ops.h"
#include "ftv_tables.h"
#include "ftv_util.h"

/* gcc's first scheduling pass hoists every load and product of the unrolled
 * multiply-accumulate loops below and spills the accumulators on the
 * 16-register Xtensa core; without it the loops keep everything in
 * registers. */
#if defined(__XTENSA__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

/* A loop kept in a function of its own, so that its register allocation
 * is not shared with the caller's. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* ------------------------------------------------ activation quantization */

/* Codes of one row with 32-bit arithmetic.  With a = amax >> sh and
 * r = floor(127 * 2^23 / a): when sh == 0, |x| <= a so |x * r| <= 127 * 2^23;
 * when sh > 0, a >= 2^15 and |x >> sh| <= a + 1, so
 * |(x >> sh) * r| <= 127 * 2^23 * (1 + 2^-15).  Adding the rounding term
 * 2^22 stays below 2^31: the int32 product and sum never overflow. */
static void quant_row32(int8_t *codes, const int32_t *x, int k, uint32_t amax)
{
    int32_t sh = ftv_bitlen64(amax) - 16;
    int32_t a, r;
    if (sh < 0)
        sh = 0;
    a = (int32_t)(amax >> sh);
    if (a == 0) {
        memset(codes, 0, (size_t)k);
        return;
    }
    r = (int32_t)ftv_udiv64((uint64_t)FTV_ACT_QMAX << FTV_QUANT_SHIFT, (uint32_t)a);
    for (int i = 0; i < k; i++) {
        int32_t c = ((x[i] >> sh) * r + (1 << (FTV_QUANT_SHIFT - 1))) >> FTV_QUANT_SHIFT;
        codes[i] = (int8_t)(c > FTV_ACT_QMAX ? FTV_ACT_QMAX
                            : c < -FTV_ACT_QMAX ? -FTV_ACT_QMAX : c);
    }
}

static uint32_t row_amax(const int32_t *x, int k)
{
    uint32_t amax = 0;
    for (int i = 0; i < k; i++) {
        uint32_t m = ftv_abs32(x[i]);
        amax = m > amax ? m : amax;
    }
    return amax;
}

static void row_scale(uint32_t amax, int32_t *a, int32_t *sh)
{
    int32_t s = ftv_bitlen64(amax) - 16;
    *sh = s > 0 ? s : 0;
    *a = (int32_t)(amax >> *sh);
}

int ftv_quantize_rows_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                           const int32_t *x, int rows, int k, int x_stride)
{
    if (rows < 0 || k < 0 || x_stride < k)
        return FTV_ERR_ARG;
    if (rows > 0 && (!codes || !row_a || !row_sh || (k > 0 && !x)))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        const int32_t *xt = x + (size_t)t * (size_t)x_stride;
        uint32_t amax = row_amax(xt, k);
        row_scale(amax, &row_a[t], &row_sh[t]);
        quant_row32(codes + (size_t)t * (size_t)k, xt, k, amax);
    }
    return FTV_OK;
}

/* --------------------------------------------------------- requantization */

/* round_shift(v, s) split into a per-call part (half, s) and the per-element
 * add and shift, for the shifts that occur in practice (0 < s < 64); other
 * shifts fall back to the general helper. */
typedef struct {
    int32_t shift;
    uint64_t half;
    int simple;
} rshift_t;

static rshift_t rshift_plan(int32_t s)
{
    rshift_t p;
    p.shift = s;
    p.simple = s > 0 && s < 64;
    p.half = p.simple ? (uint64_t)1 << (s - 1) : 0;
    return p;
}

static inline int64_t rshift_apply(rshift_t p, int64_t v)
{
    if (p.simple)
        return (int64_t)((uint64_t)v + p.half) >> p.shift;
    return ftv_round_shift(v, p.shift);
}

/* acc * a * m is computed as acc * (a * m): the same value modulo 2^64
 * (multiplication modulo 2^64 is associative), one 64-bit product a value. */
static int64_t scaled(int32_t acc, int64_t factor)
{
    return ftv_mul64(acc, factor);
}

/* The shared 64-bit body of ftv_requant_fast (add == 0) and
 * ftv_requant_add_fast, for the calls the 32-bit body below does not take. */
static void requant_rows64(int32_t *out, const int32_t *acc, const int32_t *row_a,
                           const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                           int per_row_mult, const int16_t *bias, int bias_frac, int add)
{
    rshift_t bias_plan = rshift_plan(bias_frac - FTV_FRAC_BITS);
    for (int t = 0; t < rows; t++) {
        int32_t a = row_a ? row_a[t] : 1;
        int32_t sh = row_a ? row_sh[t] : FTV_FRAC_BITS;
        const int32_t *acc_t = acc + (size_t)t * (size_t)n_out;
        int32_t *out_t = out + (size_t)t * (size_t)n_out;
        int64_t factor = ftv_mul64(a, ftv_mult_mant(mult[0]));
        rshift_t plan = rshift_plan(ftv_mult_shift(mult[0]) - sh);
        for (int o = 0; o < n_out; o++) {
            int64_t y, b = 0;
            int32_t v;
            if (per_row_mult) {
                factor = ftv_mul64(a, ftv_mult_mant(mult[o]));
                plan = rshift_plan(ftv_mult_shift(mult[o]) - sh);
            }
            y = rshift_apply(plan, scaled(acc_t[o], factor));
            if (bias)
                b = rshift_apply(bias_plan, bias[o]);
            v = ftv_sat32(ftv_add64(y, b));
            out_t[o] = add ? ftv_sat32((int64_t)out_t[o] + v) : v;
        }
    }
}

/* sat32(a + b) of two int32 values without a 64-bit sum: the wrapped sum
 * overflowed exactly when a and b have one sign and the sum the other. */
static inline int32_t sat_add32(int32_t a, int32_t b)
{
    uint32_t s = (uint32_t)a + (uint32_t)b;
    if ((int32_t)((s ^ (uint32_t)a) & (s ^ (uint32_t)b)) < 0)
        return a < 0 ? -FTV_INT32_MAX : FTV_INT32_MAX;
    return s == 0x80000000u ? -FTV_INT32_MAX : (int32_t)s;
}

/* round_shift(x * v, s) in 32-bit arithmetic, for |x| <= 2^15, any int32 v
 * and 1 <= s <= 46 (up to 63: see mround_zero).  With v = vh * 2^16 + vl (vh = v >> 16 in
 * [-2^15, 2^15), vl = v & 0xffff):
 *   A = x * vh,  |A| <= 2^30;   B = x * vl,  |B| <= 2^31 - 2^15,
 * both exact in int32, and x * v = A * 2^16 + B.  Floor divisions nest
 * (floor(floor(u / p) / q) = floor(u / (p q))), so for s >= 16
 *   round_shift(x v, s) = (A + 2^(s-17) + ((B >> 1) + 2^14 [s == 16]) >> 15) >> (s - 16)
 * (the 2^(s-1) rounding term goes to A for s >= 17, to B >> 1 for s = 16),
 * with every partial sum below 2^30 + 2^29 + 2^15 < 2^31 in magnitude for
 * s <= 46.  For s < 16, 2^16 A is a multiple of 2^s:
 *   round_shift(x v, s) = A * 2^(16-s) + ((B + 2^(s-1)) >> s),
 * which fits an int32 when A * 2^(16-s) is in [-2^30, 2^30) (then the second
 * term is at most 2^30 in magnitude); mul_round reports 0 otherwise. */
typedef struct {
    int32_t up, down, half_a, half_b, s;
} mround_t;

static mround_t mround_plan(int32_t s)
{
    mround_t p;
    if (s < 1 || s > 46)
        s = 17;             /* not used for these (see mround_ok, mround_zero) */
    p.s = s;
    p.up = s < 16 ? 16 - s : 0;
    p.down = s >= 16 ? s - 16 : 0;
    p.half_a = s >= 17 ? (int32_t)1 << (s - 17) : 0;
    p.half_b = s == 16 ? 1 << 14 : s < 16 ? (int32_t)1 << (s - 1) : 0;
    return p;
}

static inline int mround_ok(int32_t s)
{
    return s >= 1 && s <= 63;
}

/* For 47 <= s <= 63 the result is 0: |x v| <= 2^46, with x v = -2^46 only
 * for v = -2^31, so 0 <= x v + 2^(s-1) < 2^s.  (From s = 64 on, the
 * reference's 64-bit rounding gives -1 for some signs: those shifts take the
 * 64-bit path.)  mround_zero() tells the callers to make x or v 0 and use
 * the plan of s = 17, which gives 0 as well. */
static inline int mround_zero(int32_t s)
{
    return s >= 47;
}

static inline int mul_round(int32_t *y, int32_t x, int32_t vh, int32_t vl, const mround_t *p)
{
    int32_t hi = x * vh, lo = x * vl;
    if (p->s >= 16) {
        *y = (hi + p->half_a + (((lo >> 1) + p->half_b) >> 15)) >> p->down;
        return 1;
    }
    if ((uint32_t)((hi >> (14 + p->s)) + 1) > 1u)    /* A << up outside [-2^30, 2^30) */
        return 0;
    *y = (int32_t)((uint32_t)hi << p->up) + ((lo + p->half_b) >> p->s);
    return 1;
}

/* The 32-bit requantization.  A bias shift bs = bias_frac - 12 in
 * [-15, 31] gives the x12 bias in 32 bits: (b << -bs) for bs < 0 (below
 * 2^30), (b + 2^(bs-1)) >> bs for bs > 0.  A row's gain g = a * m is exact
 * in int32 for 0 <= a < 2^16 and |m| <= 2^15 (|g| <= 2^31 - 2^15); then an
 * accumulator with |acc| <= 2^15 and a shift s - sh in [1, 46] go through
 * mul_round, and any other element through the 64-bit formula. */
static int32_t requant_one64(int32_t acc, int32_t a, int32_t word, int32_t sh, int32_t b)
{
    int64_t y = rshift_apply(rshift_plan(ftv_mult_shift(word) - sh),
                             ftv_mul64(acc, ftv_mul64(a, ftv_mult_mant(word))));
    return ftv_sat32(ftv_add64(y, b));
}

/* The x12 bias of element o in 32 bits (see above). */
typedef struct {
    int32_t up, down, half;
} bias_plan_t;

static inline int32_t bias_x12(const int16_t *bias, int o, const bias_plan_t *p)
{
    return bias ? ((int32_t)((uint32_t)(int32_t)bias[o] << p->up) + p->half) >> p->down : 0;
}

/* One element with a per-row multiplier word (the LayerScale-folded
 * layers), for 0 <= a < 2^16: the shift s = s_o - sh picks the formula. */
static inline int32_t requant_word(int32_t x, int32_t a, int32_t sh, int32_t word, int32_t b)
{
    int32_t m = ftv_mult_mant(word), s = ftv_mult_shift(word) - sh, g, hi, lo, y;
    if (((uint32_t)m + 32768u) > 65536u || ((uint32_t)x + 32768u) > 65536u || s < 16
            || s > 63)
        return requant_one64(x, a, word, sh, b);
    if (mround_zero(s))
        return b;                           /* sat_add32(0, b) */
    g = a * m;
    hi = x * (g >> 16);
    lo = x * (g & 0xffff);
    y = (hi + ((1 << (s - 16)) >> 1) + (((lo >> 1) + ((s == 16) << 14)) >> 15)) >> (s - 16);
    return sat_add32(y, b);
}

/* Rows with one shared multiplier word; add: accumulate into out. */
static inline void requant_rows_shared(int32_t *out_t, const int32_t *acc_t, int n_out,
                                       int32_t a, int32_t sh, int32_t word,
                                       const int16_t *bias, const bias_plan_t *bp, int add)
{
    int32_t m = ftv_mult_mant(word), s = ftv_mult_shift(word) - sh;
    mround_t plan = mround_plan(mround_zero(s) ? 17 : s);
    int32_t g = mround_zero(s) ? 0 : a * m, gh = g >> 16, gl = g & 0xffff;
    for (int o = 0; o < n_out; o++) {
        int32_t x = acc_t[o], b = bias_x12(bias, o, bp), y, v;
        if (((uint32_t)x + 32768u) <= 65536u && mul_round(&y, x, gh, gl, &plan))
            v = sat_add32(y, b);
        else
            v = requant_one64(x, a, word, sh, b);
        out_t[o] = add ? sat_add32(out_t[o], v) : v;
    }
}

/* The common row: one shared word with 17 <= s - sh <= 46, a bias with
 * bias_frac >= 12.  Then |y| < 2^30 (mul_round's bound 2^30 + 2^29 + 2^15,
 * shifted right at least once) and |B| <= 2^15, so y + B is exact and
 * inside the int32 range: no saturation test (only the residual add has
 * one).  Elements with |acc| > 2^15 take the 64-bit formula. */
typedef struct {
    int32_t gh, gl, half, down, b_half, b_down, a, sh, word;
} hot_row_t;

/* Elements o .. n_out - 1 of the row up to the first with |acc| > 2^15,
 * (or = 2^15), whose index it returns (n_out when there is none): the loop makes no
 * call, so its constants stay in registers. */
static inline int requant_hot(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                              const int16_t *bias, const hot_row_t *r, int add)
{
    const int32_t gh = r->gh, gl = r->gl, half = r->half, down = r->down;
    const int32_t b_half = r->b_half, b_down = r->b_down;
    for (; o < n_out; o++) {
        int32_t x = acc_t[o], v;
        if ((uint32_t)((x >> 15) + 1) > 1u)       /* x outside [-2^15, 2^15) */
            break;
        v = ((x * gh + half + ((x * gl) >> 16)) >> down)
            + (((int32_t)bias[o] + b_half) >> b_down);
        out_t[o] = add ? sat_add32(out_t[o], v) : v;
    }
    return o;
}

static NOINLINE int requant_hot_set(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                                    const int16_t *bias, const hot_row_t *r)
{
    return requant_hot(out_t, acc_t, o, n_out, bias, r, 0);
}

static NOINLINE int requant_hot_add(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                                    const int16_t *bias, const hot_row_t *r)
{
    return requant_hot(out_t, acc_t, o, n_out, bias, r, 1);
}

/* The per-row-word counterpart of requant_hot (the LayerScale-folded
 * layers), for rows where every word has |m| <= 2^15 and 17 <= s_o - sh
 * <= 63: y = 0 for s_o - sh >= 47 (mround_zero), else requant_hot's
 * formula with the word's own gain; the same bounds, no saturation test. */
static inline int requant_hot_words(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                                    const int16_t *bias, const int32_t *mult,
                                    const hot_row_t *r, int add)
{
    const int32_t a = r->a, sh = r->sh, b_half = r->b_half, b_down = r->b_down;
    for (; o < n_out; o++) {
        int32_t x = acc_t[o], w = mult[o], s = ftv_mult_shift(w) - sh, v;
        if ((uint32_t)((x >> 15) + 1) > 1u)       /* x outside [-2^15, 2^15) */
            break;
        v = ((int32_t)bias[o] + b_half) >> b_down;
        if (s < 47) {
            int32_t g = a * ftv_mult_mant(w);
            v += (x * (g >> 16) + (1 << (s - 17)) + ((x * (g & 0xffff)) >> 16)) >> (s - 16);
        }
        out_t[o] = add ? sat_add32(out_t[o], v) : v;
    }
    return o;
}

static NOINLINE int requant_words_set(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                                      const int16_t *bias, const int32_t *mult,
                                      const hot_row_t *r)
{
    return requant_hot_words(out_t, acc_t, o, n_out, bias, mult, r, 0);
}

static NOINLINE int requant_words_add(int32_t *out_t, const int32_t *acc_t, int o, int n_out,
                                      const int16_t *bias, const int32_t *mult,
                                      const hot_row_t *r)
{
    return requant_hot_words(out_t, acc_t, o, n_out, bias, mult, r, 1);
}

/* A row through requant_hot_words, its large accumulators one at a time. */
static void requant_words_row(int32_t *out_t, const int32_t *acc_t, int n_out,
                              const int16_t *bias, const int32_t *mult, const hot_row_t *r,
                              int add)
{
    int o = 0;
    for (;;) {
        int32_t v;
        o = add ? requant_words_add(out_t, acc_t, o, n_out, bias, mult, r)
                : requant_words_set(out_t, acc_t, o, n_out, bias, mult, r);
        if (o >= n_out)
            return;
        v = requant_one64(acc_t[o], r->a, mult[o], r->sh,
                          ((int32_t)bias[o] + r->b_half) >> r->b_down);
        out_t[o] = add ? sat_add32(out_t[o], v) : v;
        o++;
    }
}

/* A row through requant_hot, its large accumulators one at a time. */
static void requant_hot_row(int32_t *out_t, const int32_t *acc_t, int n_out,
                            const int16_t *bias, const hot_row_t *r, int add)
{
    int o = 0;
    for (;;) {
        int32_t v;
        o = add ? requant_hot_add(out_t, acc_t, o, n_out, bias, r)
                : requant_hot_set(out_t, acc_t, o, n_out, bias, r);
        if (o >= n_out)
            return;
        v = requant_one64(acc_t[o], r->a, r->word, r->sh,
                          ((int32_t)bias[o] + r->b_half) >> r->b_down);
        out_t[o] = add ? sat_add32(out_t[o], v) : v;
        o++;
    }
}

static void requant_rows(int32_t *out, const int32_t *acc, const int32_t *row_a,
                         const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                         int per_row_mult, const int16_t *bias, int bias_frac, int add)
{
    int32_t bs = bias_frac - FTV_FRAC_BITS, s_lo = 0, s_hi = 0;
    int words_ok = 1;
    bias_plan_t bp;
    if (bs < -15 || bs > 31) {
        requant_rows64(out, acc, row_a, row_sh, rows, n_out, mult, per_row_mult, bias,
                       bias_frac, add);
        return;
    }
    bp.up = bs < 0 ? -bs : 0;
    bp.down = bs > 0 ? bs : 0;
    bp.half = bs > 0 ? (int32_t)1 << (bs - 1) : 0;
    /* per-row words: the range of their shifts and whether every mantissa
     * is within 2^15, once per call */
    if (per_row_mult) {
        s_lo = 255;
        s_hi = 0;
        for (int o = 0; o < n_out; o++) {
            int32_t m = ftv_mult_mant(mult[o]), sw = ftv_mult_shift(mult[o]);
            words_ok = words_ok && m >= -32768 && m <= 32768;
            s_lo = sw < s_lo ? sw : s_lo;
            s_hi = sw > s_hi ? sw : s_hi;
        }
    }
    for (int t = 0; t < rows; t++) {
        int32_t a = row_a ? row_a[t] : 1;
        int32_t sh = row_a ? row_sh[t] : FTV_FRAC_BITS;
        const int32_t *acc_t = acc + (size_t)t * (size_t)n_out;
        int32_t *out_t = out + (size_t)t * (size_t)n_out;
        int32_t m = ftv_mult_mant(mult[0]);
        if (a < 0 || a >= 65536 || (!per_row_mult && (((uint32_t)m + 32768u) > 65536u
                                                     || !mround_ok(ftv_mult_shift(mult[0]) - sh)))) {
            requant_rows64(out_t, acc_t, row_a ? row_a + t : NULL, row_a ? row_sh + t : NULL,
                           1, n_out, mult, per_row_mult, bias, bias_frac, add);
        } else if (!per_row_mult && bias && bs >= 0 && ftv_mult_shift(mult[0]) - sh >= 17
                   && ftv_mult_shift(mult[0]) - sh <= 46) {
            hot_row_t r;
            r.a = a;
            r.sh = sh;
            r.word = mult[0];
            r.gh = (a * m) >> 16;
            r.gl = (a * m) & 0xffff;
            r.down = ftv_mult_shift(mult[0]) - sh - 16;
            r.half = (int32_t)1 << (r.down - 1);
            r.b_half = bp.half;
            r.b_down = bp.down;
            requant_hot_row(out_t, acc_t, n_out, bias, &r, add);
        } else if (per_row_mult && words_ok && bias && bs >= 0 && s_lo - sh >= 17
                   && s_hi - sh <= 63) {
            hot_row_t r;
            r.a = a;
            r.sh = sh;
            r.b_half = bp.half;
            r.b_down = bp.down;
            requant_words_row(out_t, acc_t, n_out, bias, mult, &r, add);
        } else if (!per_row_mult) {
            if (add)
                requant_rows_shared(out_t, acc_t, n_out, a, sh, mult[0], bias, &bp, 1);
            else
                requant_rows_shared(out_t, acc_t, n_out, a, sh, mult[0], bias, &bp, 0);
        } else if (add) {
            for (int o = 0; o < n_out; o++)
                out_t[o] = sat_add32(out_t[o], requant_word(acc_t[o], a, sh, mult[o],
                                                            bias_x12(bias, o, &bp)));
        } else {
            for (int o = 0; o < n_out; o++)
                out_t[o] = requant_word(acc_t[o], a, sh, mult[o], bias_x12(bias, o, &bp));
        }
    }
}

int ftv_requant_fast(int32_t *out, const int32_t *acc,
                     const int32_t *row_a, const int32_t *row_sh,
                     int rows, int n_out, const int32_t *mult, int per_row_mult,
                     const int16_t *bias, int bias_frac)
{
    if (ftv_requant_args(out, acc, row_a, row_sh, rows, n_out, mult))
        return FTV_ERR_ARG;
    if (n_out > 0)
        requant_rows(out, acc, row_a, row_sh, rows, n_out, mult, per_row_mult, bias,
                     bias_frac, 0);
    return FTV_OK;
}

int ftv_requant_add_fast(int32_t *x, const int32_t *acc,
                         const int32_t *row_a, const int32_t *row_sh,
                         int rows, int n_out, const int32_t *mult, int per_row_mult,
                         const int16_t *bias, int bias_frac)
{
    if (ftv_requant_args(x, acc, row_a, row_sh, rows, n_out, mult))
        return FTV_ERR_ARG;
    if (n_out > 0)
        requant_rows(x, acc, row_a, row_sh, rows, n_out, mult, per_row_mult, bias,
                     bias_frac, 1);
    return FTV_OK;
}

/* -------------------------------------------------------------- LayerNorm */

/* Per-call constants of the 32-bit LayerNorm row: the gamma term
 * round_shift(t * mg, sg) (t = gamma * n) by mul_round's formulas with
 * x = mg (|mg| <= 2^15, 1 <= sg <= 63; sg >= 47 gives 0 and runs as mg = 0),
 * and the three possible beta terms round_shift(beta * mb, sb - 12),
 * beta in {-1, 0, 1}, each within [-2^29, 2^29].  Then the output
 * y + beta term needs no saturation: |y| <= 2^30 + 2^15 for sg >= 16, and
 * for sg < 16 the rows' loop takes only elements with A * 2^(16-sg) in
 * [-2^29, 2^29), where |y| < 2^29 + 2^30; both sums stay inside
 * (-2^31, 2^31). */
typedef struct {
    uint32_t k_dim;
    int32_t mg, word_g, sg, b_term[3];
    mround_t plan;
    int ok;
} ln_consts_t;

static ln_consts_t ln_consts(int dim, const int32_t *mult2)
{
    ln_consts_t k;
    int32_t mg = ftv_mult_mant(mult2[0]), sg = ftv_mult_shift(mult2[0]);
    int32_t mb = ftv_mult_mant(mult2[1]), sb = ftv_mult_shift(mult2[1]);
    k.k_dim = ftv_isqrt64((uint64_t)dim << (2 * FTV_FRAC_BITS));
    k.word_g = mult2[0];
    k.ok = mg >= -32768 && mg <= 32768 && mround_ok(sg);
    k.mg = mround_zero(sg) ? 0 : mg;
    k.sg = mround_zero(sg) ? 17 : sg;
    k.plan = mround_plan(k.sg);
    for (int beta = -1; beta <= 1; beta++) {
        int64_t b = ftv_round_shift((int64_t)beta * mb, sb - FTV_FRAC_BITS);
        k.ok = k.ok && b >= -(1 << 29) && b <= (1 << 29);
        k.b_term[beta + 1] = (int32_t)b;
    }
    return k;
}

/* Pass 1: sum, minimum and maximum of the row. */
static NOINLINE int64_t ln_stats(const int32_t *x, int dim, int32_t *lo_out, int32_t *hi_out)
{
    int64_t sum = 0;
    int32_t lo = x[0], hi = x[0];
    for (int i = 0; i < dim; i++) {
        int32_t v = x[i];
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
    return sum;
}

/* Pass 2: c = (x - mean) >> sh into out, and the sum of c^2 (each <= 2^30). */
static NOINLINE uint64_t ln_center(int32_t *out, const int32_t *x, int dim, int32_t mean,
                                   int32_t sh)
{
    uint64_t squares = 0;
    for (int i = 0; i < dim; i++) {
        int32_t c = (x[i] - mean) >> sh;
        out[i] = c;
        squares += (uint32_t)(c * c);
    }
    return squares;
}

/* Pass 3, c in io[] -> output: n = round_shift(c * inv, 20), t = gamma * n,
 * y = round_shift(t * mg, sg), out = y + beta term; *amax gets max |out|.
 * ln_scale_hi for sg >= 16; ln_scale_lo for sg < 16 stops at the first
 * element outside its bound and returns its index (dim when none). */
typedef struct {
    int32_t ih, il, mg, half_a, half_b, down, s;
    const int32_t *b_term;
} ln_pass_t;

static NOINLINE uint32_t ln_scale_hi(int32_t *io, int dim, const int8_t *gamma,
                                     const int8_t *beta, const ln_pass_t *p, uint32_t top)
{
    const int32_t ih = p->ih, il = p->il, mg = p->mg, half_a = p->half_a;
    const int32_t half_b = p->half_b, down = p->down;
    const int32_t *b_term = p->b_term + 1;
    for (int i = 0; i < dim; i++) {
        int32_t c = io[i];
        int32_t t = gamma[i] * ((c * ih + 8 + ((c * il) >> 16)) >> 4);
        int32_t v = ((mg * (t >> 16) + half_a + ((((mg * (t & 0xffff)) >> 1) + half_b) >> 15))
                     >> down) + b_term[beta[i]];
        io[i] = v;
        top = ftv_abs32(v) > top ? ftv_abs32(v) : top;
    }
    return top;
}

static NOINLINE int ln_scale_lo(int32_t *io, int i, int dim, const int8_t *gamma,
                                const int8_t *beta, const ln_pass_t *p, uint32_t *top_io)
{
    const int32_t ih = p->ih, il = p->il, mg = p->mg, half = p->half_b, s = p->s;
    const int32_t *b_term = p->b_term + 1;
    uint32_t top = *top_io;
    for (; i < dim; i++) {
        int32_t c = io[i];
        int32_t t = gamma[i] * ((c * ih + 8 + ((c * il) >> 16)) >> 4);
        int32_t hi = mg * (t >> 16), v;
        if ((uint32_t)((hi >> (13 + s)) + 1) > 1u)     /* A << (16 - s) outside +-2^29 */
            break;
        v = (int32_t)((uint32_t)hi << (16 - s)) + ((mg * (t & 0xffff) + half) >> s)
            + b_term[beta[i]];
        io[i] = v;
        top = ftv_abs32(v) > top ? ftv_abs32(v) : top;
    }
    *top_io = top;
    return i;
}

/* One LayerNorm row (docs/arithmetic.md section 4) in 32-bit arithmetic,
 * into out, returning max |out| in *amax; returns 0 for the rows it does
 * not take, which go through ftv_layer_norm_ref:
 *   - max x - min x < 2^31: the mean (the rounded average) lies in
 *     [min x, max x], so every x - mean and the peak fit an int32;
 *   - |c| <= 2^15, so c^2 <= 2^30 is exact in uint32 (the sum in 64 bits);
 *   - inv < 2^31: c * inv through the 16-bit halves of inv, as mul_round
 *     does with s = 20: n = (c * (inv >> 16) + 8 + ((c * (inv & 0xffff)) >> 16)) >> 4,
 *     |n| < 2^27;  a root of 0 means every c is 0 (n = 0 whatever inv is);
 *   - the gamma and beta terms as ln_consts says; elements that ln_scale_lo
 *     declines take the 64-bit formula. */
static int ln_row32(int32_t *out, uint32_t *amax, const int32_t *x, int dim,
                    const int8_t *gamma, const int8_t *beta, const ln_consts_t *k)
{
    int32_t lo, hi, mean, sh;
    int64_t sum = ln_stats(x, dim, &lo, &hi);
    uint32_t peak, root, top = 0;
    uint64_t q, inv;
    ln_pass_t p;
    if ((int64_t)hi - lo > FTV_INT32_MAX)
        return 0;
    q = ftv_udiv64((sum < 0 ? 0u - (uint64_t)sum : (uint64_t)sum) + ((uint32_t)dim >> 1),
                   (uint32_t)dim);
    mean = (int32_t)(sum < 0 ? 0u - (uint32_t)q : (uint32_t)q);   /* in [lo, hi] */
    peak = (uint32_t)(hi - mean) > (uint32_t)(mean - lo) ? (uint32_t)(hi - mean)
                                                         : (uint32_t)(mean - lo);
    sh = ftv_bitlen64(peak) - 15;
    if (sh < 0)
        sh = 0;
    root = ftv_isqrt64(ln_center(out, x, dim, mean, sh));
    inv = root ? ftv_udiv64((uint64_t)k->k_dim << FTV_LN_INV_SHIFT, root) : 0;
    if (inv > (uint64_t)FTV_INT32_MAX)
        return 0;
    p.ih = (int32_t)(inv >> 16);
    p.il = (int32_t)(inv & 0xffff);
    p.mg = k->mg;
    p.half_a = k->plan.half_a;
    p.half_b = k->plan.half_b;
    p.down = k->plan.down;
    p.s = k->sg;
    p.b_term = k->b_term;
    if (k->sg >= 16) {
        top = ln_scale_hi(out, dim, gamma, beta, &p, 0);
    } else {
        int i = 0;
        while ((i = ln_scale_lo(out, i, dim, gamma, beta, &p, &top)) < dim) {
            int32_t c = out[i];
            int32_t t = gamma[i] * ((c * p.ih + 8 + ((c * p.il) >> 16)) >> 4);
            int64_t y = ftv_round_shift(ftv_mul64(t, ftv_mult_mant(k->word_g)),
                                        ftv_mult_shift(k->word_g));
            int32_t v = ftv_sat32(ftv_add64(y, k->b_term[beta[i] + 1]));
            out[i] = v;
            top = ftv_abs32(v) > top ? ftv_abs32(v) : top;
            i++;
        }
    }
    *amax = top;
    return 1;
}

int ftv_layer_norm_quantize_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                 const int32_t *x, int rows, int dim,
                                 const int8_t *gamma, const int8_t *beta,
                                 const int32_t *mult2, int32_t *tmp)
{
    ln_consts_t k;
    if (ftv_layer_norm_args(codes, x, rows, dim, gamma, beta, mult2))
        return FTV_ERR_ARG;
    if (rows > 0 && (!row_a || !row_sh || !tmp))
        return FTV_ERR_ARG;
    if (rows == 0)
        return FTV_OK;
    k = ln_consts(dim, mult2);
    for (int t = 0; t < rows; t++) {
        const int32_t *xt = x + (size_t)t * (size_t)dim;
        uint32_t amax;
        if (!k.ok || !ln_row32(tmp, &amax, xt, dim, gamma, beta, &k)) {
            ftv_layer_norm_ref(tmp, xt, 1, dim, gamma, beta, mult2);
            amax = row_amax(tmp, dim);
        }
        row_scale(amax, &row_a[t], &row_sh[t]);
        quant_row32(codes + (size_t)t * (size_t)dim, tmp, dim, amax);
    }
    return FTV_OK;
}

/* ------------------------------------------------------------------- GELU */

/* The table interpolation of ftv_gelu_ref with 32-bit arithmetic: adjacent
 * table entries differ by less than 2^7 and f < 2^6, so (G[i+1] - G[i]) * f
 * + 32 is far inside int32, and >> 6 of it is round_shift(..., 6).  Written
 * with selects instead of branches so compilers can vectorize it. */
int ftv_gelu_fast(int32_t *out, const int32_t *x, int n)
{
    const int32_t lo = -(FTV_GELU_RANGE << FTV_FRAC_BITS), hi = FTV_GELU_RANGE << FTV_FRAC_BITS;
    if (n < 0 || (n > 0 && (!out || !x)))
        return FTV_ERR_ARG;
    for (int j = 0; j < n; j++) {
        int32_t v = x[j];
        int32_t u = v < lo ? 0 : v >= hi ? hi - lo - 1 : v - lo;
        int32_t i = u >> FTV_GELU_STEP_BITS, f = u & ((1 << FTV_GELU_STEP_BITS) - 1);
        int32_t g = ftv_gelu_table[i]
            + (((ftv_gelu_table[i + 1] - ftv_gelu_table[i]) * f
                + (1 << (FTV_GELU_STEP_BITS - 1))) >> FTV_GELU_STEP_BITS);
        out[j] = v < lo ? 0 : v >= hi ? v : g;
    }
    return FTV_OK;
}

/* -------------------------------------------------------------- attention */

/* sat32(round_shift(a * g, s)) for many int32 a and one int32 g and s,
 * 1 <= s <= 63, on 32-bit halves: the product from four 16 x 16 -> 32
 * products, + 2^(s-1) with carry, then the shift of the 64-bit sum
 * (hi:lo) and the saturation test on V >> 31 = hi >> (s - 1). */
typedef struct {
    uint32_t gl, gh, g, g_mask, half_lo, half_hi;
    int32_t s, fast;
    rshift_t plan;
    int64_t gain;
} scale_t;

static scale_t scale_plan(int64_t gain, int32_t s)
{
    scale_t c;
    c.gain = gain;
    c.s = s;
    c.plan = rshift_plan(s);
    c.fast = gain >= -FTV_INT32_MAX && gain <= FTV_INT32_MAX && s >= 1 && s <= 63;
    c.g = (uint32_t)(int32_t)(c.fast ? gain : 0);
    c.gl = c.g & 0xffffu;
    c.gh = c.g >> 16;
    c.g_mask = gain < 0 ? 0xffffffffu : 0;
    c.half_lo = s >= 1 && s <= 32 ? (uint32_t)1 << (s - 1) : 0;
    c.half_hi = s >= 33 && s <= 63 ? (uint32_t)1 << (s - 33) : 0;
    return c;
}

static inline int32_t scale_apply(const scale_t *c, int32_t a)
{
    uint32_t ua = (uint32_t)a, al = ua & 0xffffu, ah = ua >> 16;
    uint32_t ll, mid, mid2, hi, lo, lo2;
    int32_t r;
    if (!c->fast)
        return ftv_sat32(rshift_apply(c->plan, ftv_mul64(a, c->gain)));
    ll = al * c->gl;
    mid = al * c->gh + (ll >> 16);                       /* < 2^32 */
    mid2 = ah * c->gl + (mid & 0xffffu);                 /* < 2^32 */
    hi = ah * c->gh + (mid >> 16) + (mid2 >> 16);
    hi -= ((uint32_t)(a >> 31) & c->g) + (ua & c->g_mask);   /* signed operands */
    lo = (mid2 << 16) | (ll & 0xffffu);
    lo2 = lo + c->half_lo;
    hi += c->half_hi + (lo2 < lo);
    if (c->s < 32) {
        int32_t top = (int32_t)hi >> (c->s - 1);
        if (top != 0 && top != -1)
            return top < 0 ? -FTV_INT32_MAX : FTV_INT32_MAX;
        r = (int32_t)((lo2 >> c->s) | (hi << (32 - c->s)));
    } else {
        r = (int32_t)hi >> (c->s - 32);
    }
    return r < -FTV_INT32_MAX ? -FTV_INT32_MAX : r;
}

/* Scratch of the fast attention, inside ftv_attention_scratch_bytes() (when
 * the layout does not fit, for a few degenerate sizes, ftv_attention_fast
 * runs ftv_attention_ref).  Codes are stored with 128 added (bytes 1..255),
 * four to a 32-bit word, so one word load feeds four products:
 *   kw: n4 / 4 groups of four keys, word [g * hd + d] holds k[4g + i][d] in
 *       byte i; then the n - n4 last keys as plain int8 rows (no offset);
 *   vw: hd4 / 4 groups of four channels, word [c * n + j] holds
 *       v[j][4c + i] in byte i; then the hd - hd4 last channels as plain
 *       int8 columns [d][j] (no offset);
 *   q:  the query row's codes, int32 (also the int8 staging row of K, V, Q);
 *   p:  scores, then exp2 terms, then probabilities, int32. */
typedef struct {
    uint32_t *kw, *vw;
    int8_t *k_tail, *v_tail;
    int32_t *q, *p;
    int ok;
} attn_fast_scratch_t;

static attn_fast_scratch_t attn_fast_carve(void *scratch, size_t bytes, int n_tok,
                                           int head_dim)
{
    attn_fast_scratch_t s;
    uint8_t *base = (uint8_t *)scratch, *p = base;
    size_t n = (size_t)n_tok, hd = (size_t)head_dim, kv = (n * hd + 3) & ~(size_t)3;
    size_t n4 = n & ~(size_t)3, hd4 = hd & ~(size_t)3;
    p += (4 - ((uintptr_t)p & 3)) & 3;
    s.kw = (uint32_t *)(void *)p;
    s.k_tail = (int8_t *)p + n4 * hd;
    s.vw = (uint32_t *)(void *)(p + kv);
    s.v_tail = (int8_t *)(p + kv) + hd4 * n;
    s.q = (int32_t *)(void *)(p + 2 * kv);
    s.p = s.q + (hd > 1 ? hd : 1);
    s.ok = (size_t)((uint8_t *)(s.p + n) - base) <= bytes;
    return s;
}

/* Block absmax scale of a strided column slice (quantize_block's amax). */
static uint32_t block_amax(const int32_t *x, int rows, int k, size_t stride)
{
    uint32_t amax = 0;
    for (int t = 0; t < rows; t++) {
        uint32_t m = row_amax(x + (size_t)t * stride, k);
        amax = m > amax ? m : amax;
    }
    return amax;
}

/* K and V codes of one head (quantize_block of each) into the word layout. */
static void attn_pack_kv(attn_fast_scratch_t s, const int32_t *k_col, const int32_t *v_col,
                         int n_tok, int hd, size_t stride, uint32_t k_amax, uint32_t v_amax)
{
    int8_t *row = (int8_t *)s.q;
    int n4 = n_tok & ~3, hd4 = hd & ~3;
    for (int j = 0; j < n_tok; j++) {
        quant_row32(row, k_col + (size_t)j * stride, hd, k_amax);
        if (j < n4) {
            uint32_t *w = s.kw + (size_t)(j >> 2) * (size_t)hd;
            int lane = 8 * (j & 3);
            for (int d = 0; d < hd; d++) {
                uint32_t u = (uint32_t)(uint8_t)(row[d] ^ 0x80) << lane;
                w[d] = lane ? w[d] | u : u;
            }
        } else {
            memcpy(s.k_tail + (size_t)(j - n4) * (size_t)hd, row, (size_t)hd);
        }
        quant_row32(row, v_col + (size_t)j * stride, hd, v_amax);
        for (int d = 0; d < hd4; d += 4)
            s.vw[(size_t)(d >> 2) * (size_t)n_tok + (size_t)j] =
                (uint32_t)(uint8_t)(row[d] ^ 0x80)
                | (uint32_t)(uint8_t)(row[d + 1] ^ 0x80) << 8
                | (uint32_t)(uint8_t)(row[d + 2] ^ 0x80) << 16
                | (uint32_t)(uint8_t)(row[d + 3] ^ 0x80) << 24;
        for (int d = hd4; d < hd; d++)
            s.v_tail[(size_t)(d - hd4) * (size_t)n_tok + (size_t)j] = row[d];
    }
}

/* Four sums S_i = sum c * (byte i of w) from E_i = sum c * (w >> 8i) mod 2^32:
 * E_i = S_i + 2^8 E_(i+1), so S_i = E_i - (E_(i+1) << 8), all modulo 2^32,
 * which is exact because every S_i (minus `bias`) fits an int32. */
static inline void unmix4(int32_t *out, uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3,
                          uint32_t bias)
{
    out[0] = (int32_t)(e0 - (e1 << 8) - bias);
    out[1] = (int32_t)(e1 - (e2 << 8) - bias);
    out[2] = (int32_t)(e2 - (e3 << 8) - bias);
    out[3] = (int32_t)(e3 - bias);
}

/* e_i += c * (byte i of w and the bytes above it), i = 0..3. */
#define MAC4(e0, e1, e2, e3, c, w) do { \
        uint32_t c_ = (c), w_ = (w); \
        e0 += c_ * w_; \
        e1 += c_ * (w_ >> 8); \
        e2 += c_ * (w_ >> 16); \
        e3 += c_ * (w_ >> 24); \
    } while (0)

/* out[i] = sum_t c[t] * (byte i of w[t]) - bias, i = 0..3, t < len: four
 * packed dot products at once (two terms a turn, then the odd one). */
static inline void dot4(int32_t *out, const int32_t *c, const uint32_t *w, int len,
                        uint32_t bias)
{
    uint32_t e0 = 0, e1 = 0, e2 = 0, e3 = 0;
    const int32_t *end2 = c + (len & ~1);
    /* pointers, not an index: LLVM's Xtensa code then needs no counter and
     * no negative load offsets (which L32I cannot encode) */
    for (; c != end2; c += 2, w += 2) {
        MAC4(e0, e1, e2, e3, (uint32_t)c[0], w[0]);
        MAC4(e0, e1, e2, e3, (uint32_t)c[1], w[1]);
    }
    if (len & 1)
        MAC4(e0, e1, e2, e3, (uint32_t)c[0], w[0]);
    unmix4(out, e0, e1, e2, e3, bias);
}

/* sat32(round_shift(v * gain, s)) for many v of |v| < 2^b (16 <= b <= 23)
 * and one gain and s, on 32-bit words, for 0 <= gain < 2^31 and
 * 17 <= s <= 47.  With u = v + 2^b in [1, 2^(b+1)), u = uh 2^16 + ul and
 * gain = gh 2^16 + gl (all unsigned, uh < 2^8, gh < 2^15):
 *   v gain + 2^(s-1) = 2^16 M + (ul gl mod 2^16),
 *   M = 2^16 uh gh + ul gh + uh gl + (ul gl >> 16) + C,
 *   C = 2^(s-17) - 2^(b-16) gain = c_hi 2^16 + c_lo, 0 <= c_lo < 2^16,
 * so z = floor(M / 2^(s-16)) (s >= 16).  With
 *   mid = ul gh + uh gl + (ul gl >> 16) + c_lo < 2^31 + 2^25 (no wrap),
 *   X = uh gh + c_hi + (mid >> 16) (|X| < 2^23, as |v gain| < 2^54),
 * M = 2^16 X + (mid mod 2^16), and z = X >> (s - 32) for s >= 32,
 * z = X 2^(32-s) + ((mid << 16) >> s) otherwise (modulo 2^32, exact as z
 * fits).  No saturation: when s > b or gain < 2^(s+30-b),
 * |v gain| < 2^(s+30) and |z| <= 2^30. */
typedef struct {
    uint32_t gl, gh, c_lo;
    int32_t c_hi, s, ok;
} zplan_t;

static zplan_t zplan(int64_t gain, int32_t s, int32_t b)
{
    zplan_t p;
    int64_t c;
    p.ok = b >= 16 && b <= 23 && gain >= 0 && gain <= FTV_INT32_MAX && s >= 17 && s <= 47
        && (s > b || (gain >> (s + 30 - b)) == 0);
    p.gl = p.gh = p.c_lo = 0;
    p.c_hi = 0;
    p.s = s;
    if (!p.ok)
        return p;
    p.gl = (uint32_t)gain & 0xffffu;
    p.gh = (uint32_t)gain >> 16;
    c = ((int64_t)1 << (s - 17)) - (gain << (b - 16));
    p.c_lo = (uint32_t)(c & 0xffff);
    p.c_hi = (int32_t)(c >> 16);   /* arithmetic: floor(c / 2^16) */
    return p;
}

/* Scores: |dot| <= 127^2 hd < 2^21 for hd <= 130. */
#define ZPLAN_BITS 21
#define ZPLAN_BIAS ((uint32_t)1 << ZPLAN_BITS)
/* Attention outputs: |o| <= 127 sum p < 2^23 when sum p < 2^16. */
#define OPLAN_BITS 23

/* z of u = dot + 2^21 (see zplan), for s >= 32 (ZSCALE_HI, sr = s - 32)
 * and s < 32 (ZSCALE_LO, p2 = 2^(32-s)). */
#define ZSCALE_X(x, mid, u_, gl, gh, c_lo, c_hi) do { \
        uint32_t u__ = (u_), ul__ = u__ & 0xffffu, uh__ = u__ >> 16; \
        uint32_t ll__ = ul__ * (gl); \
        mid = ul__ * (gh) + uh__ * (gl) + (ll__ >> 16) + (c_lo); \
        x = (int32_t)(uh__ * (gh)) + (c_hi) + (int32_t)(mid >> 16); \
    } while (0)
#define ZSCALE_HI(z, u_, gl, gh, c_lo, c_hi, sr) do { \
        uint32_t m__; int32_t x__; \
        ZSCALE_X(x__, m__, u_, gl, gh, c_lo, c_hi); \
        (z) = x__ >> (sr); \
    } while (0)
#define ZSCALE_LO(z, u_, gl, gh, c_lo, c_hi, p2, s) do { \
        uint32_t m__; int32_t x__; \
        ZSCALE_X(x__, m__, u_, gl, gh, c_lo, c_hi); \
        (z) = (int32_t)((uint32_t)x__ * (p2) + ((m__ << 16) >> (s))); \
    } while (0)

static int32_t zscale(const zplan_t *p, uint32_t u)
{
    int32_t z;
    if (p->s >= 32)
        ZSCALE_HI(z, u, p->gl, p->gh, p->c_lo, p->c_hi, p->s - 32);
    else
        ZSCALE_LO(z, u, p->gl, p->gh, p->c_lo, p->c_hi, (uint32_t)1 << (32 - p->s), p->s);
    return z;
}

/* Dots of one query row, offset: z[j] = dot_j + off (modulo 2^32), returning
 * the largest z[j] as unsigned.  dot_j = sum_d q[d] * k_j[d]
 * = sum q * (k + 128) - 128 sum q (|dot| <= 127^2 * hd < 2^31 for
 * hd <= 2^17). */
static uint32_t attn_scores(int32_t *z, const int32_t *q, attn_fast_scratch_t s, int n, int hd,
                            int32_t qsum, uint32_t off)
{
    uint32_t top = 0;
    uint32_t bias = ((uint32_t)qsum << 7) - off;
    int n4 = n & ~3;
    for (int j = 0; j < n4; j += 4) {
        dot4(z + j, q, s.kw + (size_t)(j >> 2) * (size_t)hd, hd, bias);
        for (int i = 0; i < 4; i++)
            top = (uint32_t)z[j + i] > top ? (uint32_t)z[j + i] : top;
    }
    for (int j = n4; j < n; j++) {
        const int8_t *kj = s.k_tail + (size_t)(j - n4) * (size_t)hd;
        int32_t acc = 0;
        for (int d = 0; d < hd; d++)
            acc += q[d] * kj[d];
        z[j] = (int32_t)((uint32_t)acc + off);
        top = (uint32_t)z[j] > top ? (uint32_t)z[j] : top;
    }
    return top;
}

/* e = EXP2[d & 255] >> (d >> 8) for d = top - z < 2^12, else 0. */
#define EXP2_TERM(e, top, z) do { \
        uint32_t d__ = (uint32_t)(top) - (uint32_t)(z), w__ = d__ >> FTV_SCORE_FRAC_BITS; \
        (e) = w__ < 16 ? (uint32_t)ftv_exp2_table[d__ & (FTV_EXP2_SIZE - 1)] >> w__ : 0; \
    } while (0)

/* softmax_row of z (given its max), in place: e from the exp2 table, then
 * p = round_shift(e * R, 31) with e <= 2^15 and R = udiv(2^46, sum e) <= 2^31,
 * split as R = Rh 2^16 + Rl:  (e R + 2^30) >> 31
 *   = (e Rh + ((e Rl + 2^30) >> 16)) >> 15,  e Rh <= 2^30, e Rl + 2^30 < 2^32.
 * The sum of e is at most 2^15 * n < 2^32.  Returns the sum of p (mod 2^32).
 * With zp, z holds dot + 2^21 and each score is scaled here (ZSCALE_*),
 * the first pass then reading each dot once. */
static uint32_t attn_softmax16(int32_t *z, int n, int32_t top, const zplan_t *zp)
{
    uint32_t sum = 0, recip, rh, rl, psum = 0;
    if (!zp) {
        for (int j = 0; j < n; j++) {
            uint32_t e;
            EXP2_TERM(e, top, z[j]);
            z[j] = (int32_t)e;
            sum += e;
        }
    } else if (zp->s >= 32) {
        const uint32_t gl = zp->gl, gh = zp->gh, c_lo = zp->c_lo;
        const int32_t c_hi = zp->c_hi, sr = zp->s - 32;
        for (int j = 0; j < n; j++) {
            int32_t v;
            uint32_t e;
            ZSCALE_HI(v, (uint32_t)z[j], gl, gh, c_lo, c_hi, sr);
            EXP2_TERM(e, top, v);
            z[j] = (int32_t)e;
            sum += e;
        }
    } else {
        const uint32_t gl = zp->gl, gh = zp->gh, c_lo = zp->c_lo;
        const uint32_t p2 = (uint32_t)1 << (32 - zp->s);
        const int32_t c_hi = zp->c_hi, zs = zp->s;
        for (int j = 0; j < n; j++) {
            int32_t v;
            uint32_t e;
            ZSCALE_LO(v, (uint32_t)z[j], gl, gh, c_lo, c_hi, p2, zs);
            EXP2_TERM(e, top, v);
            z[j] = (int32_t)e;
            sum += e;
        }
    }
    recip = (uint32_t)ftv_udiv64((uint64_t)1 << (2 * FTV_PROB_FRAC_BITS + 16), sum);
    rh = recip >> 16;
    rl = recip & 0xffffu;
    for (int j = 0; j < n; j++) {
        uint32_t e = (uint32_t)z[j];
        uint32_t p = (e * rh + ((e * rl + (1u << 30)) >> 16)) >> 15;
        z[j] = (int32_t)p;
        psum += p;
    }
    return psum;
}

/* o[d] = sum_j p[j] * v[j][d] for every channel: four channels per word,
 * o = sum p * (v + 128) - 128 sum p (|o| < 127 (2^15 + n) < 2^31). */
static void attn_weighted_sum(int32_t *o, const int32_t *p, attn_fast_scratch_t s, int n,
                              int hd, uint32_t psum)
{
    int hd4 = hd & ~3;
    uint32_t bias = psum << 7;
    for (int d = 0; d < hd4; d += 4)
        dot4(o + d, p, s.vw + (size_t)(d >> 2) * (size_t)n, n, bias);
    for (int d = hd4; d < hd; d++) {
        const int8_t *vd = s.v_tail + (size_t)(d - hd4) * (size_t)n;
        int32_t acc = 0;
        for (int j = 0; j < n; j++)
            acc += p[j] * vd[j];
        o[d] = acc;
    }
}

int ftv_attention_fast(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                       int head_dim, int32_t logit_mult, void *scratch,
                       size_t scratch_bytes)
{
    size_t need = ftv_attention_scratch_bytes(n_tok, head_dim);
    size_t dim, stride;
    int32_t m_l = ftv_mult_mant(logit_mult), s_l = ftv_mult_shift(logit_mult);
    attn_fast_scratch_t s;
    if (need == 0 || num_heads < 1 || (uint64_t)num_heads * (uint64_t)head_dim * 3
            > (uint64_t)FTV_INT32_MAX)
        return FTV_ERR_ARG;
    if (!out || !qkv || !scratch || scratch_bytes < need)
        return FTV_ERR_ARG;
    s = attn_fast_carve(scratch, scratch_bytes, n_tok, head_dim);
    if (!s.ok)
        return ftv_attention_ref(out, qkv, n_tok, num_heads, head_dim, logit_mult, scratch,
                                 scratch_bytes);
    dim = (size_t)num_heads * (size_t)head_dim;
    stride = 3 * dim;
    for (int h = 0; h < num_heads; h++) {
        const int32_t *q_col = qkv + (size_t)h * (size_t)head_dim;
        const int32_t *k_col = q_col + dim, *v_col = q_col + 2 * dim;
        int32_t k_a, k_sh, v_a, v_sh;
        uint32_t k_amax = block_amax(k_col, n_tok, head_dim, stride);
        uint32_t v_amax = block_amax(v_col, n_tok, head_dim, stride);
        scale_t out_scale;
        zplan_t op;

        row_scale(k_amax, &k_a, &k_sh);
        row_scale(v_amax, &v_a, &v_sh);
        attn_pack_kv(s, k_col, v_col, n_tok, head_dim, stride, k_amax, v_amax);
        out_scale = scale_plan((int64_t)v_a * FTV_INV127_MANT,
                               FTV_INV127_SHIFT + FTV_PROB_FRAC_BITS - v_sh);
        op = zplan((int64_t)v_a * FTV_INV127_MANT,
                   FTV_INV127_SHIFT + FTV_PROB_FRAC_BITS - v_sh, OPLAN_BITS);

        for (int t = 0; t < n_tok; t++) {
            const int32_t *q_t = q_col + (size_t)t * stride;
            int32_t q_a, q_sh, top, qsum = 0;
            int32_t *out_t = out + (size_t)t * dim + (size_t)h * (size_t)head_dim;
            const int8_t *q8 = (const int8_t *)s.q;
            uint32_t amax = row_amax(q_t, head_dim), psum, top_u;
            int64_t gain;
            scale_t scale;
            zplan_t zp;
            row_scale(amax, &q_a, &q_sh);
            quant_row32((int8_t *)s.q, q_t, head_dim, amax);
            for (int d = head_dim - 1; d >= 0; d--) {   /* widen in place, top down */
                int32_t c = q8[d];
                s.q[d] = c;
                qsum += c;
            }
            gain = ftv_round_shift(ftv_mul64((int64_t)q_a * k_a, m_l), 16);
            scale = scale_plan(gain, s_l - q_sh - k_sh);
            zp = zplan(gain, s_l - q_sh - k_sh, head_dim <= 130 ? ZPLAN_BITS : 0);
            top_u = attn_scores(s.p, s.q, s, n_tok, head_dim, qsum, zp.ok ? ZPLAN_BIAS : 0);
            if (zp.ok) {
                top = zscale(&zp, top_u);   /* gain >= 0: z grows with dot */
            } else {
                top = -FTV_INT32_MAX;
                for (int j = 0; j < n_tok; j++) {
                    int32_t v = scale_apply(&scale, s.p[j]);
                    s.p[j] = v;
                    top = v > top ? v : top;
                }
            }
            psum = attn_softmax16(s.p, n_tok, top, zp.ok ? &zp : NULL);
            attn_weighted_sum(s.q, s.p, s, n_tok, head_dim, psum);
            if (op.ok && psum < (1u << 16)) {
                const uint32_t gl = op.gl, gh = op.gh, c_lo = op.c_lo;
                const int32_t c_hi = op.c_hi, os = op.s;
                const uint32_t ob = (uint32_t)1 << OPLAN_BITS;
                if (os >= 32) {
                    for (int d = 0; d < head_dim; d++)
                        ZSCALE_HI(out_t[d], (uint32_t)s.q[d] + ob, gl, gh, c_lo, c_hi, os - 32);
                } else {
                    for (int d = 0; d < head_dim; d++)
                        ZSCALE_LO(out_t[d], (uint32_t)s.q[d] + ob, gl, gh, c_lo, c_hi,
                                  (uint32_t)1 << (32 - os), os);
                }
            } else {
                for (int d = 0; d < head_dim; d++)
                    out_t[d] = scale_apply(&out_scale, s.q[d]);
            }
        }
    }
    return FTV_OK;
}
