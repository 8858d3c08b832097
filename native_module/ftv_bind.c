/* One walk from a `.ftv` file in memory to an ftv_model_t: the checks of
 * docs/format.md section 9 in its order (host/ftervit/ftv/reader.py is the
 * readable twin), then the runtime's own limits.  See ftv_bind.h.
 *
 * Every read goes through rd16/rd32 at an offset already checked against
 * the buffer's length; offsets, lengths and sizes are computed in uint64_t,
 * so no count in the file can overflow them.  The only division is
 * ftv_udiv64 (the lx106 libgcc has none). */
#include <string.h>

#include "ftv_bind.h"
#include "ftv_fixed.h"
#include "ftv_matmul.h"
#include "ftv_ops.h"
#include "ftv_util.h"

#define HEAD_CRC_OFFSET 36          /* head_crc32, the header's last field */
#define CONFIG_END      (FTV_BIND_HEADER_BYTES + 4 * FTV_BIND_CONFIG_COUNT)
#define TENSORS_HEAD    6           /* plan entries before the blocks */
#define TENSORS_TAIL    6           /* and after them */
#define TENSORS_BLOCK   18          /* per encoder block */
#define GOLDEN_HEADER   16
#define GOLDEN_RAW      0
#define GOLDEN_XORSHIFT 1
#define FRAC_MIN        (-32)
#define FRAC_MAX        63
#define DTYPE_I8        8
#define DTYPE_I16       16
#define DTYPE_I32       32

enum { CFG_ARITH, CFG_IMG, CFG_PATCH, CFG_CHANS, CFG_DIM, CFG_DEPTH, CFG_HEADS, CFG_MLP,
       CFG_CLASSES, CFG_CLS_POS, CFG_LAYERSCALE, CFG_LAYOUT, CFG_LOGIT_MULT, CFG_RESIDUAL };

/* Deploy-plan kinds (ftervit/deploy_plan.py) */
enum { KIND_TERN, KIND_Q16, KIND_MULT, KIND_I8 };

/* Symbolic dims of a planned shape, valued by dim_value() */
enum { DIM_NONE, DIM_ONE, DIM_TWO, DIM_D, DIM_3D, DIM_H, DIM_K, DIM_C, DIM_256, DIM_PATCH_K,
       DIM_POS, DIM_LS };   /* DIM_LS: D with layerscale, else 1 */

/* Where a tensor's pointer goes: a linear or norm member of the model or
 * block struct (by offset), or one of the model's own tensors. */
enum { TO_LINEAR, TO_NORM, TO_LUT, TO_CLS, TO_POS };
enum { PART_WEIGHT, PART_MULT, PART_BIAS };

/* One deploy-plan entry: its name (the suffix after "blocks.<i>." in a
 * block), kind, shape and destination. */
#define PLAN_NAME_BYTES 24          /* "patch_embed.proj.weight" and its NUL */
typedef struct {
    char name[PLAN_NAME_BYTES];     /* inline, so the table holds no pointers */
    uint8_t kind, dim0, dim1;       /* dim1 DIM_NONE: one dimension */
    uint8_t to, part;
    uint16_t member;                /* offsetof the ftv_linear_t / ftv_norm_t */
} plan_entry_t;

#define LINEAR(prefix, s, rows, cols, mult_rows, where)                                   \
    {prefix ".weight", KIND_TERN, rows, cols, TO_LINEAR, PART_WEIGHT, offsetof(s, where)}, \
    {prefix ".mult", KIND_MULT, mult_rows, DIM_NONE, TO_LINEAR, PART_MULT, offsetof(s, where)}, \
    {prefix ".bias", KIND_Q16, rows, DIM_NONE, TO_LINEAR, PART_BIAS, offsetof(s, where)}
#define NORM(prefix, s, where)                                                             \
    {prefix ".weight", KIND_TERN, DIM_ONE, DIM_D, TO_NORM, PART_WEIGHT, offsetof(s, where)}, \
    {prefix ".bias", KIND_TERN, DIM_ONE, DIM_D, TO_NORM, PART_BIAS, offsetof(s, where)},     \
    {prefix ".mult", KIND_MULT, DIM_TWO, DIM_NONE, TO_NORM, PART_MULT, offsetof(s, where)}

static const plan_entry_t PLAN_HEAD[TENSORS_HEAD] = {
    LINEAR("patch_embed.proj", ftv_model_t, DIM_D, DIM_PATCH_K, DIM_D, patch_embed),
    {"patch_embed.input_lut", KIND_I8, DIM_C, DIM_256, TO_LUT, 0, 0},
    {"cls_token", KIND_Q16, DIM_D, DIM_NONE, TO_CLS, 0, 0},
    {"pos_embed", KIND_Q16, DIM_POS, DIM_D, TO_POS, 0, 0},
};

