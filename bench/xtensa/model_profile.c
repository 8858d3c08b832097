/* Phase markers and operator wrappers for the whole-model instruction
 * profile (model_profile.h).  Built with -fno-ipa-icf so that no two
 * markers are merged into one address. */
#include <stddef.h>
#include <stdint.h>

#include "ftv_matmul.h"
#include "ftv_ops.h"
#include "model_profile.h"

prof_call_t prof_calls[PROF_MAX_CALLS];
uint32_t prof_n_calls;

/* ------------------------------------------------------------ markers */

/* Each marker has a body of its own (a distinct immediate), so none can
 * share an address with another. */
#define MARK(n) \
    __attribute__((noinline)) void prof_phase_##n(void); \
    __attribute__((noinline)) void prof_phase_##n(void) \
    { \
        __asm__ volatile("movi a8, " #n ::: "a8"); \
    }
MARK(0) MARK(1) MARK(2) MARK(3) MARK(4) MARK(5) MARK(6) MARK(7) MARK(8) MARK(9)
MARK(10) MARK(11) MARK(12) MARK(13) MARK(14) MARK(15) MARK(16) MARK(17) MARK(18)
MARK(19) MARK(20) MARK(21) MARK(22)

typedef char one_marker_per_phase[PH_COUNT == 23 ? 1 : -1];

static void (*const marks[PH_COUNT])(void) = {
    prof_phase_0, prof_phase_1, prof_phase_2, prof_phase_3, prof_phase_4, prof_phase_5,
    prof_phase_6, prof_phase_7, prof_phase_8, prof_phase_9, prof_phase_10, prof_phase_11,
    prof_phase_12, prof_phase_13, prof_phase_14, prof_phase_15, prof_phase_16,
    prof_phase_17, prof_phase_18, prof_phase_19, prof_phase_20, prof_phase_21,
    prof_phase_22,
};

__attribute__((noinline)) void prof_dump(void) { __asm__ volatile("movi a8, 1000" ::: "a8"); }

/* ------------------------------------------------------- phase logic */

static uint32_t depth, mm_calls, nesting;
static int32_t last_mm = PH_UNEXPECTED;

void prof_begin(int32_t model_depth)
{
    depth = (uint32_t)model_depth;
    mm_calls = 0;
    nesting = 0;
    last_mm = PH_UNEXPECTED;
    prof_n_calls = 0;
    marks[PH_CONTROL]();
}

void prof_end(void) { marks[PH_OUTSIDE](); }

static int in_head(void) { return mm_calls == 4 * depth + 1; }

static void note(int32_t phase, int32_t op, int32_t n0, int32_t n1, int32_t n2,
                 const void *p0, const void *p1, const void *p2, const void *p3, uint32_t p4)
{
    if (prof_n_calls < PROF_MAX_CALLS) {
        prof_call_t *c = &prof_calls[prof_n_calls];
        c->phase = phase;
        c->op = op;
        c->n[0] = n0;
        c->n[1] = n1;
        c->n[2] = n2;
        c->p[0] = (uint32_t)(uintptr_t)p0;
        c->p[1] = (uint32_t)(uintptr_t)p1;
        c->p[2] = (uint32_t)(uintptr_t)p2;
        c->p[3] = (uint32_t)(uintptr_t)p3;
        c->p[4] = p4;
    }
    prof_n_calls++;
}

/* A wrapper's first and last steps.  Only the outermost wrapped call is
 * noted and switches the phase; a wrapped operator called from inside
 * another counts in the caller's phase. */
#define ENTER(phase_expr, ...) \
    int32_t ph = PH_UNEXPECTED; \
    if (nesting == 0) { \
        ph = (phase_expr); \
        note(ph, __VA_ARGS__); \
        marks[ph](); \
    } \
    nesting++
/* Back to ftv_model.c's own code: the position-embedding loop after the
 * patch embedding's requantization, control otherwise. */
#define LEAVE() \
    if (--nesting == 0) \
        marks[ph == PH_RQ_PATCH ? PH_EMBED_ADD : PH_CONTROL]()

static int32_t matmul_phase(void)
{
    uint32_t i = mm_calls++;
    if (i == 0)
        last_mm = PH_MM_PATCH;
    else if (i <= 4 * depth)
        last_mm = PH_MM_QKV + (int32_t)((i - 1) & 3);
    else if (i == 4 * depth + 1)
        last_mm = PH_MM_HEAD;
    else
        last_mm = PH_UNEXPECTED;
    return last_mm;
}

static int32_t requant_phase(void)
{
    switch (last_mm) {
    case PH_MM_PATCH: return PH_RQ_PATCH;
    case PH_MM_QKV: return PH_RQ_QKV;
    case PH_MM_FC1: return PH_RQ_FC1;
    case PH_MM_HEAD: return PH_RQ_HEAD;
    default: return PH_UNEXPECTED;
    }
}

static int32_t requant_add_phase(void)
{
    return last_mm == PH_MM_PROJ ? PH_RES_PROJ : last_mm == PH_MM_FC2 ? PH_RES_FC2
                                                                      : PH_UNEXPECTED;
}

static int32_t quant_rows_phase(void)
{
    return last_mm == PH_MM_QKV ? PH_Q_ATTN : last_mm == PH_MM_FC1 ? PH_Q_MLP : PH_UNEXPECTED;
}

static int32_t norm_phase(void) { return in_head() ? PH_LN_HEAD : PH_LN_BLOCK; }

/* ---------------------------------------------------------- wrappers */

#define WRAP_MATMUL(name) \
    int __real_##name(const int8_t *x, const uint8_t *w, int32_t *out, int n_tok, int K, \
                      int n_out, void *scratch, size_t scratch_bytes); \
    int __wrap_##name(const int8_t *x, const uint8_t *w, int32_t *out, int n_tok, int K, \
                      int n_out, void *scratch, size_t scratch_bytes); \
    int __wrap_##name(const int8_t *x, const uint8_t *w, int32_t *out, int n_tok, int K, \
                      int n_out, void *scratch, size_t scratch_bytes) \
    { \
        int rc; \
        ENTER(matmul_phase(), OP_MATMUL, n_tok, K, n_out, x, w, out, scratch, \
              (uint32_t)scratch_bytes); \
        rc = __real_##name(x, w, out, n_tok, K, n_out, scratch, scratch_bytes); \
        LEAVE(); \
        return rc; \
    }
