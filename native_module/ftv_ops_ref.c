/* Reference operators: each one the plain reading of its section of
 * docs/arithmetic.md and of host/ftervit/reference/ops.py, with int64
 * intermediates throughout.  Written to be read; ftv_ops_fast.c holds the
 * twins that are written to be fast and are tested equal to these. */
#include <string.h>

#include "ftv_args.h"
#include "ftv_ops.h"
#include "ftv_tables.h"
#include "ftv_util.h"

uint32_t ftv_isqrt64(uint64_t v)
{
    uint64_t root = 0, bit = (uint64_t)1 << 62;
    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}

/* ------------------------------------------------ activation quantization */

/* (a, sh, r) of docs/arithmetic.md section 2 for an absmax. */
static void quant_scale(uint64_t amax, int32_t *a, int32_t *sh, int64_t *r)
{
    int32_t s = ftv_bitlen64(amax) - 16;
    if (s < 0)
        s = 0;
    *sh = s;
    *a = (int32_t)(amax >> s);
    *r = (int64_t)ftv_udiv64((uint64_t)FTV_ACT_QMAX << FTV_QUANT_SHIFT,
                             (uint32_t)(*a > 0 ? *a : 1));
}

static int8_t quant_code(int32_t x, int32_t sh, int64_t r)
{
    int64_t code = ftv_round_shift((int64_t)(x >> sh) * r, FTV_QUANT_SHIFT);
    if (code > FTV_ACT_QMAX)
        code = FTV_ACT_QMAX;
    if (code < -FTV_ACT_QMAX)
        code = -FTV_ACT_QMAX;
    return (int8_t)code;
}

static void quant_row(int8_t *codes, const int32_t *x, int k, int32_t a, int32_t sh,
                      int64_t r)
{
    for (int i = 0; i < k; i++)
        codes[i] = a > 0 ? quant_code(x[i], sh, r) : 0;
}

int ftv_quantize_rows_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                          const int32_t *x, int rows, int k, int x_stride)
{
    if (rows < 0 || k < 0 || x_stride < k)
        return FTV_ERR_ARG;
    if (rows > 0 && (!codes || !row_a || !row_sh || (k > 0 && !x)))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        const int32_t *xt = x + (size_t)t * (size_t)x_stride;
        uint32_t amax = 0;
        int64_t r;
        for (int i = 0; i < k; i++)
            if (ftv_abs32(xt[i]) > amax)
                amax = ftv_abs32(xt[i]);
        quant_scale(amax, &row_a[t], &row_sh[t], &r);
        quant_row(codes + (size_t)t * (size_t)k, xt, k, row_a[t], row_sh[t], r);
    }
    return FTV_OK;
}

int ftv_quantize_block_ref(int8_t *codes, int32_t *a, int32_t *sh,
                           const int32_t *x, int rows, int k, int x_stride)
{
    uint32_t amax = 0;
    int64_t r;
    if (rows < 0 || k < 0 || x_stride < k || !a || !sh)
        return FTV_ERR_ARG;
    if (rows > 0 && k > 0 && (!codes || !x))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++)
        for (int i = 0; i < k; i++)
            if (ftv_abs32(x[(size_t)t * (size_t)x_stride + i]) > amax)
                amax = ftv_abs32(x[(size_t)t * (size_t)x_stride + i]);
    quant_scale(amax, a, sh, &r);
    for (int t = 0; t < rows; t++)
        quant_row(codes + (size_t)t * (size_t)k, x + (size_t)t * (size_t)x_stride, k,
                  *a, *sh, r);
    return FTV_OK;
}

/* --------------------------------------------------------- requantization */

/* One output value of docs/arithmetic.md section 3, before saturation's
 * partner: sat32(round_shift(acc * a * m, s - sh) + B). */
static int32_t requant_one(int32_t acc, int32_t a, int32_t sh, int32_t word,
                           const int16_t *bias, int o, int bias_frac)
{
    int64_t prod = ftv_mul64(ftv_mul64(acc, a), ftv_mult_mant(word));
    int64_t y = ftv_round_shift(prod, ftv_mult_shift(word) - sh);
    int64_t b = bias ? ftv_q16_to_x12(bias[o], bias_frac) : 0;
    return ftv_sat32(ftv_add64(y, b));
}

int ftv_requant_ref(int32_t *out, const int32_t *acc,
                    const int32_t *row_a, const int32_t *row_sh,
                    int rows, int n_out, const int32_t *mult, int per_row_mult,
                    const int16_t *bias, int bias_frac)
{
    if (ftv_requant_args(out, acc, row_a, row_sh, rows, n_out, mult))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        int32_t a = row_a ? row_a[t] : 1;
        int32_t sh = row_a ? row_sh[t] : FTV_FRAC_BITS;
        for (int o = 0; o < n_out; o++) {
            size_t i = (size_t)t * (size_t)n_out + (size_t)o;
            out[i] = requant_one(acc[i], a, sh, mult[per_row_mult ? o : 0], bias, o,
                                 bias_frac);
        }
    }
    return FTV_OK;
}