static const plan_entry_t PLAN_BLOCK[TENSORS_BLOCK] = {
    NORM("norm1", ftv_block_t, norm1),
    LINEAR("attn.qkv", ftv_block_t, DIM_3D, DIM_D, DIM_ONE, qkv),
    LINEAR("attn.proj", ftv_block_t, DIM_D, DIM_D, DIM_LS, proj),
    NORM("norm2", ftv_block_t, norm2),
    LINEAR("mlp.fc1", ftv_block_t, DIM_H, DIM_D, DIM_ONE, fc1),
    LINEAR("mlp.fc2", ftv_block_t, DIM_D, DIM_H, DIM_LS, fc2),
};

static const plan_entry_t PLAN_TAIL[TENSORS_TAIL] = {
    NORM("norm", ftv_model_t, norm),
    LINEAR("head", ftv_model_t, DIM_K, DIM_D, DIM_ONE, head),
};

/* The checked config, and the end of the last placed item. */
typedef struct {
    const uint8_t *file;
    uint64_t len;
    int32_t cfg[FTV_BIND_CONFIG_COUNT];
    uint64_t end;
    int32_t capacity;           /* blocks the caller's ftv_bound_t has room for */
} walk_t;

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(ftv_bound_t *out, int code, int32_t index)
{
    out->error_index = index;
    return code;
}

/* ------------------------------------------------------------------ CRC32 */

/* Reflected polynomial 0xEDB88320, four bits a step: the 16 remainders of a
 * nibble (64 bytes of read-only data instead of a 1 KB byte table). */
uint32_t ftv_crc32(uint32_t crc, const uint8_t *data, size_t n)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu,
        0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
        0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

/* ------------------------------------------------------------- xorshift32 */

/* The seeded golden input (host/ftervit/ftv/golden.py): per byte
 * x ^= x << 13; x ^= x >> 17; x ^= x << 5 on 32 bits, then the top byte. */
uint32_t ftv_xorshift32_fill(uint32_t seed, uint8_t *out, size_t n)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (uint8_t)(x >> 24);
    }
    return x;
}

/* ------------------------------------------------------------------ names */

const char *ftv_bind_config_name(int32_t index)
{
    switch (index) {
    case CFG_ARITH: return "arith_version";
    case CFG_IMG: return "img_size";
    case CFG_PATCH: return "patch_size";
    case CFG_CHANS: return "in_chans";
    case CFG_DIM: return "embed_dim";
    case CFG_DEPTH: return "depth";
    case CFG_HEADS: return "num_heads";
    case CFG_MLP: return "mlp_dim";
    case CFG_CLASSES: return "num_classes";
    case CFG_CLS_POS: return "cls_pos";
    case CFG_LAYERSCALE: return "layerscale";
    case CFG_LAYOUT: return "layout";
    case CFG_LOGIT_MULT: return "attn_logit_mult";
    case CFG_RESIDUAL: return "residual_frac_bits";
    default: return "";
    }
}

/* Appends the decimal digits of v at name[at]; returns the new length. */
static size_t put_decimal(char *name, size_t at, uint32_t v)
{
    char digits[10];
    size_t n = 0;
    do {
        uint32_t q = (uint32_t)ftv_udiv64(v, 10);
        digits[n++] = (char)('0' + (v - 10 * q));
        v = q;
    } while (v);
    while (n)
        name[at++] = digits[--n];
    return at;
}

static size_t put_text(char *name, size_t at, const char *text)
{
    while (*text && at < FTV_BIND_NAME_BYTES)
        name[at++] = *text++;
    return at;
}

/* The plan entry of table index `index` in a model of `depth` blocks, and
 * its block number (-1 outside the blocks); NULL past the table. */
static const plan_entry_t *plan_entry(int64_t index, int64_t depth, int64_t *block)
{
    int64_t tail = TENSORS_HEAD + TENSORS_BLOCK * depth;
    uint64_t in_block;
    *block = -1;
    if (index < 0 || depth < 0)
        return NULL;
    if (index < TENSORS_HEAD)
        return &PLAN_HEAD[index];
    if (index >= tail)
        return index < tail + TENSORS_TAIL ? &PLAN_TAIL[index - tail] : NULL;
    *block = (int64_t)ftv_udiv64((uint64_t)(index - TENSORS_HEAD), TENSORS_BLOCK);
    in_block = (uint64_t)(index - TENSORS_HEAD) - (uint64_t)*block * TENSORS_BLOCK;
    return &PLAN_BLOCK[in_block];
}