WRAP_MATMUL(ftv_matmul_tern2_lut)
WRAP_MATMUL(ftv_matmul_tern3_lut)

#define WRAP_REQUANT(name, op, phase_fn) \
    int __real_##name(int32_t *out, const int32_t *acc, const int32_t *row_a, \
                      const int32_t *row_sh, int rows, int n_out, const int32_t *mult, \
                      int per_row_mult, const int16_t *bias, int bias_frac); \
    int __wrap_##name(int32_t *out, const int32_t *acc, const int32_t *row_a, \
                      const int32_t *row_sh, int rows, int n_out, const int32_t *mult, \
                      int per_row_mult, const int16_t *bias, int bias_frac); \
    int __wrap_##name(int32_t *out, const int32_t *acc, const int32_t *row_a, \
                      const int32_t *row_sh, int rows, int n_out, const int32_t *mult, \
                      int per_row_mult, const int16_t *bias, int bias_frac) \
    { \
        int rc; \
        ENTER(phase_fn(), op, rows, n_out, per_row_mult, out, acc, mult, bias, \
              (uint32_t)(uintptr_t)row_a); \
        rc = __real_##name(out, acc, row_a, row_sh, rows, n_out, mult, per_row_mult, bias, \
                           bias_frac); \
        LEAVE(); \
        return rc; \
    }
WRAP_REQUANT(ftv_requant_ref, OP_REQUANT, requant_phase)
WRAP_REQUANT(ftv_requant_fast, OP_REQUANT, requant_phase)
WRAP_REQUANT(ftv_requant_add_ref, OP_REQUANT_ADD, requant_add_phase)
WRAP_REQUANT(ftv_requant_add_fast, OP_REQUANT_ADD, requant_add_phase)

