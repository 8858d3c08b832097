/* The one place that picks which variant of every kernel a build uses:
 * the public matmul entry points below, the unsuffixed op names of
 * ftv_ops.h, and the camera-frame variant behind ftv_frame_to_image.
 *
 *   int ftv_matmul_tern2(x, w, out, n_tok, K, n_out, scratch, scratch_bytes)
 *   int ftv_matmul_tern3(x, w, out, n_tok, K, n_out, scratch, scratch_bytes)
 *
 * compute exactly what ftv_matmul.h specifies and return 0, or -1 (with
 * nothing written) for out-of-range dimensions or, with the lookup-table
 * variant, a scratch buffer too small for one weight row (the reference
 * variant uses no scratch).  Size the scratch with
 * ftv_matmul_scratch_bytes(layout, K, rows), or pass a fixed budget (e.g.
 * 128 KB of internal SRAM) of at least that for rows = 1: more scratch
 * means more rows per block, so fewer passes over x (see ftv_matmul.h).
 *
 * Build flags (define at most one):
 *   FTV_FORCE_REF  the plain `_ref` kernels and ops (for debugging and as a
 *                  known-good fallback); FTV_OPS_REF_ONLY forces only the ops.
 *   FTV_USE_PIE    reserved for an ESP32-S3 PIE (128-bit SIMD) variant;
 *                  none exists yet, so this is a build error rather than
 *                  untested code.
 *   (default)      the lookup-table kernels of ftv_matmul_lut.c.
 */
#ifndef FTV_DISPATCH_H
#define FTV_DISPATCH_H

#include "ftv_matmul.h"
#include "ftv_ops.h"

#if defined(FTV_FORCE_REF) && defined(FTV_USE_PIE)
#error "define at most one of FTV_FORCE_REF and FTV_USE_PIE"
#endif

#if defined(FTV_USE_PIE)
#error "FTV_USE_PIE: no PIE kernel is implemented yet (needs Espressif's esp32s3 toolchain to build and a board to test)"
#endif

#define FTV_MATMUL_VARIANT_REF 0
#define FTV_MATMUL_VARIANT_LUT 1

#if defined(FTV_FORCE_REF)
#define FTV_MATMUL_VARIANT FTV_MATMUL_VARIANT_REF
#else
#define FTV_MATMUL_VARIANT FTV_MATMUL_VARIANT_LUT
#endif

/* The dimension checks the reference kernels leave to the caller, so both
 * variants reject the same arguments. */
static inline int ftv_matmul_args_ok(int n_tok, int K, int n_out)
{
    return n_tok >= 0 && n_out >= 0 && K >= 0 && K <= FTV_MATMUL_MAX_K &&
           n_tok <= FTV_MATMUL_MAX_DIM && n_out <= FTV_MATMUL_MAX_DIM;
}

/* Scratch bytes for `rows` weight rows per block (0 for a bad layout/K). */
static inline size_t ftv_matmul_scratch_bytes(int layout, int K, int rows)
{
#if FTV_MATMUL_VARIANT == FTV_MATMUL_VARIANT_REF
    (void)rows;
    return (layout == FTV_LAYOUT_TERN2 || layout == FTV_LAYOUT_TERN3) &&
                   ftv_matmul_args_ok(0, K, 0) ? 1 : 0;
#else
    return ftv_matmul_lut_scratch_bytes(layout, K, rows);
#endif
}

static inline int ftv_matmul_tern2(const int8_t *x, const uint8_t *w,
                                   int32_t *out, int n_tok, int K, int n_out,
                                   void *scratch, size_t scratch_bytes)
{
#if FTV_MATMUL_VARIANT == FTV_MATMUL_VARIANT_REF
    (void)scratch;
    (void)scratch_bytes;
    if (!ftv_matmul_args_ok(n_tok, K, n_out))
        return -1;
    ftv_matmul_tern2_ref(x, w, out, n_tok, K, n_out);
    return 0;
#else
    return ftv_matmul_tern2_lut(x, w, out, n_tok, K, n_out, scratch, scratch_bytes);
#endif
}

static inline int ftv_matmul_tern3(const int8_t *x, const uint8_t *w,
                                   int32_t *out, int n_tok, int K, int n_out,
                                   void *scratch, size_t scratch_bytes)
{
#if FTV_MATMUL_VARIANT == FTV_MATMUL_VARIANT_REF
    (void)scratch;
    (void)scratch_bytes;
    if (!ftv_matmul_args_ok(n_tok, K, n_out))
        return -1;
    ftv_matmul_tern3_ref(x, w, out, n_tok, K, n_out);
    return 0;
#else
    return ftv_matmul_tern3_lut(x, w, out, n_tok, K, n_out, scratch, scratch_bytes);
#endif
}

/* ------------------------------------------------- ops (ftv_ops.h) */

#if defined(FTV_FORCE_REF) || defined(FTV_OPS_REF_ONLY)
#define ftv_quantize_rows        ftv_quantize_rows_ref
#define ftv_requant              ftv_requant_ref
#define ftv_requant_add          ftv_requant_add_ref
#define ftv_layer_norm_quantize  ftv_layer_norm_quantize_ref
#define ftv_gelu                 ftv_gelu_ref
#define ftv_attention            ftv_attention_ref
#else
#define ftv_quantize_rows        ftv_quantize_rows_fast
#define ftv_requant              ftv_requant_fast
#define ftv_requant_add          ftv_requant_add_fast
#define ftv_layer_norm_quantize  ftv_layer_norm_quantize_fast
#define ftv_gelu                 ftv_gelu_fast
#define ftv_attention            ftv_attention_fast
#endif
#define ftv_quantize_block       ftv_quantize_block_ref
#define ftv_add_sat              ftv_add_sat_ref
#define ftv_layer_norm           ftv_layer_norm_ref
#define ftv_softmax_row          ftv_softmax_row_ref
#define ftv_patch_gather         ftv_patch_gather_ref
#define ftv_unpack_ternary       ftv_unpack_ternary_ref

/* ------------------------------------------- camera frames (ftv_frame.h) */

/* ftv_frame_to_image calls this variant. */
#if defined(FTV_FORCE_REF)
#define FTV_FRAME_TO_IMAGE       ftv_frame_to_image_ref
#else
#define FTV_FRAME_TO_IMAGE       ftv_frame_to_image_fast
#endif

#endif /* FTV_DISPATCH_H */