size_t ftv_bind_tensor_name(char *name, int32_t index, int32_t depth)
{
    int64_t block;
    const plan_entry_t *e = plan_entry(index, depth, &block);
    size_t n = 0;
    if (!name)
        return 0;
    if (e) {
        if (block >= 0) {
            n = put_text(name, n, "blocks.");
            n = put_decimal(name, n, (uint32_t)block);
            n = put_text(name, n, ".");
        }
        n = put_text(name, n, e->name);
    }
    name[n] = '\0';
    return n;
}

/* ------------------------------------------------------------- the header */

static int check_header(const walk_t *w, uint32_t flags, uint64_t *head_end)
{
    const uint8_t *f = w->file;
    uint32_t version, file_size;
    if (w->len < FTV_BIND_HEADER_BYTES)
        return FTV_BIND_ERR_SHORT;
    if (f[0] != 'F' || f[1] != 'T' || f[2] != 'V' || f[3] != 'M')
        return FTV_BIND_ERR_MAGIC;
    version = rd16(f + 4);
    if (version > FTV_BIND_FORMAT_VERSION)
        return FTV_BIND_ERR_VERSION_NEWER;
    if (version != FTV_BIND_FORMAT_VERSION)
        return FTV_BIND_ERR_VERSION;
    if (rd16(f + 6) != FTV_BIND_CONFIG_COUNT)
        return FTV_BIND_ERR_CONFIG_COUNT;
    file_size = rd32(f + 12);
    if (w->len < file_size)
        return FTV_BIND_ERR_TRUNCATED;
    if (w->len > file_size)
        return FTV_BIND_ERR_TRAILING;
    *head_end = CONFIG_END + (uint64_t)FTV_BIND_ENTRY_BYTES * rd32(f + 8);
    if (*head_end > w->len)
        return FTV_BIND_ERR_TABLE_PAST_END;
    if (flags & FTV_BIND_CHECK_CRC) {
        uint32_t crc = ftv_crc32(0, f, HEAD_CRC_OFFSET);
        crc = ftv_crc32(crc, f + HEAD_CRC_OFFSET + 4, (size_t)*head_end - HEAD_CRC_OFFSET - 4);
        if (crc != rd32(f + HEAD_CRC_OFFSET))
            return FTV_BIND_ERR_HEAD_CRC;
        crc = ftv_crc32(0, f + *head_end, (size_t)(w->len - *head_end));
        if (crc != rd32(f + 32))
            return FTV_BIND_ERR_PAYLOAD_CRC;
    }
    return FTV_OK;
}

/* ------------------------------------------------------------- the config */

/* Inclusive bounds of config field i (docs/format.md section 4). */
static void config_bounds(int32_t i, int32_t *low, int32_t *high)
{
    *low = 1;
    switch (i) {
    case CFG_ARITH: *high = 0xFFFF; break;
    case CFG_IMG: case CFG_PATCH: *high = 4096; break;
    case CFG_CHANS: *high = 64; break;
    case CFG_DEPTH: *high = 1024; break;
    case CFG_CLASSES: *high = 1 << 20; break;
    case CFG_CLS_POS: case CFG_LAYERSCALE: *low = 0; *high = 1; break;
    case CFG_LAYOUT: *low = 2; *high = 3; break;
    case CFG_LOGIT_MULT: *low = 256; *high = FTV_INT32_MAX; break;
    case CFG_RESIDUAL: *low = 0; *high = 31; break;
    default: *high = 65535; break;  /* embed_dim, num_heads, mlp_dim */
    }
}

static int divides(int32_t d, int32_t n)
{
    return ftv_udiv64((uint64_t)n, (uint32_t)d) * (uint64_t)d == (uint64_t)n;
}

static int check_config(ftv_bound_t *out, walk_t *w)
{
    for (int32_t i = 0; i < FTV_BIND_CONFIG_COUNT; i++) {
        int32_t low, high, v = (int32_t)rd32(w->file + FTV_BIND_HEADER_BYTES + 4 * i);
        config_bounds(i, &low, &high);
        if (v < low || v > high)
            return fail(out, FTV_BIND_ERR_CONFIG_RANGE, i);
        w->cfg[i] = v;
    }
    if (!divides(w->cfg[CFG_HEADS], w->cfg[CFG_DIM]))
        return fail(out, FTV_BIND_ERR_CONFIG_DIVISOR, CFG_HEADS);
    if (!divides(w->cfg[CFG_PATCH], w->cfg[CFG_IMG]))
        return fail(out, FTV_BIND_ERR_CONFIG_DIVISOR, CFG_PATCH);
    return FTV_OK;
}

