/* Every operator of the integer runtime except the ternary matmul
 * (ftv_matmul.h): quantization, requantization, LayerNorm, GELU, softmax,
 * attention, patch gathering and the residual add.
 *
 * Each op computes exactly what its namesake in host/ftervit/reference/ops.py
 * computes (docs/arithmetic.md gives the formulas); results are bit-identical
 * for every input, including values outside the ranges a real model produces
 * (the reference's int64 wrap-around is reproduced, see ftv_fixed.h).
 *
 * Conventions
 *   - Matrices are row-major.  "x12" values are int32 with real = v / 4096.
 *   - Callers own every buffer; no op allocates, none keeps a pointer.
 *   - Sizes are element counts unless a name ends in _bytes.
 *   - Every op returns FTV_OK (0), or FTV_ERR_ARG (writing nothing) when a
 *     pointer it needs is NULL or a size is out of the range stated for it.
 *   - Input and output buffers must not overlap unless an op says so.
 *   - `_ref` ops are the plain readings of the spec; ops with a `_fast`
 *     twin are tested equal to it.  The unsuffixed names are chosen in
 *     ftv_dispatch.h, the one place that picks every kernel's variant.
 */
#ifndef FTV_OPS_H
#define FTV_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ftv_fixed.h"

#define FTV_OK        0
#define FTV_ERR_ARG  (-1)   /* NULL pointer, or a size out of range */

#define FTV_MAX_DIM     65535    /* LayerNorm width; also a head's width */
#define FTV_MAX_TOKENS  131071   /* softmax / attention length: sum of e < 2^32 */

/* ------------------------------------------------------------ primitives */

/* floor(sqrt(v)) for every uint64 v. */
uint32_t ftv_isqrt64(uint64_t v);

/* ---------------------------------------------- activation quantization */

/* Per-row absmax int8 quantization (ops.quantize_rows), rows >= 0, k >= 0.
 * Row t is x[t * x_stride .. t * x_stride + k) (x_stride >= k), so a column
 * slice of a wider matrix can be quantized in place.  Writes, per row t,
 *   sh = max(bitlen(amax) - 16, 0),  a = amax >> sh,  r = udiv(127 << 23, a),
 *   codes[t * k + i] = clamp(round_shift((x >> sh) * r, 23), -127, 127)
 * (all 0 when amax = 0), row_a[t] = a (0 <= a < 2^16), row_sh[t] = sh (0..16).
 * codes: rows * k int8; row_a, row_sh: rows int32 each. */
int ftv_quantize_rows_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                          const int32_t *x, int rows, int k, int x_stride);
int ftv_quantize_rows_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                           const int32_t *x, int rows, int k, int x_stride);

/* One absmax for a whole rows x k matrix (ops.quantize_block; K and V of an
 * attention head): the formulas above with amax over every element; *a and
 * *sh receive the single scale.  codes: rows * k int8, written contiguously. */
int ftv_quantize_block_ref(int8_t *codes, int32_t *a, int32_t *sh,
                           const int32_t *x, int rows, int k, int x_stride);

/* ------------------------------------------------------- requantization */

/* Linear-layer output (ops.linear after the matmul; ops.patch_embed):
 *   out[t][o] = sat32(round_shift(acc[t][o] * a[t] * m, s - sh[t]) + B[o])
 * with (m, s) the multiplier word mult[o] (per_row_mult != 0: n_out words)
 * or mult[0] (per_row_mult == 0: one shared word), and
 * B[o] = round_shift(bias[o], bias_frac - 12) the q16 bias in x12 (0 when
 * bias is NULL).  row_a / row_sh are quantize_rows' scales of the layer's
 * input; both NULL means a static int8 input (the patch embedding):
 * a = 1 and sh = 12 for every row.  acc and out: rows * n_out int32;
 * out may be acc (in place). */
int ftv_requant_ref(int32_t *out, const int32_t *acc,
                    const int32_t *row_a, const int32_t *row_sh,
                    int rows, int n_out, const int32_t *mult, int per_row_mult,
                    const int16_t *bias, int bias_frac);
int ftv_requant_fast(int32_t *out, const int32_t *acc,
                     const int32_t *row_a, const int32_t *row_sh,
                     int rows, int n_out, const int32_t *mult, int per_row_mult,
                     const int16_t *bias, int bias_frac);

/* Requantize and add to the residual stream in one pass:
 *   x[t][o] = sat32(x[t][o] + y[t][o]),  y as ftv_requant computes it.
 * x: rows * n_out int32, updated in place. */
int ftv_requant_add_ref(int32_t *x, const int32_t *acc,
                        const int32_t *row_a, const int32_t *row_sh,
                        int rows, int n_out, const int32_t *mult, int per_row_mult,
                        const int16_t *bias, int bias_frac);
int ftv_requant_add_fast(int32_t *x, const int32_t *acc,
                         const int32_t *row_a, const int32_t *row_sh,
                         int rows, int n_out, const int32_t *mult, int per_row_mult,
                         const int16_t *bias, int bias_frac);

/* Residual add: x[i] = sat32(x[i] + y[i]) for i < n (n >= 0). */
int ftv_add_sat_ref(int32_t *x, const int32_t *y, int n);