int ftv_requant_add_ref(int32_t *x, const int32_t *acc,
                        const int32_t *row_a, const int32_t *row_sh,
                        int rows, int n_out, const int32_t *mult, int per_row_mult,
                        const int16_t *bias, int bias_frac)
{
    if (ftv_requant_args(x, acc, row_a, row_sh, rows, n_out, mult))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        int32_t a = row_a ? row_a[t] : 1;
        int32_t sh = row_a ? row_sh[t] : FTV_FRAC_BITS;
        for (int o = 0; o < n_out; o++) {
            size_t i = (size_t)t * (size_t)n_out + (size_t)o;
            int32_t y = requant_one(acc[i], a, sh, mult[per_row_mult ? o : 0], bias, o,
                                    bias_frac);
            x[i] = ftv_sat32((int64_t)x[i] + y);
        }
    }
    return FTV_OK;
}

int ftv_add_sat_ref(int32_t *x, const int32_t *y, int n)
{
    if (n < 0 || (n > 0 && (!x || !y)))
        return FTV_ERR_ARG;
    for (int i = 0; i < n; i++)
        x[i] = ftv_sat32((int64_t)x[i] + y[i]);
    return FTV_OK;
}

/* -------------------------------------------------------------- LayerNorm */

/* One row of docs/arithmetic.md section 4. */
static void layer_norm_row(int32_t *out, const int32_t *x, int dim, const int8_t *gamma,
                           const int8_t *beta, const int32_t *mult2, uint32_t k_dim)
{
    int64_t sum = 0, mean;
    uint64_t peak = 0, squares = 0, q, inv;
    int32_t sh, root;
    int32_t mg = ftv_mult_mant(mult2[0]), sg = ftv_mult_shift(mult2[0]);
    int32_t mb = ftv_mult_mant(mult2[1]), sb = ftv_mult_shift(mult2[1]);

    for (int i = 0; i < dim; i++)
        sum += x[i];
    /* div_round(sum, dim): half away from zero */
    q = ftv_udiv64((sum < 0 ? 0u - (uint64_t)sum : (uint64_t)sum) + ((uint32_t)dim >> 1),
                   (uint32_t)dim);
    mean = sum < 0 ? -(int64_t)q : (int64_t)q;
    for (int i = 0; i < dim; i++) {
        int64_t c = x[i] - mean;
        uint64_t m = c < 0 ? (uint64_t)-c : (uint64_t)c;
        if (m > peak)
            peak = m;
    }
    sh = ftv_bitlen64(peak) - 15;
    if (sh < 0)
        sh = 0;
    for (int i = 0; i < dim; i++) {
        int64_t c = (x[i] - mean) >> sh;
        squares += (uint64_t)(c * c);
    }
    root = (int32_t)ftv_isqrt64(squares);
    inv = ftv_udiv64((uint64_t)k_dim << FTV_LN_INV_SHIFT, (uint32_t)(root > 0 ? root : 1));
    for (int i = 0; i < dim; i++) {
        int64_t c = (x[i] - mean) >> sh;
        int64_t normed = root > 0
            ? ftv_round_shift(ftv_mul64(c, (int64_t)inv), FTV_LN_INV_SHIFT) : 0;
        int64_t g = ftv_round_shift(ftv_mul64(normed, (int64_t)gamma[i] * mg), sg);
        int64_t b = ftv_round_shift((int64_t)beta[i] * mb, sb - FTV_FRAC_BITS);
        out[i] = ftv_sat32(ftv_add64(g, b));
    }
}

static uint32_t layer_norm_k_dim(int dim)
{
    return ftv_isqrt64((uint64_t)dim << (2 * FTV_FRAC_BITS));
}

int ftv_layer_norm_ref(int32_t *out, const int32_t *x, int rows, int dim,
                       const int8_t *gamma, const int8_t *beta, const int32_t *mult2)
{
    uint32_t k_dim;
    if (ftv_layer_norm_args(out, x, rows, dim, gamma, beta, mult2))
        return FTV_ERR_ARG;
    k_dim = layer_norm_k_dim(dim);
    for (int t = 0; t < rows; t++)
        layer_norm_row(out + (size_t)t * (size_t)dim, x + (size_t)t * (size_t)dim, dim,
                       gamma, beta, mult2, k_dim);
    return FTV_OK;
}