/* ------------------------------------------------------------ the tensors */

static uint64_t dim_value(const walk_t *w, uint8_t dim)
{
    const int32_t *c = w->cfg;
    uint64_t grid;
    switch (dim) {
    case DIM_ONE: return 1;
    case DIM_TWO: return 2;
    case DIM_D: return (uint64_t)c[CFG_DIM];
    case DIM_3D: return 3 * (uint64_t)c[CFG_DIM];
    case DIM_H: return (uint64_t)c[CFG_MLP];
    case DIM_K: return (uint64_t)c[CFG_CLASSES];
    case DIM_C: return (uint64_t)c[CFG_CHANS];
    case DIM_256: return 256;
    case DIM_PATCH_K:
        return (uint64_t)c[CFG_CHANS] * (uint64_t)c[CFG_PATCH] * (uint64_t)c[CFG_PATCH];
    case DIM_POS:
        grid = ftv_udiv64((uint64_t)c[CFG_IMG], (uint32_t)c[CFG_PATCH]);
        return grid * grid + (uint64_t)c[CFG_CLS_POS];
    case DIM_LS: return c[CFG_LAYERSCALE] ? (uint64_t)c[CFG_DIM] : 1;
    default: return 0;
    }
}

static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The table entry's name is the plan's name, NUL-padded to 40 bytes. */
static int name_matches(const uint8_t *raw, int32_t index, int32_t depth)
{
    char want[FTV_BIND_NAME_BYTES + 1];
    size_t n = ftv_bind_tensor_name(want, index, depth);
    for (size_t i = 0; i < n; i++)
        if (raw[i] != (uint8_t)want[i])
            return 0;
    return n > 0 && all_zero(raw + n, FTV_BIND_NAME_BYTES - n);
}

static uint8_t dtype_of(const walk_t *w, uint8_t kind)
{
    switch (kind) {
    case KIND_TERN: return (uint8_t)w->cfg[CFG_LAYOUT];
    case KIND_Q16: return DTYPE_I16;
    case KIND_MULT: return DTYPE_I32;
    default: return DTYPE_I8;
    }
}

/* rows * ceil(cols / per_byte) for ternary, else count * element bytes. */
static uint64_t planned_length(const walk_t *w, const plan_entry_t *e)
{
    uint64_t d0 = dim_value(w, e->dim0), d1 = e->dim1 == DIM_NONE ? 1 : dim_value(w, e->dim1);
    switch (e->kind) {
    case KIND_TERN: {
        uint32_t per_byte = w->cfg[CFG_LAYOUT] == FTV_LAYOUT_TERN2 ? 4 : 5;
        return d0 * ftv_udiv64(d1 + per_byte - 1, per_byte);
    }
    case KIND_Q16: return 2 * d0 * d1;
    case KIND_MULT: return 4 * d0 * d1;
    default: return d0 * d1;
    }
}

static int check_shape(const walk_t *w, const plan_entry_t *e, const uint8_t *entry)
{
    uint32_t ndim = entry[41], want_ndim = e->dim1 == DIM_NONE ? 1 : 2;
    const uint8_t *dims = entry + 44;
    if (ndim != want_ndim || rd32(dims) != dim_value(w, e->dim0))
        return 0;
    if (want_ndim == 2 && rd32(dims + 4) != dim_value(w, e->dim1))
        return 0;
    for (uint32_t i = want_ndim; i < 3; i++)
        if (rd32(dims + 4 * i) != 0)
            return 0;
    return 1;
}

/* Aligned, after everything before it (no overlap, file order), inside the
 * file, zero bytes in between; then the item's end is the walk's end. */
static int place(ftv_bound_t *out, walk_t *w, uint64_t offset, uint64_t length, int32_t index)
{
    if (offset % FTV_BIND_ALIGN)
        return fail(out, FTV_BIND_ERR_MISALIGNED, index);
    if (offset < w->end)
        return fail(out, FTV_BIND_ERR_OVERLAP, index);
    if (offset + length > w->len)
        return fail(out, FTV_BIND_ERR_PAST_END, index);
    if (!all_zero(w->file + w->end, offset - w->end))
        return fail(out, FTV_BIND_ERR_PADDING, index);
    w->end = offset + length;
    return FTV_OK;
}

/* Points the plan entry's destination at p (blocks past the caller's room
 * are checked, not stored: the runtime limit refuses them later). */
