/* FTerViT integer runtime: the one header to include.
 *
 * docs/arithmetic.md defines what every function computes;
 * host/ftervit/reference/ is the readable numpy twin the C is tested bit-equal
 * against (tests/test_c_ops.py, tests/test_c_model.py).  The library is C99
 * and freestanding: memset/memcpy/memmove only, no float, no writable static
 * data, no runtime division but ftv_udiv64.  It never allocates: callers own
 * every buffer.  Return codes: FTV_OK (0), FTV_ERR_ARG, FTV_ERR_GEOMETRY,
 * FTV_ERR_SCRATCH; ftv_strerror() describes them.
 *
 * Index (full contracts in the headers named):
 *
 * Whole model (ftv_model.h)
 *   ftv_forward(model, image, logits, scratch, len)  uint8 HWC image -> int32 x12 logits
 *   ftv_scratch_bytes(g), ftv_scratch_bytes_for(g, rows)  scratch sizes
 *   ftv_check_geometry(g)                 is this model shape runnable
 *   ftv_strerror(code)                    text of a return code
 *
 * Ternary matmul (ftv_matmul.h; ftv_dispatch.h picks the variant)
 *   ftv_matmul_tern2 / _tern3(x, w, out, n_tok, K, n_out, scratch, len)
 *       out[t][o] = sum_k x[t][k] * W[o][k], W packed 2 or 1.6 bits a weight
 *   ftv_matmul_scratch_bytes(layout, K, rows)
 *
 * Operators (ftv_ops.h; `_ref` and, where it pays, `_fast` twins; the
 * unsuffixed names are the build's choice)
 *   ftv_quantize_rows       per-row absmax int8 codes of x12 rows, with (a, sh)
 *   ftv_quantize_block      one absmax for a whole matrix (attention K, V)
 *   ftv_requant             linear output: acc * a * m >> s, + q16 bias, sat32
 *   ftv_requant_add         the same, added to the residual stream with sat32
 *   ftv_add_sat             residual add with saturation
 *   ftv_layer_norm          TernaryLayerNorm (integer sqrt of the variance)
 *   ftv_layer_norm_quantize LayerNorm fused with quantize_rows
 *   ftv_gelu                GELU by table with interpolation
 *   ftv_softmax_row         base-2 softmax with the exp2 table
 *   ftv_attention           multi-head attention, one query row at a time
 *   ftv_patch_gather        image -> patch codes through the input table
 *   ftv_unpack_ternary      one packed ternary row -> int8 {-1, 0, 1}
 *   ftv_isqrt64             floor(sqrt(v)) of a uint64
 *
 * Camera frames (ftv_frame.h; ftv_dispatch.h picks the variant)
 *   ftv_frame_to_image(frame, len, w, h, format, image, img_size, in_chans)
 *       GRAYSCALE / RGB565 / RGB888 frame -> centre crop, area resize,
 *       channel conversion -> uint8 HWC model input
 *   ftv_frame_bytes(format, w, h), ftv_frame_strerror(code)
 *
 * Fixed point (ftv_fixed.h, inline): ftv_round_shift, ftv_sat32,
 * ftv_mult_mant / ftv_mult_shift (multiplier words), ftv_q16_to_x12.
 * Division (ftv_util.h): ftv_udiv64.
 */
#ifndef FTV_H
#define FTV_H

#include "ftv_fixed.h"
#include "ftv_util.h"
#include "ftv_matmul.h"
#include "ftv_dispatch.h"
#include "ftv_ops.h"
#include "ftv_model.h"
#include "ftv_frame.h"

#endif /* FTV_H */