int ftv_layer_norm_quantize_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                const int32_t *x, int rows, int dim,
                                const int8_t *gamma, const int8_t *beta,
                                const int32_t *mult2, int32_t *tmp)
{
    if (ftv_layer_norm_args(codes, x, rows, dim, gamma, beta, mult2))
        return FTV_ERR_ARG;
    if (rows > 0 && (!row_a || !row_sh || !tmp))
        return FTV_ERR_ARG;
    for (int t = 0; t < rows; t++) {
        ftv_layer_norm_ref(tmp, x + (size_t)t * (size_t)dim, 1, dim, gamma, beta, mult2);
        ftv_quantize_rows_ref(codes + (size_t)t * (size_t)dim, row_a + t, row_sh + t, tmp,
                              1, dim, dim);
    }
    return FTV_OK;
}

/* ------------------------------------------------------------------- GELU */

int ftv_gelu_ref(int32_t *out, const int32_t *x, int n)
{
    const int32_t lo = -(FTV_GELU_RANGE << FTV_FRAC_BITS), hi = FTV_GELU_RANGE << FTV_FRAC_BITS;
    if (n < 0 || (n > 0 && (!out || !x)))
        return FTV_ERR_ARG;
    for (int j = 0; j < n; j++) {
        int32_t v = x[j];
        if (v < lo) {
            out[j] = 0;
        } else if (v >= hi) {
            out[j] = v;
        } else {
            int32_t u = v - lo;
            int32_t i = u >> FTV_GELU_STEP_BITS;
            int32_t f = u & ((1 << FTV_GELU_STEP_BITS) - 1);
            int32_t step = ftv_gelu_table[i + 1] - ftv_gelu_table[i];
            out[j] = ftv_gelu_table[i]
                + (int32_t)ftv_round_shift((int64_t)step * f, FTV_GELU_STEP_BITS);
        }
    }
    return FTV_OK;
}

/* -------------------------------------------------------------- attention */

int ftv_softmax_row_ref(int32_t *probs, const int32_t *scores, int n)
{
    int32_t top;
    uint64_t sum = 0, recip;
    if (n < 1 || n > FTV_MAX_TOKENS || !probs || !scores)
        return FTV_ERR_ARG;
    top = scores[0];
    for (int j = 1; j < n; j++)
        if (scores[j] > top)
            top = scores[j];
    for (int j = 0; j < n; j++) {
        uint32_t d = (uint32_t)((int64_t)top - scores[j]);
        uint32_t whole = d >> FTV_SCORE_FRAC_BITS;
        int32_t e = whole < 16 ? ftv_exp2_table[d & (FTV_EXP2_SIZE - 1)] >> whole : 0;
        probs[j] = e;
        sum += (uint32_t)e;
    }
    recip = ftv_udiv64((uint64_t)1 << (2 * FTV_PROB_FRAC_BITS + 16), (uint32_t)sum);
    for (int j = 0; j < n; j++)
        probs[j] = (int32_t)ftv_round_shift((int64_t)probs[j] * (int64_t)recip,
                                            FTV_PROB_FRAC_BITS + 16);
    return FTV_OK;
}

/* Scratch of one head: K and V codes (n * hd each), one query row's codes
 * (hd), then int32 scores (n) and the weighted sum (hd); ftv_attention_fast
 * also keeps n int16 probabilities after those. */
typedef struct {
    int8_t *k, *v, *q;
    int32_t *scores, *acc;
} attn_scratch_t;

static uint64_t attn_bytes(int n_tok, int head_dim)
{
    uint64_t n = (uint64_t)n_tok, hd = (uint64_t)head_dim;
    uint64_t codes = 2 * n * hd + hd;
    return 3 + ((codes + 3) & ~(uint64_t)3) + 4 * n + 4 * hd + 2 * n;
}

size_t ftv_attention_scratch_bytes(int n_tok, int head_dim)
{
    uint64_t bytes;
    if (n_tok < 1 || n_tok > FTV_MAX_TOKENS || head_dim < 1 || head_dim > FTV_MAX_DIM)
        return 0;
    bytes = attn_bytes(n_tok, head_dim);
    return bytes > (uint64_t)(size_t)-1 ? 0 : (size_t)bytes;
}

static attn_scratch_t attn_carve(void *scratch, int n_tok, int head_dim)
{
    attn_scratch_t s;
    uint8_t *p = (uint8_t *)scratch;
    size_t n = (size_t)n_tok, hd = (size_t)head_dim, codes = 2 * n * hd + hd;
    p += (4 - ((uintptr_t)p & 3)) & 3;
    s.k = (int8_t *)p;
    s.v = s.k + n * hd;
    s.q = s.v + n * hd;
    s.scores = (int32_t *)(void *)(p + ((codes + 3) & ~(size_t)3));
    s.acc = s.scores + n;
    return s;
}

