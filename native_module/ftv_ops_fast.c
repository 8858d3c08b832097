/* Optimized twins of the operators that run on every token: activation
 * quantization, requantization (fused with the residual add), LayerNorm +
 * quantization, GELU and attention.  Each is tested bit-equal to its `_ref`
 * twin (ftv_ops_ref.c) on random and extreme inputs; the comments say why
 * the narrower arithmetic is exact.  They keep 64-bit products out of the
 * inner loops (32-bit cores: one multiply instruction pair, no libgcc call)
 * and are written so compilers can vectorize the int8 loops. */
#include <string.h>

#include "ftv_ops.h"
#include "ftv_tables.h"
#include "ftv_util.h"

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

int ftv_layer_norm_quantize_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                 const int32_t *x, int rows, int dim,
                                 const int8_t *gamma, const int8_t *beta,
                                 const int32_t *mult2, int32_t *tmp)
{
    if (rows < 0 || dim < 1 || dim > FTV_MAX_DIM)
        return FTV_ERR_ARG;
    if (rows > 0 && (!codes || !row_a || !row_sh || !x || !gamma || !beta || !mult2 || !tmp))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        uint32_t amax;
        ftv_layer_norm_ref(tmp, x + (size_t)t * (size_t)dim, 1, dim, gamma, beta, mult2);
        amax = row_amax(tmp, dim);
        row_scale(amax, &row_a[t], &row_sh[t]);
        quant_row32(codes + (size_t)t * (size_t)dim, tmp, dim, amax);
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

static int requant_args(const int32_t *out, const int32_t *acc, const int32_t *row_a,
                        const int32_t *row_sh, int rows, int n_out, const int32_t *mult)
{
    if (rows < 0 || n_out < 0 || (!row_a) != (!row_sh))
        return FTV_ERR_ARG;
    if (rows > 0 && n_out > 0 && (!out || !acc || !mult))
        return FTV_ERR_ARG;
    return FTV_OK;
}

/* The shared body of ftv_requant_fast (add == 0) and ftv_requant_add_fast. */
static void requant_rows(int32_t *out, const int32_t *acc, const int32_t *row_a,
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

int ftv_requant_fast(int32_t *out, const int32_t *acc,
                     const int32_t *row_a, const int32_t *row_sh,
                     int rows, int n_out, const int32_t *mult, int per_row_mult,
                     const int16_t *bias, int bias_frac)
{
    if (requant_args(out, acc, row_a, row_sh, rows, n_out, mult))
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
    if (requant_args(x, acc, row_a, row_sh, rows, n_out, mult))
        return FTV_ERR_ARG;
    if (n_out > 0)
        requant_rows(x, acc, row_a, row_sh, rows, n_out, mult, per_row_mult, bias,
                     bias_frac, 1);
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

/* Scratch: the layout of ftv_attention_ref (ftv_attention_scratch_bytes),
 * with V stored transposed (hd rows of n codes) and the probabilities also
 * as int16 (p16, after acc). */
typedef struct {
    int8_t *k, *vt, *q;
    int32_t *scores, *acc;
    int16_t *p16;
} attn_fast_scratch_t;

static attn_fast_scratch_t attn_fast_carve(void *scratch, int n_tok, int head_dim)
{
    attn_fast_scratch_t s;
    uint8_t *p = (uint8_t *)scratch;
    size_t n = (size_t)n_tok, hd = (size_t)head_dim, codes = 2 * n * hd + hd;
    p += (4 - ((uintptr_t)p & 3)) & 3;
    s.k = (int8_t *)p;
    s.vt = s.k + n * hd;
    s.q = s.vt + n * hd;
    s.scores = (int32_t *)(void *)(p + ((codes + 3) & ~(size_t)3));
    s.acc = s.scores + n;
    s.p16 = (int16_t *)(void *)(s.acc + hd);
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

/* Scores of one query row: z[j] = sat32(round_shift(dot_j * gain, shift)),
 * returning max z.  When gain fits 32 bits (always, for multipliers the
 * packer writes: gain < 2^31) the product is a widening 32 x 32 -> 64
 * multiply, a single instruction pair on 32-bit cores. */
static int32_t attn_scores(int32_t *z, const int8_t *q, const int8_t *k, int n, int hd,
                           int64_t gain, rshift_t plan)
{
    int32_t top = -FTV_INT32_MAX;
    int narrow = gain >= -FTV_INT32_MAX && gain <= FTV_INT32_MAX;
    int32_t gain32 = (int32_t)(narrow ? gain : 0);
    for (int j = 0; j < n; j++) {
        const int8_t *kj = k + (size_t)j * (size_t)hd;
        int32_t dot = 0, v;
        for (int d = 0; d < hd; d++)
            dot += (int32_t)q[d] * kj[d];
        v = ftv_sat32(rshift_apply(plan, narrow ? (int64_t)dot * gain32
                                                : ftv_mul64(dot, gain)));
        z[j] = v;
        top = v > top ? v : top;
    }
    return top;
}

/* softmax_row of z (given its max) into p16: e from the exp2 table, then
 * p = round_shift(e * R, 31) with e <= 2^15 and R <= 2^31 (unsigned
 * 32 x 32 -> 64); the sum of e is at most 2^15 * n < 2^32.  p = 2^15 (all
 * the weight on one token) does not fit int16: it is stored as 2^15 - 1 and
 * that token's index returned (else -1), for the caller to add the missing
 * 1 * v.  Every other p is < 2^15. */
static int attn_softmax16(int16_t *p16, int32_t *z, int n, int32_t top)
{
    uint32_t sum = 0, recip;
    int full = -1;
    for (int j = 0; j < n; j++) {
        uint32_t d = (uint32_t)top - (uint32_t)z[j];
        uint32_t whole = d >> FTV_SCORE_FRAC_BITS;
        uint32_t e = whole < 16 ? (uint32_t)ftv_exp2_table[d & (FTV_EXP2_SIZE - 1)] >> whole : 0;
        z[j] = (int32_t)e;
        sum += e;
    }
    recip = (uint32_t)ftv_udiv64((uint64_t)1 << (2 * FTV_PROB_FRAC_BITS + 16), sum);
    for (int j = 0; j < n; j++) {
        uint32_t p = (uint32_t)(((uint64_t)(uint32_t)z[j] * recip
                                 + ((uint64_t)1 << (FTV_PROB_FRAC_BITS + 15)))
                                >> (FTV_PROB_FRAC_BITS + 16));
        if (p > 32767) {
            full = j;
            p = 32767;
        }
        p16[j] = (int16_t)p;
    }
    return full;
}

int ftv_attention_fast(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                       int head_dim, int32_t logit_mult, void *scratch,
                       size_t scratch_bytes)
{
    size_t need = ftv_attention_scratch_bytes(n_tok, head_dim);
    size_t dim, stride, n = (size_t)n_tok;
    int32_t m_l = ftv_mult_mant(logit_mult), s_l = ftv_mult_shift(logit_mult);
    attn_fast_scratch_t s;
    if (need == 0 || num_heads < 1 || (uint64_t)num_heads * (uint64_t)head_dim * 3
            > (uint64_t)FTV_INT32_MAX)
        return FTV_ERR_ARG;
    if (!out || !qkv || !scratch || scratch_bytes < need)
        return FTV_ERR_ARG;
    s = attn_fast_carve(scratch, n_tok, head_dim);
    dim = (size_t)num_heads * (size_t)head_dim;
    stride = 3 * dim;
    for (int h = 0; h < num_heads; h++) {
        const int32_t *q_col = qkv + (size_t)h * (size_t)head_dim;
        const int32_t *v_col = q_col + 2 * dim;
        int32_t k_a, k_sh, v_a, v_sh;
        uint32_t v_amax;
        rshift_t out_plan;
        int64_t out_factor;

        v_amax = block_amax(q_col + dim, n_tok, head_dim, stride);
        row_scale(v_amax, &k_a, &k_sh);
        for (int j = 0; j < n_tok; j++)
            quant_row32(s.k + (size_t)j * (size_t)head_dim, q_col + dim + (size_t)j * stride,
                        head_dim, v_amax);
        /* V codes transposed: vt[d][j], one row of quantize_block at a time */
        v_amax = block_amax(v_col, n_tok, head_dim, stride);
        row_scale(v_amax, &v_a, &v_sh);
        for (int j = 0; j < n_tok; j++) {
            quant_row32(s.q, v_col + (size_t)j * stride, head_dim, v_amax);
            for (int d = 0; d < head_dim; d++)
                s.vt[(size_t)d * n + (size_t)j] = s.q[d];
        }
        out_factor = (int64_t)v_a * FTV_INV127_MANT;
        out_plan = rshift_plan(FTV_INV127_SHIFT + FTV_PROB_FRAC_BITS - v_sh);

        for (int t = 0; t < n_tok; t++) {
            const int32_t *q_t = q_col + (size_t)t * stride;
            int32_t q_a, q_sh, top;
            int32_t *out_t = out + (size_t)t * dim + (size_t)h * (size_t)head_dim;
            uint32_t amax = row_amax(q_t, head_dim);
            int64_t gain;
            int full;
            row_scale(amax, &q_a, &q_sh);
            quant_row32(s.q, q_t, head_dim, amax);
            gain = ftv_round_shift(ftv_mul64((int64_t)q_a * k_a, m_l), 16);
            top = attn_scores(s.scores, s.q, s.k, n_tok, head_dim, gain,
                              rshift_plan(s_l - q_sh - k_sh));
            full = attn_softmax16(s.p16, s.scores, n_tok, top);
            for (int d = 0; d < head_dim; d++) {
                const int8_t *vt_d = s.vt + (size_t)d * n;
                int32_t o = 0;
                for (int j = 0; j < n_tok; j++)   /* int16 x int8 dot: pmaddwd-shaped */
                    o += (int32_t)s.p16[j] * (int16_t)vt_d[j];
                if (full >= 0)
                    o += vt_d[full];
                out_t[d] = ftv_sat32(rshift_apply(out_plan, ftv_mul64(o, out_factor)));
            }
        }
    }
    return FTV_OK;
}
