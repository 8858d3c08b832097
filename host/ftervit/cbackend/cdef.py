"""The C declarations the cffi extension exposes (a subset of native_module/ftv.h)."""

CDEF = r"""
#define FTV_ARITH_VERSION ...
#define FTV_OK ...
#define FTV_ERR_ARG ...
#define FTV_ERR_GEOMETRY ...
#define FTV_ERR_SCRATCH ...
#define FTV_MAX_DIM ...
#define FTV_MAX_TOKENS ...
#define FTV_MATMUL_MAX_K ...
#define FTV_MATMUL_BLOCK_ROWS ...

/* fixed point (static inline in ftv_fixed.h) */
int64_t ftv_round_shift(int64_t v, int32_t s);
int32_t ftv_sat32(int64_t v);
uint32_t ftv_isqrt64(uint64_t v);
uint64_t ftv_udiv64(uint64_t n, uint32_t d);

/* ops */
int ftv_quantize_rows_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                          const int32_t *x, int rows, int k, int x_stride);
int ftv_quantize_rows_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                           const int32_t *x, int rows, int k, int x_stride);
int ftv_quantize_block_ref(int8_t *codes, int32_t *a, int32_t *sh,
                           const int32_t *x, int rows, int k, int x_stride);
int ftv_requant_ref(int32_t *out, const int32_t *acc, const int32_t *row_a,
                    const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                    int per_row_mult, const int16_t *bias, int bias_frac);
int ftv_requant_fast(int32_t *out, const int32_t *acc, const int32_t *row_a,
                     const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                     int per_row_mult, const int16_t *bias, int bias_frac);
int ftv_requant_add_ref(int32_t *x, const int32_t *acc, const int32_t *row_a,
                        const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                        int per_row_mult, const int16_t *bias, int bias_frac);
int ftv_requant_add_fast(int32_t *x, const int32_t *acc, const int32_t *row_a,
                         const int32_t *row_sh, int rows, int n_out, const int32_t *mult,
                         int per_row_mult, const int16_t *bias, int bias_frac);
int ftv_add_sat_ref(int32_t *x, const int32_t *y, int n);
int ftv_layer_norm_ref(int32_t *out, const int32_t *x, int rows, int dim,
                       const int8_t *gamma, const int8_t *beta, const int32_t *mult2);
int ftv_layer_norm_quantize_ref(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                const int32_t *x, int rows, int dim, const int8_t *gamma,
                                const int8_t *beta, const int32_t *mult2, int32_t *tmp);
int ftv_layer_norm_quantize_fast(int8_t *codes, int32_t *row_a, int32_t *row_sh,
                                 const int32_t *x, int rows, int dim, const int8_t *gamma,
                                 const int8_t *beta, const int32_t *mult2, int32_t *tmp);
int ftv_gelu_ref(int32_t *out, const int32_t *x, int n);
int ftv_gelu_fast(int32_t *out, const int32_t *x, int n);
int ftv_softmax_row_ref(int32_t *probs, const int32_t *scores, int n);
size_t ftv_attention_scratch_bytes(int n_tok, int head_dim);
int ftv_attention_ref(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                      int head_dim, int32_t logit_mult, void *scratch, size_t scratch_bytes);
int ftv_attention_fast(int32_t *out, const int32_t *qkv, int n_tok, int num_heads,
                       int head_dim, int32_t logit_mult, void *scratch, size_t scratch_bytes);
int ftv_patch_gather_ref(int8_t *codes, const uint8_t *image, const int8_t *lut,
                         int img_size, int in_chans, int patch_size);
int ftv_unpack_ternary_ref(int8_t *out, const uint8_t *packed, int n, int layout);

/* ternary matmul (ftv_matmul.h) */
void ftv_matmul_tern2_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out);
void ftv_matmul_tern3_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out);
void ftv_matmul_i8_ref(const int8_t *x, const int8_t *w, int32_t *out,
                       int n_tok, int K, int n_out);
size_t ftv_matmul_lut_scratch_bytes(int layout, int K, int rows);
int ftv_matmul_tern2_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out, void *scratch, size_t scratch_bytes);
int ftv_matmul_tern3_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out, void *scratch, size_t scratch_bytes);
/* the variant the build dispatches to (ftv_dispatch.h) */
size_t ftv_matmul_scratch_bytes(int layout, int K, int rows);
int ftv_matmul_tern2(const int8_t *x, const uint8_t *w, int32_t *out,
                     int n_tok, int K, int n_out, void *scratch, size_t scratch_bytes);
int ftv_matmul_tern3(const int8_t *x, const uint8_t *w, int32_t *out,
                     int n_tok, int K, int n_out, void *scratch, size_t scratch_bytes);

/* whole model (ftv_model.h) */
typedef struct {
    int32_t img_size; int32_t patch_size; int32_t in_chans; int32_t embed_dim;
    int32_t depth; int32_t num_heads; int32_t mlp_dim; int32_t num_classes;
    int32_t cls_pos; int32_t layerscale; int32_t layout; int32_t attn_logit_mult;
} ftv_geometry_t;
typedef struct {
    const uint8_t *weight; const int32_t *mult; const int16_t *bias; int32_t bias_frac;
} ftv_linear_t;
typedef struct {
    const uint8_t *weight; const uint8_t *bias; const int32_t *mult;
} ftv_norm_t;
typedef struct {
    ftv_norm_t norm1; ftv_linear_t qkv; ftv_linear_t proj;
    ftv_norm_t norm2; ftv_linear_t fc1; ftv_linear_t fc2;
} ftv_block_t;
typedef struct {
    ftv_geometry_t geometry;
    const int8_t *input_lut;
    ftv_linear_t patch_embed;
    const int16_t *cls_token; int32_t cls_frac;
    const int16_t *pos_embed; int32_t pos_frac;
    const ftv_block_t *blocks;
    ftv_norm_t norm;
    ftv_linear_t head;
} ftv_model_t;
int ftv_check_geometry(const ftv_geometry_t *g);
size_t ftv_scratch_bytes(const ftv_geometry_t *g);
size_t ftv_scratch_bytes_for(const ftv_geometry_t *g, int32_t matmul_rows);
int ftv_forward(const ftv_model_t *m, const uint8_t *image, int32_t *logits,
                void *scratch, size_t scratch_len);
const char *ftv_strerror(int code);

/* camera frames (ftv_frame.h) */
static const int FTV_FRAME_GRAYSCALE;
static const int FTV_FRAME_RGB565;
static const int FTV_FRAME_RGB888;
static const int FTV_FRAME_RGB_PPM;
#define FTV_FRAME_MAX_SIDE ...
#define FTV_ERR_FRAME_FORMAT ...
#define FTV_ERR_FRAME_SIZE ...
#define FTV_ERR_FRAME_LEN ...
#define FTV_ERR_FRAME_IMAGE ...
size_t ftv_frame_bytes(int32_t format, int32_t width, int32_t height);
int ftv_frame_to_image(const uint8_t *frame, size_t frame_len, int32_t width, int32_t height,
                       int32_t format, uint8_t *image, int32_t img_size, int32_t in_chans);
int ftv_frame_to_image_ref(const uint8_t *frame, size_t frame_len, int32_t width,
                           int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                           int32_t in_chans);
int ftv_frame_to_image_fast(const uint8_t *frame, size_t frame_len, int32_t width,
                            int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                            int32_t in_chans);
const char *ftv_frame_strerror(int code);
"""