/* ------------------------------------------------------------ LayerNorm */

/* TernaryLayerNorm over rows of dim x12 values (ops.layer_norm),
 * 1 <= dim <= FTV_MAX_DIM.  gamma, beta: dim ternary codes in {-1, 0, 1};
 * mult2: the two multiplier words (gamma scale, beta scale).  Per row:
 *   mean = div_round(sum x, dim); C = x - mean; peak = max|C|;
 *   sh = max(bitlen(peak) - 15, 0); c = C >> sh; root = isqrt(sum c^2);
 *   inv = udiv(isqrt(dim << 24) << 20, max(root, 1));
 *   n = root ? round_shift(c * inv, 20) : 0;
 *   out = sat32(round_shift(n * gamma * mg, sg) + round_shift(beta * mb, sb - 12)).
 * x, out: rows * dim int32; out may be x (in place). */
int ftv_layer_norm_ref(int32_t *out, const int32_t *x, int rows, int dim,
                       const int8_t *gamma, const int8_t *beta, const int32_t *mult2);

/* LayerNorm followed by quantize_rows, one row at a time (what a linear
 * layer after a norm consumes): codes, row_a, row_sh exactly as
 * ftv_quantize_rows(ftv_layer_norm(x)) gives them, without a rows * dim
 * int32 intermediate.  tmp: dim int32 of caller scratch. */
int ftv_layer_norm_quantize_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                const int32_t *x, int rows, int dim,
                                const int8_t *gamma, const int8_t *beta,
                                const int32_t *mult2, int32_t *tmp);
int ftv_layer_norm_quantize_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                 const int32_t *x, int rows, int dim,
                                 const int8_t *gamma, const int8_t *beta,
                                 const int32_t *mult2, int32_t *tmp);

/* ----------------------------------------------------------------- GELU */

/* GELU of n x12 values by table with linear interpolation (ops.gelu):
 * x < -8*4096: 0;  x >= 8*4096: x;  else u = x + 8*4096, i = u >> 6,
 * f = u & 63, out = G[i] + round_shift((G[i+1] - G[i]) * f, 6).
 * out may be x (in place). */
int ftv_gelu_ref(int32_t *out, const int32_t *x, int n);
int ftv_gelu_fast(int32_t *out, const int32_t *x, int n);

/* ------------------------------------------------------------ attention */

/* Softmax of one row of base-2 logits with 8 fraction bits (ops.softmax_row),
 * 1 <= n <= FTV_MAX_TOKENS:
 *   d = max - s;  e = (d >> 8) < 16 ? EXP2[d & 255] >> (d >> 8) : 0;
 *   R = udiv(2^46, sum e);  probs = round_shift(e * R, 31)   (2^15 = 1).
 * scores, probs: n int32; probs may be scores (in place). */
int ftv_softmax_row_ref(int32_t *probs, const int32_t *scores, int n);

/* Scratch bytes ftv_attention needs (any alignment; 0 for bad sizes). */
size_t ftv_attention_scratch_bytes(int n_tok, int head_dim);

/* Multi-head attention (ops.attention), one query row at a time: the
 * n_tok x n_tok score matrix never exists.  qkv: the qkv projection's x12
 * output, n_tok rows of 3 * D, D = num_heads * head_dim, columns ordered
 * (q|k|v, head, channel).  Per head: Q codes per token (quantize_rows), K and
 * V codes per head over all tokens (quantize_block); per query row t:
 *   gain = round_shift(aq * ak * mL, 16),
 *   z[j] = sat32(round_shift((q_t . k_j) * gain, sL - shq - shk)),
 *   p = softmax_row(z),  o = sum_j p[j] * v[j],
 *   out[t][h*hd + d] = sat32(round_shift(o[d] * av * 16513, 36 - shv))
 * with (mL, sL) the multiplier word logit_mult.  out: n_tok * D int32.
 * 1 <= n_tok <= FTV_MAX_TOKENS, num_heads >= 1,
 * 1 <= head_dim <= FTV_MAX_DIM.  scratch: ftv_attention_scratch_bytes(). */
int ftv_attention_ref(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                      int head_dim, int32_t logit_mult, void *scratch,
                      size_t scratch_bytes);
int ftv_attention_fast(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                       int head_dim, int32_t logit_mult, void *scratch,
                       size_t scratch_bytes);

/* ------------------------------------------------------ patch embedding */

/* Patch gathering through the input table (ops.patches(ops.image_codes)):
 * image: uint8 img_size x img_size x in_chans (HWC); lut: in_chans rows of
 * 256 int8 codes.  Token ty * G + tx (G = img_size / patch_size) gets
 *   codes[token][c * P*P + ky * P + kx] = lut[c][image[ty*P + ky][tx*P + kx][c]]
 * codes: G*G rows of in_chans * P*P int8.  patch_size must divide img_size. */
int ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                         int img_size, int in_chans, int patch_size);

/* --------------------------------------------------------- ternary rows */

/* Decode n weights of one packed ternary row (layout 2 = tern2, 3 = tern3,
 * ftv_matmul.h) into int8 values in {-1, 0, 1}.  Bytes with invalid codes
 * decode to unspecified values in [-1, 2]; the file reader rejects them. */
int ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout);

#endif /* FTV_OPS_H */
