/* Whole-model forward pass: the steps of host/ftervit/reference/model.py in
 * the same order, over caller-owned scratch.  See ftv_model.h. */
#include <string.h>

#include "ftv_model.h"
#include "ftv_dispatch.h"
#include "ftv_ops.h"
#include "ftv_util.h"

#define ALIGN 16

/* Derived sizes of a checked geometry. */
typedef struct {
    uint32_t tokens, patches, dim, head_dim, mlp, patch_k, wide;
    uint32_t codes_k;       /* widest int8 row: max(D, mlp, patch_k) */
} dims_t;

/* Scratch segments, in order, each ALIGN-aligned. */
typedef struct {
    int32_t *x;        /* residual stream, tokens x D */
    int32_t *wide;     /* qkv / fc1 output, tokens x max(3D, mlp) */
    int32_t *narrow;   /* attention output, projection sums: tokens x D */
    int8_t *codes;     /* int8 matmul inputs, tokens x codes_k */
    int32_t *row_a;    /* per-row scales of codes */
    int32_t *row_sh;
    int32_t *ln_row;   /* one LayerNorm row, D */
    int8_t *gamma;     /* a norm's ternary codes, D each */
    int8_t *beta;
    uint8_t *attn;     /* attention scratch */
    size_t attn_bytes;
    uint8_t *mm;       /* matmul scratch: everything left */
    size_t mm_bytes;
    int failed;        /* a matmul refused its arguments */
} scratch_t;