static void store(ftv_bound_t *out, const walk_t *w, const plan_entry_t *e, int64_t block,
                  const uint8_t *p, int32_t frac)
{
    uint8_t *base;
    if (block >= w->capacity)
        return;
    base = block >= 0 ? (uint8_t *)&out->blocks[block] : (uint8_t *)&out->model;
    if (e->to == TO_LINEAR) {
        ftv_linear_t *l = (ftv_linear_t *)(void *)(base + e->member);
        if (e->part == PART_WEIGHT)
            l->weight = p;
        else if (e->part == PART_MULT)
            l->mult = (const int32_t *)(const void *)p;
        else {
            l->bias = (const int16_t *)(const void *)p;
            l->bias_frac = frac;
        }
    } else if (e->to == TO_NORM) {
        ftv_norm_t *n = (ftv_norm_t *)(void *)(base + e->member);
        if (e->part == PART_WEIGHT)
            n->weight = p;
        else if (e->part == PART_BIAS)
            n->bias = p;
        else
            n->mult = (const int32_t *)(const void *)p;
    } else if (e->to == TO_LUT) {
        out->model.input_lut = (const int8_t *)(const void *)p;
    } else if (e->to == TO_CLS) {
        out->model.cls_token = (const int16_t *)(const void *)p;
        out->model.cls_frac = frac;
    } else {
        out->model.pos_embed = (const int16_t *)(const void *)p;
        out->model.pos_frac = frac;
    }
}

/* Reader check 6 for table entry `index`: name, dtype, shape, frac_bits,
 * length, placement. */
static int check_entry(ftv_bound_t *out, walk_t *w, int32_t index)
{
    const uint8_t *entry = w->file + CONFIG_END + (uint64_t)FTV_BIND_ENTRY_BYTES * (uint32_t)index;
    int32_t depth = w->cfg[CFG_DEPTH], frac = (int16_t)rd16(entry + 42);
    int64_t block;
    const plan_entry_t *e = plan_entry(index, depth, &block);
    uint8_t dtype = entry[40];
    uint64_t offset = rd32(entry + 56), length = rd32(entry + 60);
    int rc;
    if (!name_matches(entry, index, depth))
        return fail(out, FTV_BIND_ERR_NAME, index);
    if (dtype != dtype_of(w, e->kind))
        return fail(out, FTV_BIND_ERR_DTYPE, index);
    if (!check_shape(w, e, entry))
        return fail(out, FTV_BIND_ERR_SHAPE, index);
    if (dtype == DTYPE_I16 ? frac < FRAC_MIN || frac > FRAC_MAX : frac != 0)
        return fail(out, FTV_BIND_ERR_FRAC_BITS, index);
    if (length != planned_length(w, e))
        return fail(out, FTV_BIND_ERR_LENGTH, index);
    rc = place(out, w, offset, length, index);
    if (rc != FTV_OK)
        return rc;
    store(out, w, e, block, w->file + offset, frac);
    return FTV_OK;
}

/* ------------------------------------------------------ labels and golden */

