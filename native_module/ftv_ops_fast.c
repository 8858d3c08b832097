/* Optimized twins of the per-element operators on the matmul's path: the
 * activation quantization before every linear layer and the
 * requantization after it.  Each is tested bit-equal to its `_ref` twin
 * (ftv_ops_ref.c) on random and extreme inputs; the comments say why the
 * narrower arithmetic is exact. */
#include <string.h>

#include "ftv_ops.h"
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