static uint64_t pad(uint64_t n)
{
    return (n + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
}

static uint32_t max3(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t m = a > b ? a : b;
    return m > c ? m : c;
}

static uint64_t total_bytes(const ftv_geometry_t *g, int32_t matmul_rows);

int ftv_check_geometry(const ftv_geometry_t *g)
{
    uint64_t grid, heads;
    if (!g)
        return FTV_ERR_ARG;
    if (g->img_size < 1 || g->patch_size < 1 || g->in_chans < 1 || g->embed_dim < 1
            || g->depth < 0 || g->num_heads < 1 || g->mlp_dim < 1 || g->num_classes < 1
            || (g->cls_pos != 0 && g->cls_pos != 1) || (g->layerscale != 0 && g->layerscale != 1)
            || (g->layout != FTV_LAYOUT_TERN2 && g->layout != FTV_LAYOUT_TERN3))
        return FTV_ERR_GEOMETRY;
    grid = ftv_udiv64((uint64_t)g->img_size, (uint32_t)g->patch_size);
    heads = ftv_udiv64((uint64_t)g->embed_dim, (uint32_t)g->num_heads);
    if (grid * (uint64_t)g->patch_size != (uint64_t)g->img_size
            || heads * (uint64_t)g->num_heads != (uint64_t)g->embed_dim)
        return FTV_ERR_GEOMETRY;
    if (grid * grid + 1 > FTV_MAX_TOKENS || g->embed_dim > FTV_MAX_DIM
            || g->mlp_dim > FTV_MATMUL_MAX_K || g->num_classes > FTV_MATMUL_MAX_K
            || (uint64_t)g->in_chans * (uint64_t)g->patch_size * (uint64_t)g->patch_size
               > FTV_MATMUL_MAX_K)
        return FTV_ERR_GEOMETRY;
    /* every element count fits an int, every byte count a size_t */
    if ((grid * grid + 1) * max3(3 * (uint32_t)g->embed_dim, (uint32_t)g->mlp_dim,
                                 (uint32_t)(g->in_chans * g->patch_size * g->patch_size))
            > (uint64_t)FTV_INT32_MAX)
        return FTV_ERR_GEOMETRY;
    if (total_bytes(g, FTV_MATMUL_BLOCK_ROWS) > (uint64_t)(size_t)-1)
        return FTV_ERR_GEOMETRY;
    return FTV_OK;
}

static dims_t dims_of(const ftv_geometry_t *g)
{
    dims_t d;
    uint32_t grid = (uint32_t)ftv_udiv64((uint64_t)g->img_size, (uint32_t)g->patch_size);
    d.patches = grid * grid;
    d.tokens = d.patches + 1;
    d.dim = (uint32_t)g->embed_dim;
    d.head_dim = (uint32_t)ftv_udiv64(d.dim, (uint32_t)g->num_heads);
    d.mlp = (uint32_t)g->mlp_dim;
    d.patch_k = (uint32_t)(g->in_chans * g->patch_size * g->patch_size);
    d.wide = 3 * d.dim > d.mlp ? 3 * d.dim : d.mlp;
    d.codes_k = max3(d.dim, d.mlp, d.patch_k);
    return d;
}

/* Matmul scratch for blocks of `rows` weight rows (rows <= 0: whole
 * matrices), enough for every layer of the model. */
static uint64_t matmul_bytes(const ftv_geometry_t *g, const dims_t *d, int32_t rows)
{
    uint32_t shapes[6][2] = {   /* (K, n_out) of each matmul */
        {d->patch_k, d->dim}, {d->dim, 3 * d->dim}, {d->dim, d->dim},
        {d->dim, d->mlp}, {d->mlp, d->dim}, {d->dim, (uint32_t)g->num_classes}};
    uint64_t most = 0;
    for (int i = 0; i < 6; i++) {
        uint32_t r = shapes[i][1];
        size_t b;
        if (rows > 0 && (uint32_t)rows < r)
            r = (uint32_t)rows;
        b = ftv_matmul_scratch_bytes(g->layout, (int)shapes[i][0], (int)r);
        if (b > most)
            most = b;
    }
    return most;
}

/* Bytes of the fixed segments; with `base`, also carves them. */
static uint64_t layout_scratch(const dims_t *d, uint8_t *base, scratch_t *s)
{
    uint64_t n = d->tokens, at = 0;
    uint64_t sizes[10];
    void *ptrs[10];
    size_t attn = ftv_attention_scratch_bytes((int)d->tokens, (int)d->head_dim);
    sizes[0] = 4 * n * d->dim;
    sizes[1] = 4 * n * d->wide;
    sizes[2] = 4 * n * d->dim;
    sizes[3] = n * d->codes_k;
    sizes[4] = 4 * n;
    sizes[5] = 4 * n;
    sizes[6] = 4 * (uint64_t)d->dim;
    sizes[7] = d->dim;
    sizes[8] = d->dim;
    sizes[9] = attn;
    for (int i = 0; i < 10; i++) {
        ptrs[i] = base ? base + at : NULL;
        at += pad(sizes[i]);
    }
    if (base) {
        s->x = (int32_t *)ptrs[0];
        s->wide = (int32_t *)ptrs[1];
        s->narrow = (int32_t *)ptrs[2];
        s->codes = (int8_t *)ptrs[3];
        s->row_a = (int32_t *)ptrs[4];
        s->row_sh = (int32_t *)ptrs[5];
        s->ln_row = (int32_t *)ptrs[6];
        s->gamma = (int8_t *)ptrs[7];
        s->beta = (int8_t *)ptrs[8];
        s->attn = (uint8_t *)ptrs[9];
        s->attn_bytes = attn;
    }
    return at;
}

/* Scratch bytes of a geometry that passed the size checks before this one
 * is called (positive sizes, divisibility, op limits). */
static uint64_t total_bytes(const ftv_geometry_t *g, int32_t matmul_rows)
{
    dims_t d = dims_of(g);
    return (ALIGN - 1) + layout_scratch(&d, NULL, NULL) + matmul_bytes(g, &d, matmul_rows);
}

size_t ftv_scratch_bytes(const ftv_geometry_t *g)
{
    return ftv_scratch_bytes_for(g, FTV_MATMUL_BLOCK_ROWS);
}

size_t ftv_scratch_bytes_for(const ftv_geometry_t *g, int32_t matmul_rows)
{
    uint64_t total;
    if (ftv_check_geometry(g) != FTV_OK)
        return 0;
    total = total_bytes(g, matmul_rows < 1 ? 0 : matmul_rows);
    return total > (uint64_t)(size_t)-1 ? 0 : (size_t)total;
}

/* ------------------------------------------------------------- the steps */

/* A failed matmul (scratch too small for one row: cannot happen with a
 * scratch sized by ftv_scratch_bytes_for) is remembered in s->failed. */
static void matmul(const ftv_geometry_t *g, scratch_t *s, const int8_t *x,
                   const uint8_t *w, int32_t *out, uint32_t n_tok, uint32_t k, uint32_t n_out)
{
    int rc;
    if (g->layout == FTV_LAYOUT_TERN2)
        rc = ftv_matmul_tern2(x, w, out, (int)n_tok, (int)k, (int)n_out, s->mm, s->mm_bytes);
    else
        rc = ftv_matmul_tern3(x, w, out, (int)n_tok, (int)k, (int)n_out, s->mm, s->mm_bytes);
    if (rc != 0)
        s->failed = 1;
}

/* LayerNorm of `rows` rows of x, quantized into s->codes / row_a / row_sh. */
static void norm_quantize(const ftv_geometry_t *g, scratch_t *s, const ftv_norm_t *nm,
                          const int32_t *x, uint32_t rows, uint32_t dim)
{
    ftv_unpack_ternary(s->gamma, nm->weight, (int)dim, g->layout);
    ftv_unpack_ternary(s->beta, nm->bias, (int)dim, g->layout);
    ftv_layer_norm_quantize(s->codes, s->row_a, s->row_sh, x, (int)rows, (int)dim, s->gamma,
                            s->beta, nm->mult, s->ln_row);
}

/* out = linear layer of the codes in s->codes (rows x k) -> rows x n_out.
 * add: accumulate into out with saturation (residual) instead of writing. */
static void linear(const ftv_geometry_t *g, scratch_t *s, const ftv_linear_t *l,
                   int per_row_mult, int32_t *out, int32_t *acc, uint32_t rows, uint32_t k,
                   uint32_t n_out, int add)
{
    matmul(g, s, s->codes, l->weight, acc, rows, k, n_out);
    if (add)
        ftv_requant_add(out, acc, s->row_a, s->row_sh, (int)rows, (int)n_out, l->mult,
                        per_row_mult, l->bias, l->bias_frac);
    else
        ftv_requant(out, acc, s->row_a, s->row_sh, (int)rows, (int)n_out, l->mult,
                    per_row_mult, l->bias, l->bias_frac);
}

/* Tokens: [cls; patches] with the position embedding (model.embed). */
static void embed(const ftv_model_t *m, const dims_t *d, scratch_t *s,
                  const uint8_t *image)
{
    const ftv_geometry_t *g = &m->geometry;
    uint32_t dim = d->dim;
    int32_t *tok = s->narrow;   /* patches x D */
    ftv_patch_gather(s->codes, image, m->input_lut, g->img_size, g->in_chans, g->patch_size);
    matmul(g, s, s->codes, m->patch_embed.weight, tok, d->patches, d->patch_k, dim);
    ftv_requant(tok, tok, NULL, NULL, (int)d->patches, (int)dim, m->patch_embed.mult, 1,
                m->patch_embed.bias, m->patch_embed.bias_frac);
    for (uint32_t t = 0; t < d->tokens; t++) {
        const int16_t *pos = NULL;
        if (g->cls_pos)
            pos = m->pos_embed + (size_t)t * dim;
        else if (t > 0)
            pos = m->pos_embed + (size_t)(t - 1) * dim;
        for (uint32_t c = 0; c < dim; c++) {
            int64_t v = t == 0 ? ftv_q16_to_x12(m->cls_token[c], m->cls_frac)
                               : tok[(size_t)(t - 1) * dim + c];
            if (pos)
                v = ftv_add64(v, ftv_q16_to_x12(pos[c], m->pos_frac));
            s->x[(size_t)t * dim + c] = ftv_sat32(v);
        }
    }
}

/* A block's attention half: norm1, qkv, attention, proj added to the residual. */
static void block_attention(const ftv_model_t *m, const ftv_block_t *b, const dims_t *d,
                            scratch_t *s)
{
    const ftv_geometry_t *g = &m->geometry;
    uint32_t n = d->tokens, dim = d->dim;

    norm_quantize(g, s, &b->norm1, s->x, n, dim);
    linear(g, s, &b->qkv, 0, s->wide, s->wide, n, dim, 3 * dim, 0);
    ftv_attention(s->narrow, s->wide, (int)n, g->num_heads, (int)d->head_dim,
                  g->attn_logit_mult, s->attn, s->attn_bytes);
    ftv_quantize_rows(s->codes, s->row_a, s->row_sh, s->narrow, (int)n, (int)dim, (int)dim);
    linear(g, s, &b->proj, g->layerscale, s->x, s->narrow, n, dim, dim, 1);
}

/* Its MLP half: norm2, fc1, GELU, fc2 added to the residual. */
static void block_mlp(const ftv_model_t *m, const ftv_block_t *b, const dims_t *d,
                      scratch_t *s)
{
    const ftv_geometry_t *g = &m->geometry;
    uint32_t n = d->tokens, dim = d->dim;

    norm_quantize(g, s, &b->norm2, s->x, n, dim);
    linear(g, s, &b->fc1, 0, s->wide, s->wide, n, dim, d->mlp, 0);
    ftv_gelu(s->wide, s->wide, (int)(n * d->mlp));
    ftv_quantize_rows(s->codes, s->row_a, s->row_sh, s->wide, (int)n, (int)d->mlp,
                      (int)d->mlp);
    linear(g, s, &b->fc2, g->layerscale, s->x, s->narrow, n, d->mlp, dim, 1);
}

static int linear_ok(const ftv_linear_t *l)
{
    return l->weight && l->mult && l->bias;
}

static int norm_ok(const ftv_norm_t *nm)
{
    return nm->weight && nm->bias && nm->mult;
}

static int model_ok(const ftv_model_t *m)
{
    if (!m->input_lut || !linear_ok(&m->patch_embed) || !m->cls_token || !m->pos_embed
            || !norm_ok(&m->norm) || !linear_ok(&m->head)
            || (m->geometry.depth > 0 && !m->blocks))
        return 0;
    for (int32_t i = 0; i < m->geometry.depth; i++) {
        const ftv_block_t *b = &m->blocks[i];
        if (!norm_ok(&b->norm1) || !linear_ok(&b->qkv) || !linear_ok(&b->proj)
                || !norm_ok(&b->norm2) || !linear_ok(&b->fc1) || !linear_ok(&b->fc2))
            return 0;
    }
    return 1;
}

int ftv_forward_staged(const ftv_model_t *m, const uint8_t *image, int32_t *logits,
                       void *scratch, size_t scratch_len, ftv_stage_fn stage_done, void *user)
{
    const ftv_geometry_t *g;
    size_t need, skip;
    uint8_t *base;
    scratch_t s;
    dims_t d;
    int rc;

    if (!m || !image || !logits || !scratch)
        return FTV_ERR_ARG;
    g = &m->geometry;
    rc = ftv_check_geometry(g);
    if (rc != FTV_OK)
        return rc;
    if (!model_ok(m))
        return FTV_ERR_ARG;
    need = ftv_scratch_bytes_for(g, 1);
    if (scratch_len < need)
        return FTV_ERR_SCRATCH;
    d = dims_of(g);
    skip = (size_t)((0u - (uintptr_t)scratch) & (ALIGN - 1));
    base = (uint8_t *)scratch + skip;
    s.mm = base + layout_scratch(&d, base, &s);
    s.mm_bytes = scratch_len - skip - (size_t)(s.mm - base);

    s.failed = 0;

    embed(m, &d, &s, image);
    if (stage_done)
        stage_done(user, 0);
    for (int32_t i = 0; i < g->depth; i++) {
        block_attention(m, &m->blocks[i], &d, &s);
        if (stage_done)
            stage_done(user, 1 + 2 * i);
        block_mlp(m, &m->blocks[i], &d, &s);
        if (stage_done)
            stage_done(user, 2 + 2 * i);
    }
    norm_quantize(g, &s, &m->norm, s.x, 1, d.dim);
    if (!s.failed)
        matmul(g, &s, s.codes, m->head.weight, logits, 1, d.dim, (uint32_t)g->num_classes);
    if (s.failed)
        return FTV_ERR_SCRATCH;
    ftv_requant(logits, logits, s.row_a, s.row_sh, 1, g->num_classes, m->head.mult, 0,
                m->head.bias, m->head.bias_frac);
    if (stage_done)
        stage_done(user, 1 + 2 * g->depth);
    return FTV_OK;
}

int ftv_forward(const ftv_model_t *m, const uint8_t *image, int32_t *logits,
                void *scratch, size_t scratch_len)
{
    return ftv_forward_staged(m, image, logits, scratch, scratch_len, NULL, NULL);
}

const char *ftv_strerror(int code)
{
    switch (code) {
    case FTV_OK:
        return "ok";
    case FTV_ERR_ARG:
        return "bad argument: a NULL pointer or a size out of range";
    case FTV_ERR_GEOMETRY:
        return "model geometry inconsistent or beyond the runtime's limits";
    case FTV_ERR_SCRATCH:
        return "scratch buffer too small (see ftv_scratch_bytes)";
    default:
        return "unknown error code";
    }
}
