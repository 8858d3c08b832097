/* Phases of a whole-model forward pass, for the instruction profile.
 *
 * model_profile.c defines, for every operator ftv_forward calls in another
 * object file, a wrapper (linked with --wrap=<name>) that notes the call
 * and switches the phase before and after it; a phase switch is a call of
 * a marker function prof_phase_<n> that the profiling plugin watches
 * (bench/xtensa/insn_profile.c).  The wrappers and markers are themselves
 * excluded from the counts by function name (prefixes __wrap_ and prof_),
 * so what remains is exactly what the unwrapped program executes.
 *
 * The phase of a call follows from the order ftv_forward works in: matmul
 * call 0 is the patch embedding, calls 1 .. 4 * depth are qkv, proj, fc1,
 * fc2 of each block, the last is the head; a requantization belongs to the
 * matmul just before it, a norm or quantization to the block or the head.
 * bench/xtensa/model_build.py reads the PH_ names from this file. */
#ifndef MODEL_PROFILE_H
#define MODEL_PROFILE_H

#include <stdint.h>

enum {
    PH_OUTSIDE,      /* not inside ftv_forward */
    PH_CONTROL,      /* ftv_model.c itself between operator calls */
    PH_GATHER,       /* image -> patch codes (input table) */
    PH_EMBED_ADD,    /* ftv_model.c: class token + position embedding */
    PH_MM_PATCH,     /* matmuls */
    PH_MM_QKV,
    PH_MM_PROJ,
    PH_MM_FC1,
    PH_MM_FC2,
    PH_MM_HEAD,
    PH_RQ_PATCH,     /* requantization of a matmul output */
    PH_RQ_QKV,
    PH_RQ_FC1,
    PH_RQ_HEAD,
    PH_RES_PROJ,     /* requantization fused with the residual add */
    PH_RES_FC2,
    PH_LN_BLOCK,     /* LayerNorm (fused with quantization) and its unpack */
    PH_LN_HEAD,
    PH_Q_ATTN,       /* quantize_rows of the attention output */
    PH_Q_MLP,        /* quantize_rows of the GELU output */
    PH_ATTN,         /* attention: Q/K/V codes, scores, softmax, weighted sum */
    PH_GELU,
    PH_UNEXPECTED,   /* a wrapped call where the order above has none */
    PH_COUNT
};

/* Operators in the call log. */
enum {
    OP_MATMUL, OP_REQUANT, OP_REQUANT_ADD, OP_LN_QUANT, OP_QUANT_ROWS, OP_GELU,
    OP_ATTENTION, OP_GATHER, OP_UNPACK
};

/* One wrapped call: its phase, operator, sizes and pointers (see
 * model_profile.c for which argument lands where). */
typedef struct {
    int32_t phase, op;
    int32_t n[3];
    uint32_t p[5];
} prof_call_t;

#define PROF_MAX_CALLS 4096

extern prof_call_t prof_calls[PROF_MAX_CALLS];
extern uint32_t prof_n_calls;       /* may exceed PROF_MAX_CALLS: then truncated */

/* Call before ftv_forward: the model's depth, and the phase to run in. */
void prof_begin(int32_t depth);
/* Call after ftv_forward returns. */
void prof_end(void);
/* The plugin prints its counts when this runs. */
void prof_dump(void);

#endif