/* Strict UTF-8 (what Python's decoder accepts): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int valid_utf8(const uint8_t *s, uint64_t n)
{
    uint64_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t more;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i - 1 < more || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (uint32_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += 1 + more;
    }
    return 1;
}

static int check_labels(ftv_bound_t *out, const walk_t *w, const uint8_t *s, uint64_t n)
{
    uint64_t count = 1;
    if (!valid_utf8(s, n))
        return fail(out, FTV_BIND_ERR_LABELS_UTF8, FTV_BIND_AT_LABELS);
    for (uint64_t i = 0; i < n; i++)
        count += s[i] == '\n';
    if (count != (uint64_t)w->cfg[CFG_CLASSES])
        return fail(out, FTV_BIND_ERR_LABELS_COUNT, FTV_BIND_AT_LABELS);
    out->labels = s;
    out->labels_len = (uint32_t)n;
    return FTV_OK;
}

static int check_golden(ftv_bound_t *out, const walk_t *w, const uint8_t *s, uint64_t n)
{
    const int32_t *c = w->cfg;
    uint32_t kind, seed, num_logits, input_length;
    uint64_t want_input;
    if (n < GOLDEN_HEADER)
        return fail(out, FTV_BIND_ERR_GOLDEN_SHORT, FTV_BIND_AT_GOLDEN);
    kind = rd32(s);
    seed = rd32(s + 4);
    num_logits = rd32(s + 8);
    input_length = rd32(s + 12);
    if (kind != GOLDEN_RAW && kind != GOLDEN_XORSHIFT)
        return fail(out, FTV_BIND_ERR_GOLDEN_KIND, FTV_BIND_AT_GOLDEN);
    if (num_logits != (uint32_t)c[CFG_CLASSES])
        return fail(out, FTV_BIND_ERR_GOLDEN_LOGITS, FTV_BIND_AT_GOLDEN);
    want_input = kind == GOLDEN_RAW
        ? (uint64_t)c[CFG_IMG] * (uint64_t)c[CFG_IMG] * (uint64_t)c[CFG_CHANS] : 0;
    if (input_length != want_input)
        return fail(out, FTV_BIND_ERR_GOLDEN_INPUT, FTV_BIND_AT_GOLDEN);
    if (kind == GOLDEN_RAW ? seed != 0 : seed == 0)
        return fail(out, FTV_BIND_ERR_GOLDEN_SEED, FTV_BIND_AT_GOLDEN);
    if (n != GOLDEN_HEADER + 4 * (uint64_t)num_logits + input_length)
        return fail(out, FTV_BIND_ERR_GOLDEN_LENGTH, FTV_BIND_AT_GOLDEN);
    out->golden_logits = (const int32_t *)(const void *)(s + GOLDEN_HEADER);
    out->golden_image = kind == GOLDEN_RAW ? s + GOLDEN_HEADER + 4 * (uint64_t)num_logits : NULL;
    out->golden_seed = seed;
    return FTV_OK;
}

/* Reader check 7: labels, then golden. */
static int check_sections(ftv_bound_t *out, walk_t *w)
{
    for (int32_t at = FTV_BIND_AT_LABELS; at >= FTV_BIND_AT_GOLDEN; at--) {
        const uint8_t *h = w->file + (at == FTV_BIND_AT_LABELS ? 16 : 24);
        uint64_t offset = rd32(h), length = rd32(h + 4);
        int rc;
        if (offset == 0) {
            if (length != 0)
                return fail(out, FTV_BIND_ERR_SECTION_LENGTH, at);
            continue;
        }
        rc = place(out, w, offset, length, at);
        if (rc == FTV_OK)
            rc = at == FTV_BIND_AT_LABELS ? check_labels(out, w, w->file + offset, length)
                                          : check_golden(out, w, w->file + offset, length);
        if (rc != FTV_OK)
            return rc;
    }
    return FTV_OK;
}

/* ---------------------------------------------------------- ternary codes */

/* Reader check 8 for one [rows x cols] tensor: every byte a valid code
 * (the whole tensor first), then every padding weight code 1. */
static int check_codes(const uint8_t *p, uint64_t rows, uint64_t cols, int32_t layout)
{
    uint32_t per_byte = layout == FTV_LAYOUT_TERN2 ? 4 : 5;
    uint64_t stride = ftv_udiv64(cols + per_byte - 1, per_byte), n = rows * stride;
    uint32_t used = (uint32_t)(cols - (stride - 1) * per_byte);    /* codes in a last byte */
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (layout == FTV_LAYOUT_TERN2 ? (b & (b >> 1) & 0x55) != 0 : b >= 243)
            return FTV_BIND_ERR_TERN_CODE;
    }
    if (used == per_byte)
        return FTV_OK;
    for (uint64_t r = 0; r < rows; r++) {
        uint32_t b = p[r * stride + stride - 1], ok;
        if (layout == FTV_LAYOUT_TERN2) {
            ok = (b >> (2 * used)) == (0x55u >> (2 * used));
        } else {
            /* b = low + 3^used * high, low < 3^used: high must be all ones */
            uint32_t place_value = 1, ones = 0;
            for (uint32_t k = 0; k < used; k++)
                place_value *= 3;
            for (uint32_t k = used; k < per_byte; k++)
                ones = 3 * ones + 1;
            ok = b >= place_value * ones && b < place_value * (ones + 1);
        }
        if (!ok)
            return FTV_BIND_ERR_TERN_PADDING;
    }
    return FTV_OK;
}

static int check_all_codes(ftv_bound_t *out, const walk_t *w, uint32_t tensor_count)
{
    for (uint32_t i = 0; i < tensor_count; i++) {
        int64_t block;
        const plan_entry_t *e = plan_entry(i, w->cfg[CFG_DEPTH], &block);
        const uint8_t *entry = w->file + CONFIG_END + (uint64_t)FTV_BIND_ENTRY_BYTES * i;
        int rc;
        if (e->kind != KIND_TERN)
            continue;
        rc = check_codes(w->file + rd32(entry + 56), dim_value(w, e->dim0),
                         dim_value(w, e->dim1), w->cfg[CFG_LAYOUT]);
        if (rc != FTV_OK)
            return fail(out, rc, (int32_t)i);
    }
    return FTV_OK;
}

/* ---------------------------------------------------- the runtime's limits */