#define WRAP_LN(name) \
    int __real_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int dim, const int8_t *gamma, const int8_t *beta, \
                      const int32_t *mult2, int32_t *tmp); \
    int __wrap_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int dim, const int8_t *gamma, const int8_t *beta, \
                      const int32_t *mult2, int32_t *tmp); \
    int __wrap_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int dim, const int8_t *gamma, const int8_t *beta, \
                      const int32_t *mult2, int32_t *tmp) \
    { \
        int rc; \
        ENTER(norm_phase(), OP_LN_QUANT, rows, dim, 0, codes, x, row_a, tmp, \
              (uint32_t)(uintptr_t)mult2); \
        rc = __real_##name(codes, row_a, row_sh, x, rows, dim, gamma, beta, mult2, tmp); \
        LEAVE(); \
        return rc; \
    }
WRAP_LN(ftv_layer_norm_quantize_ref)
WRAP_LN(ftv_layer_norm_quantize_fast)

#define WRAP_QROWS(name) \
    int __real_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int k, int x_stride); \
    int __wrap_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int k, int x_stride); \
    int __wrap_##name(int8_t *codes, int32_t *row_a, int32_t *row_sh, const int32_t *x, \
                      int rows, int k, int x_stride) \
    { \
        int rc; \
        ENTER(quant_rows_phase(), OP_QUANT_ROWS, rows, k, x_stride, codes, x, row_a, NULL, 0); \
        rc = __real_##name(codes, row_a, row_sh, x, rows, k, x_stride); \
        LEAVE(); \
        return rc; \
    }
WRAP_QROWS(ftv_quantize_rows_ref)
WRAP_QROWS(ftv_quantize_rows_fast)

#define WRAP_GELU(name) \
    int __real_##name(int32_t *out, const int32_t *x, int n); \
    int __wrap_##name(int32_t *out, const int32_t *x, int n); \
    int __wrap_##name(int32_t *out, const int32_t *x, int n) \
    { \
        int rc; \
        ENTER(PH_GELU, OP_GELU, n, 0, 0, out, x, NULL, NULL, 0); \
        rc = __real_##name(out, x, n); \
        LEAVE(); \
        return rc; \
    }
WRAP_GELU(ftv_gelu_ref)
WRAP_GELU(ftv_gelu_fast)

#define WRAP_ATTN(name) \
    int __real_##name(int32_t *out, const int32_t *qkv, int n_tok, int num_heads, \
                      int head_dim, int32_t logit_mult, void *scratch, size_t scratch_bytes); \
    int __wrap_##name(int32_t *out, const int32_t *qkv, int n_tok, int num_heads, \
                      int head_dim, int32_t logit_mult, void *scratch, size_t scratch_bytes); \
    int __wrap_##name(int32_t *out, const int32_t *qkv, int n_tok, int num_heads, \
                      int head_dim, int32_t logit_mult, void *scratch, size_t scratch_bytes) \
    { \
        int rc; \
        ENTER(PH_ATTN, OP_ATTENTION, n_tok, num_heads, head_dim, out, qkv, scratch, NULL, \
              (uint32_t)scratch_bytes); \
        rc = __real_##name(out, qkv, n_tok, num_heads, head_dim, logit_mult, scratch, \
                           scratch_bytes); \
        LEAVE(); \
        return rc; \
    }
WRAP_ATTN(ftv_attention_ref)
WRAP_ATTN(ftv_attention_fast)

int __real_ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                                int img_size, int in_chans, int patch_size);
int __wrap_ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                                int img_size, int in_chans, int patch_size);
int __wrap_ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                                int img_size, int in_chans, int patch_size)
{
    int rc;
    ENTER(PH_GATHER, OP_GATHER, img_size, in_chans, patch_size, codes, image, lut, NULL, 0);
    rc = __real_ftv_patch_gather_ref(codes, image, lut, img_size, in_chans, patch_size);
    LEAVE();
    return rc;
}

int __real_ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout);
int __wrap_ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout);
int __wrap_ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout)
{
    int rc;
    ENTER(norm_phase(), OP_UNPACK, n, layout, 0, out, packed, NULL, NULL, 0);
    rc = __real_ftv_unpack_ternary_ref(out, packed, n, layout);
    LEAVE();
    return rc;
}