int ftv_attention_ref(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                      int head_dim, int32_t logit_mult, void *scratch,
                      size_t scratch_bytes)
{
    size_t need = ftv_attention_scratch_bytes(n_tok, head_dim);
    size_t dim, stride;
    int32_t m_l = ftv_mult_mant(logit_mult), s_l = ftv_mult_shift(logit_mult);
    attn_scratch_t s;
    if (need == 0 || num_heads < 1 || (uint64_t)num_heads * (uint64_t)head_dim * 3
            > (uint64_t)FTV_INT32_MAX)
        return FTV_ERR_ARG;
    if (!out || !qkv || !scratch || scratch_bytes < need)
        return FTV_ERR_ARG;
    s = attn_carve(scratch, n_tok, head_dim);
    dim = (size_t)num_heads * (size_t)head_dim;
    stride = 3 * dim;
    for (int h = 0; h < num_heads; h++) {
        const int32_t *q_col = qkv + (size_t)h * (size_t)head_dim;
        int32_t k_a, k_sh, v_a, v_sh;
        ftv_quantize_block_ref(s.k, &k_a, &k_sh, q_col + dim, n_tok, head_dim, (int)stride);
        ftv_quantize_block_ref(s.v, &v_a, &v_sh, q_col + 2 * dim, n_tok, head_dim,
                               (int)stride);
        for (int t = 0; t < n_tok; t++) {
            int32_t q_a, q_sh;
            int64_t gain;
            int32_t *out_t = out + (size_t)t * dim + (size_t)h * (size_t)head_dim;
            ftv_quantize_rows_ref(s.q, &q_a, &q_sh, q_col + (size_t)t * stride, 1, head_dim,
                                  head_dim);
            gain = ftv_round_shift(ftv_mul64((int64_t)q_a * k_a, m_l), 16);
            for (int j = 0; j < n_tok; j++) {
                const int8_t *k_j = s.k + (size_t)j * (size_t)head_dim;
                int32_t dot = 0;
                for (int d = 0; d < head_dim; d++)
                    dot += (int32_t)s.q[d] * k_j[d];
                s.scores[j] = ftv_sat32(ftv_round_shift(ftv_mul64(dot, gain),
                                                        s_l - q_sh - k_sh));
            }
            ftv_softmax_row_ref(s.scores, s.scores, n_tok);
            for (int d = 0; d < head_dim; d++)
                s.acc[d] = 0;
            for (int j = 0; j < n_tok; j++) {
                const int8_t *v_j = s.v + (size_t)j * (size_t)head_dim;
                for (int d = 0; d < head_dim; d++)
                    s.acc[d] += s.scores[j] * v_j[d];
            }
            for (int d = 0; d < head_dim; d++)
                out_t[d] = ftv_sat32(ftv_round_shift(
                    ftv_mul64((int64_t)s.acc[d] * v_a, FTV_INV127_MANT),
                    FTV_INV127_SHIFT + FTV_PROB_FRAC_BITS - v_sh));
        }
    }
    return FTV_OK;
}

/* -------------------------------------------------------- patch embedding */

int ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                         int img_size, int in_chans, int patch_size)
{
    size_t row = (size_t)in_chans * (size_t)patch_size * (size_t)patch_size;
    size_t token = 0;
    int covered = 0;
    if (img_size < 1 || in_chans < 1 || patch_size < 1 || !codes || !image || !lut)
        return FTV_ERR_ARG;
    while (covered < img_size)
        covered += patch_size;
    if (covered != img_size)
        return FTV_ERR_ARG;
    for (int y0 = 0; y0 < img_size; y0 += patch_size) {
        for (int x0 = 0; x0 < img_size; x0 += patch_size, token++) {
            int8_t *out = codes + token * row;
            for (int c = 0; c < in_chans; c++)
                for (int ky = 0; ky < patch_size; ky++)
                    for (int kx = 0; kx < patch_size; kx++) {
                        size_t pixel = ((size_t)(y0 + ky) * (size_t)img_size
                                        + (size_t)(x0 + kx)) * (size_t)in_chans + (size_t)c;
                        *out++ = lut[(size_t)c * 256 + image[pixel]];
                    }
        }
    }
    return FTV_OK;
}

/* ----------------------------------------------------------- ternary rows */

int ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout)
{
    if (n < 0 || (layout != 2 && layout != 3) || (n > 0 && (!out || !packed)))
        return FTV_ERR_ARG;
    for (int i = 0; i < n;) {
        int v = *packed++;
        if (layout == 2) {
            for (int j = 0; j < 4 && i < n; j++, i++)
                out[i] = (int8_t)(((v >> (2 * j)) & 3) - 1);
        } else {
            for (int j = 0; j < 5 && i < n; j++, i++) {
                int rest = (v * 171) >> 9;            /* v / 3 for v <= 255 */
                out[i] = (int8_t)(v - 3 * rest - 1);  /* base-3 digit - 1 */
                v = rest;
            }
        }
    }
    return FTV_OK;
}
