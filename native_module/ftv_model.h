/* Whole-model forward pass (host/ftervit/reference/model.py, docs/arithmetic.md
 * section 8) over the tensors of one `.ftv` model file, used in place.
 *
 * The caller fills an ftv_model_t with pointers into the loaded file (or any
 * buffers holding the same bytes) and owns one scratch buffer of
 * ftv_scratch_bytes(&geometry) bytes; ftv_forward allocates nothing and
 * keeps no pointer after it returns.  Tensor storage, as in the file
 * (docs/format.md), little-endian, naturally aligned (int16 on 2 bytes,
 * int32 on 4; the file aligns every tensor to 16):
 *   tern  packed ternary rows (ftv_matmul.h), layout geometry.layout
 *   q16   int16 values with one frac_bits per tensor (real = v * 2^-frac)
 *   mult  int32 multiplier words (mantissa = w >> 8, shift = w & 0xff)
 *   i8    the input table, in_chans rows of 256 int8 codes
 */
#ifndef FTV_MODEL_H
#define FTV_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FTV_ERR_GEOMETRY (-2)   /* geometry values inconsistent or too large */
#define FTV_ERR_SCRATCH  (-3)   /* scratch smaller than ftv_scratch_bytes() */

/* The model config (the `.ftv` config fields the runtime needs). */
typedef struct {
    int32_t img_size;        /* image height = width, pixels */
    int32_t patch_size;      /* divides img_size */
    int32_t in_chans;        /* 1..64 */
    int32_t embed_dim;       /* D, a multiple of num_heads, <= FTV_MAX_DIM */
    int32_t depth;           /* encoder blocks, >= 0 */
    int32_t num_heads;
    int32_t mlp_dim;         /* <= FTV_MATMUL_MAX_K */
    int32_t num_classes;
    int32_t cls_pos;         /* 1: pos_embed has a class-token row (DeiT) */
    int32_t layerscale;      /* 1: attn.proj and mlp.fc2 have per-row multipliers */
    int32_t layout;          /* 2 = tern2, 3 = tern3 */
    int32_t attn_logit_mult; /* multiplier word log2(e) / (127^2 sqrt(head_dim)) */
} ftv_geometry_t;

/* A ternary linear layer [rows x cols]: packed weights, multiplier word(s),
 * q16 bias of `rows` values.  `mult` holds one word per row for the patch
 * embedding, and for attn.proj / mlp.fc2 when geometry.layerscale, else one. */
typedef struct {
    const uint8_t *weight;
    const int32_t *mult;
    const int16_t *bias;
    int32_t bias_frac;
} ftv_linear_t;

/* A TernaryLayerNorm of width D: packed ternary gamma and beta rows [1 x D]
 * and their two multiplier words (gamma scale, beta scale). */
typedef struct {
    const uint8_t *weight;
    const uint8_t *bias;
    const int32_t *mult;
} ftv_norm_t;

typedef struct {
    ftv_norm_t norm1;
    ftv_linear_t qkv;        /* 3D x D */
    ftv_linear_t proj;       /* D x D */
    ftv_norm_t norm2;
    ftv_linear_t fc1;        /* mlp_dim x D */
    ftv_linear_t fc2;        /* D x mlp_dim */
} ftv_block_t;

typedef struct {
    ftv_geometry_t geometry;
    const int8_t *input_lut;    /* patch_embed.input_lut [in_chans][256] */
    ftv_linear_t patch_embed;   /* D x (in_chans * patch_size^2), per-row mult */
    const int16_t *cls_token;   /* [D] */
    int32_t cls_frac;
    const int16_t *pos_embed;   /* [num_patches + cls_pos][D] */
    int32_t pos_frac;
    const ftv_block_t *blocks;  /* depth entries */
    ftv_norm_t norm;
    ftv_linear_t head;          /* num_classes x D */
} ftv_model_t;

/* FTV_OK if the geometry is one ftv_forward can run, else FTV_ERR_GEOMETRY:
 * every size positive (depth >= 0), img_size a multiple of patch_size,
 * embed_dim a multiple of num_heads, layout 2 or 3, flags 0/1, and the
 * limits of the ops (tokens <= FTV_MAX_TOKENS, embed_dim <= FTV_MAX_DIM,
 * every matmul depth <= FTV_MATMUL_MAX_K, buffers addressable). */
int ftv_check_geometry(const ftv_geometry_t *g);

/* Scratch bytes for ftv_forward (any alignment; 0 on a bad geometry):
 * fixed buffers of about tokens * (9 D + 4 max(3D, mlp_dim) + max(D, mlp_dim))
 * bytes, plus the matmul kernel's, which grows with the weight rows it takes
 * per block: more rows mean fewer passes over the activations and fewer
 * table rebuilds (faster).  ftv_forward hands every byte past the fixed
 * buffers to the kernel.
 *   ftv_scratch_bytes_for(g, rows): blocks of `rows` weight rows
 *       (rows <= 0: whole matrices, the fastest; rows = 1: the least memory,
 *       the smallest scratch_len ftv_forward accepts);
 *   ftv_scratch_bytes(g): the default, blocks of FTV_MATMUL_BLOCK_ROWS rows. */
#define FTV_MATMUL_BLOCK_ROWS 64
size_t ftv_scratch_bytes(const ftv_geometry_t *g);
size_t ftv_scratch_bytes_for(const ftv_geometry_t *g, int32_t matmul_rows);

/* Classify one image: image is img_size x img_size x in_chans uint8 (HWC);
 * logits receives num_classes int32 x12 values (real logit = v / 4096).
 * Returns FTV_OK, FTV_ERR_ARG (a NULL pointer: model, image, logits,
 * scratch or a tensor the geometry needs), FTV_ERR_GEOMETRY, or
 * FTV_ERR_SCRATCH (scratch_len < ftv_scratch_bytes_for(g, 1)); logits are
 * untouched on error.  Bit-identical to ftervit.reference.model.forward. */
int ftv_forward(const ftv_model_t *m, const uint8_t *image, int32_t *logits,
                void *scratch, size_t scratch_len);

/* ftv_forward, calling stage_done(user, stage) as each stage ends (for
 * timing it: the callback only observes, the logits are ftv_forward's):
 *   0           the patch embedding (tokens and position embedding)
 *   1 + 2 i     block i's attention (norm1, qkv, attention, proj residual)
 *   2 + 2 i     block i's MLP (norm2, fc1, GELU, fc2 residual)
 *   1 + 2 depth the head (final norm, head linear), logits written
 * stage_done may be NULL; no stage is reported after an error. */
typedef void (*ftv_stage_fn)(void *user, int32_t stage);
int ftv_forward_staged(const ftv_model_t *m, const uint8_t *image, int32_t *logits,
                       void *scratch, size_t scratch_len, ftv_stage_fn stage_done,
                       void *user);

/* A one-line description of a return code (static text). */
const char *ftv_strerror(int code);

#endif /* FTV_MODEL_H */