static int check_runtime(ftv_bound_t *out, const walk_t *w)
{
    const int32_t *c = w->cfg;
    ftv_geometry_t *g = &out->model.geometry;
    if (c[CFG_ARITH] != FTV_ARITH_VERSION)
        return fail(out, FTV_BIND_ERR_ARITH_VERSION, CFG_ARITH);
    if (c[CFG_RESIDUAL] != FTV_FRAC_BITS)
        return fail(out, FTV_BIND_ERR_RESIDUAL_FRAC, CFG_RESIDUAL);
    if (c[CFG_DEPTH] > w->capacity)
        return fail(out, FTV_BIND_ERR_DEPTH, CFG_DEPTH);
    g->img_size = c[CFG_IMG];
    g->patch_size = c[CFG_PATCH];
    g->in_chans = c[CFG_CHANS];
    g->embed_dim = c[CFG_DIM];
    g->depth = c[CFG_DEPTH];
    g->num_heads = c[CFG_HEADS];
    g->mlp_dim = c[CFG_MLP];
    g->num_classes = c[CFG_CLASSES];
    g->cls_pos = c[CFG_CLS_POS];
    g->layerscale = c[CFG_LAYERSCALE];
    g->layout = c[CFG_LAYOUT];
    g->attn_logit_mult = c[CFG_LOGIT_MULT];
    if (ftv_check_geometry(g) != FTV_OK)
        return fail(out, FTV_BIND_ERR_GEOMETRY, FTV_BIND_AT_NONE);
    out->scratch_bytes = ftv_scratch_bytes(g);
    return FTV_OK;
}

/* ------------------------------------------------------------------- bind */

static int host_is_little_endian(void)
{
    uint32_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static int walk(ftv_bound_t *out, walk_t *w, uint32_t flags)
{
    uint64_t head_end = 0;
    uint32_t tensor_count;
    int rc = check_header(w, flags, &head_end);
    if (rc != FTV_OK)
        return rc;
    rc = check_config(out, w);
    if (rc != FTV_OK)
        return rc;
    tensor_count = rd32(w->file + 8);
    if (tensor_count != TENSORS_HEAD + TENSORS_TAIL + TENSORS_BLOCK * (uint32_t)w->cfg[CFG_DEPTH])
        return FTV_BIND_ERR_TENSOR_COUNT;
    w->end = head_end;
    for (uint32_t i = 0; i < tensor_count; i++) {
        rc = check_entry(out, w, (int32_t)i);
        if (rc != FTV_OK)
            return rc;
    }
    rc = check_sections(out, w);
    if (rc == FTV_OK && (flags & FTV_BIND_CHECK_CODES))
        rc = check_all_codes(out, w, tensor_count);
    if (rc == FTV_OK)
        rc = check_runtime(out, w);
    return rc;
}

int ftv_bind(ftv_bound_t *out, const uint8_t *file, size_t file_len, uint32_t flags)
{
    return ftv_bind_sized(out, sizeof *out, file, file_len, flags);
}

int ftv_bind_sized(ftv_bound_t *out, size_t out_bytes, const uint8_t *file, size_t file_len,
                   uint32_t flags)
{
    walk_t w;
    int rc;
    int32_t room = 0;
    if (!out || out_bytes < FTV_BOUND_BYTES(0))
        return FTV_BIND_ERR_ARG;
    /* only the first out_bytes are ours: never touch *out as a whole.  Counted,
     * not divided: the bare-metal Xtensa builds link no division helper. */
    while (room < FTV_BIND_MAX_DEPTH && FTV_BOUND_BYTES(room + 1) <= out_bytes)
        room++;
    memset(out, 0, FTV_BOUND_BYTES(0));
    out->error_index = FTV_BIND_AT_NONE;
    if (!file || (uintptr_t)file % 4 != 0)
        return FTV_BIND_ERR_ARG;
    if (!host_is_little_endian())
        return FTV_BIND_ERR_ENDIAN;
    memset(&w, 0, sizeof w);
    w.file = file;
    w.len = file_len;
    w.capacity = room;
    memset(out->blocks, 0, (size_t)w.capacity * sizeof(ftv_block_t));
    rc = walk(out, &w, flags);
    if (rc != FTV_OK) {
        int32_t index = out->error_index;
        memset(out, 0, FTV_BOUND_BYTES(w.capacity));     /* no half-bound model */
        out->error_index = index;
        return rc;
    }
    out->model.blocks = out->blocks;
    return FTV_OK;
}

const char *ftv_bind_strerror(int code)
{
    switch (code) {
    case FTV_OK: return "ok";
    case FTV_BIND_ERR_ARG:
        return "arguments: expected a model buffer at an address that is a multiple of 4";
    case FTV_BIND_ERR_ENDIAN: return "host: expected a little-endian machine";
    case FTV_BIND_ERR_SHORT: return "file_size: truncated: expected at least the 40-byte header";
    case FTV_BIND_ERR_MAGIC: return "magic: expected FTVM (not an .ftv model file?)";
    case FTV_BIND_ERR_VERSION_NEWER:
        return "format_version: the file is newer than this reader (version 1)";
    case FTV_BIND_ERR_VERSION: return "format_version: expected 1";
    case FTV_BIND_ERR_CONFIG_COUNT: return "config_count: expected 14";
    case FTV_BIND_ERR_TRUNCATED: return "file_size: truncated: fewer bytes than the header says";
    case FTV_BIND_ERR_TRAILING: return "file_size: trailing bytes: more bytes than the header says";
    case FTV_BIND_ERR_TABLE_PAST_END:
        return "tensor_count: the tensor table runs past the end of the file";
    case FTV_BIND_ERR_HEAD_CRC:
        return "head_crc32: CRC mismatch (header, config or tensor table corrupt)";
    case FTV_BIND_ERR_PAYLOAD_CRC:
        return "payload_crc32: CRC mismatch (tensor data, labels or golden vector corrupt)";
    case FTV_BIND_ERR_CONFIG_RANGE: return "config: value out of its bounds";
    case FTV_BIND_ERR_CONFIG_DIVISOR:
        return "config: expected a divisor (num_heads of embed_dim, patch_size of img_size)";
    case FTV_BIND_ERR_TENSOR_COUNT: return "tensor_count: expected 12 + 18 * depth tensors";
    case FTV_BIND_ERR_NAME: return "name: expected the deploy plan's name, NUL-padded";
    case FTV_BIND_ERR_DTYPE: return "dtype: expected the plan's dtype (tern: the config's layout)";
    case FTV_BIND_ERR_SHAPE: return "shape: expected the plan's shape for this config";
    case FTV_BIND_ERR_FRAC_BITS: return "frac_bits: expected -32..63 for i16, 0 otherwise";
    case FTV_BIND_ERR_LENGTH: return "length: expected the bytes of the planned shape";
    case FTV_BIND_ERR_MISALIGNED: return "offset: expected a multiple of 16";
    case FTV_BIND_ERR_OVERLAP: return "offset: overlaps the item before it";
    case FTV_BIND_ERR_PAST_END: return "offset: runs past the end of the file";
    case FTV_BIND_ERR_PADDING: return "offset: expected zero padding before it";
    case FTV_BIND_ERR_SECTION_LENGTH: return "length: expected 0 when the offset is 0 (no section)";
    case FTV_BIND_ERR_LABELS_UTF8: return "labels: expected UTF-8 text";
    case FTV_BIND_ERR_LABELS_COUNT: return "labels: expected num_classes labels";
    case FTV_BIND_ERR_GOLDEN_SHORT: return "golden_length: expected at least 16 bytes";
    case FTV_BIND_ERR_GOLDEN_KIND: return "golden.input_kind: expected 0 (raw) or 1 (xorshift32)";
    case FTV_BIND_ERR_GOLDEN_LOGITS: return "golden.num_logits: expected num_classes";
    case FTV_BIND_ERR_GOLDEN_INPUT:
        return "golden.input_length: expected img_size^2 * in_chans (raw) or 0";
    case FTV_BIND_ERR_GOLDEN_SEED:
        return "golden.seed: expected 0 (raw) or a nonzero xorshift32 seed";
    case FTV_BIND_ERR_GOLDEN_LENGTH:
        return "golden_length: expected 16 + 4 * num_classes + input_length";
    case FTV_BIND_ERR_TERN_CODE:
        return "invalid ternary code (tern2 bit pair 11, tern3 byte > 242)";
    case FTV_BIND_ERR_TERN_PADDING:
        return "padding weights past the last column must be code 1 (w = 0)";
    case FTV_BIND_ERR_ARITH_VERSION:
        return "config.arith_version: not the arithmetic version this runtime implements";
    case FTV_BIND_ERR_RESIDUAL_FRAC:
        return "config.residual_frac_bits: this runtime implements x12 activations (12)";
    case FTV_BIND_ERR_DEPTH:
        return "config.depth: more encoder blocks than the runtime has room for "
               "(FTV_BIND_MAX_DEPTH is 32)";
    case FTV_BIND_ERR_GEOMETRY:
        return "geometry: beyond the runtime's limits (tokens, widths, buffer sizes)";
    default: return "unknown ftv_bind error code";
    }
}
