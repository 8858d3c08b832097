/* _ftervit: the ftervit runtime as a MicroPython module.
 *
 * The one file of the project that includes py/ headers.  It builds two ways
 * from this same source:
 *   - a dynamic native module (_ftervit.mpy): Makefile here, over
 *     py/dynruntime.mk, which defines MICROPY_ENABLE_DYNRUNTIME;
 *   - a user C module compiled into firmware: micropython.mk (make ports,
 *     e.g. unix) and micropython.cmake (esp32), registered below with
 *     MP_REGISTER_MODULE.
 *
 * The Python API (the device package device/ftervit/ wraps it):
 *   VERSION, FORMAT_VERSION, ARITH_VERSION      ints
 *   GRAYSCALE, RGB565, RGB888, RGB_PPM          frame formats (ftv_frame.h)
 *   CTX_SIZE                                    bytes of a context for any model
 *   ctx_size(depth) -> int                      bytes of one for `depth` blocks
 *   bind(model, ctx, check_crc) -> (img_size, in_chans, num_classes,
 *                                   image_bytes, scratch_bytes)
 *   forward(ctx, model, image, scratch, logits) -> None
 *   forward_staged(ctx, model, image, scratch, logits, mark) -> None
 *                                   forward, calling mark(stage) as each stage
 *                                   ends (ftv_forward_staged in ftv_model.h):
 *                                   a natmod cannot read the clock, Python can
 *   frame(ctx, frame, width, height, fmt, image) -> None
 * Every buffer is the caller's: nothing here allocates but the result tuple
 * and exceptions.  Byte buffers are bytes, bytearray or a memoryview of
 * typecode 'b' or 'B' (the camera hands out signed memoryviews); logits is an
 * array('i').  A bad argument raises TypeError (wrong kind of object) or
 * ValueError (wrong length, value or state) whose text starts with the
 * argument's name and says what was expected.
 *
 * ctx is a bytearray(ctx_size(depth)) (or CTX_SIZE) that bind fills: the
 * model's tensor pointers (into the model buffer, used in place) and the model
 * buffer's address and length, so forward refuses any other model buffer.
 * Treat it as opaque.  Sized by depth, a 4-block model's context is about
 * 1 KB instead of 6 KB: RAM the board keeps for the weights.
 */
#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif

#include "ftv.h"
#include "ftv_bind.h"
#include "ftv_frame.h"

/* The module's own version: the device package refuses a module of another. */
#define FTERVIT_VERSION 2           /* 2: contexts sized by depth (ctx_size), forward_staged */

#define CTX_MAGIC 0x31565446u       /* "FTV1": set once bind succeeded */

typedef struct {
    uint32_t magic;                 /* CTX_MAGIC when bound, else anything */
    const uint8_t *file;            /* the model buffer bind checked */
    size_t file_len;
    size_t image_bytes;             /* img_size^2 * in_chans */
    size_t scratch_min;             /* the least scratch ftv_forward accepts */
    ftv_bound_t bound;              /* last: a context may hold fewer blocks */
} ftervit_ctx_t;

#define CTX_BYTES(depth) (offsetof(ftervit_ctx_t, bound) + FTV_BOUND_BYTES(depth))

/* ------------------------------------------------------------ messages */

/* Exception text built on the stack (no snprintf in a native module), then
 * copied into a str object, so it outlives this call. */
typedef struct {
    char text[200];
    size_t len;
} msg_t;

static void msg_str(msg_t *m, const char *s)
{
    while (*s && m->len < sizeof m->text)
        m->text[m->len++] = *s++;
}

static void msg_uint(msg_t *m, size_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && m->len < sizeof m->text)
        m->text[m->len++] = digits[--n];
}

static void msg_int(msg_t *m, mp_int_t v)
{
    if (v < 0) {
        msg_str(m, "-");
        msg_uint(m, (size_t)0 - (size_t)v);
    } else {
        msg_uint(m, (size_t)v);
    }
}

static MP_NORETURN void msg_raise(const mp_obj_type_t *type, const msg_t *m)
{
    nlr_raise(mp_obj_new_exception_arg1(type, mp_obj_new_str(m->text, m->len)));
}

/* "<name>: expected <what>, got <got>" */
static MP_NORETURN void raise_count(const char *name, const char *what_before, size_t expected,
                                    const char *what_after, size_t got)
{
    msg_t m = {{0}, 0};
    msg_str(&m, name);
    msg_str(&m, ": expected ");
    msg_str(&m, what_before);
    msg_uint(&m, expected);
    msg_str(&m, what_after);
    msg_str(&m, ", got ");
    msg_uint(&m, got);
    msg_raise(&mp_type_ValueError, &m);
}

static MP_NORETURN void raise_text(const mp_obj_type_t *type, const char *name, const char *text)
{
    msg_t m = {{0}, 0};
    msg_str(&m, name);
    msg_str(&m, ": ");
    msg_str(&m, text);
    msg_raise(type, &m);
}

/* ------------------------------------------------------------ buffers */

/* bytes and str report 'B'; bytearray (and memoryviews of it) report 1,
 * MicroPython's BYTEARRAY_TYPECODE. */
static bool is_byte_typecode(int typecode)
{
    return typecode == 'b' || typecode == 'B' || typecode == 1;
}

static void byte_buffer(mp_obj_t obj, const char *name, mp_buffer_info_t *buf, mp_uint_t flags)
{
    if (!mp_get_buffer(obj, buf, flags)) {
        raise_text(&mp_type_TypeError, name, flags & MP_BUFFER_WRITE
                   ? "expected a writable byte buffer (bytearray, or memoryview of typecode 'b' or 'B')"
                   : "expected a byte buffer (bytes, bytearray, or memoryview of typecode 'b' or 'B')");
    }
    if (!is_byte_typecode(buf->typecode)) {
        msg_t m = {{0}, 0};
        msg_str(&m, name);
        msg_str(&m, ": expected a buffer of bytes (typecode 'b' or 'B'), got typecode '");
        char code[2] = {(char)buf->typecode, 0};
        msg_str(&m, code);
        msg_str(&m, "'");
        msg_raise(&mp_type_TypeError, &m);
    }
}

static void byte_buffer_exact(mp_obj_t obj, const char *name, mp_buffer_info_t *buf,
                              mp_uint_t flags, size_t len)
{
    byte_buffer(obj, name, buf, flags);
    if (buf->len != len)
        raise_count(name, "", len, " bytes", buf->len);
}

/* Outputs must not overlap what the same call reads. */
static void check_apart(const mp_buffer_info_t *out, const char *out_name,
                        const mp_buffer_info_t *in, const char *in_name)
{
    uintptr_t o = (uintptr_t)out->buf, i = (uintptr_t)in->buf;
    if (o < i + in->len && i < o + out->len) {
        msg_t m = {{0}, 0};
        msg_str(&m, out_name);
        msg_str(&m, ": expected a buffer apart from ");
        msg_str(&m, in_name);
        msg_str(&m, ", got one that overlaps it");
        msg_raise(&mp_type_ValueError, &m);
    }
}

/* ------------------------------------------------------------ context */

/* The context buffer; *len (if given) its bytes, between CTX_BYTES(0) and CTX_SIZE. */
static ftervit_ctx_t *ctx_buffer(mp_obj_t obj, size_t *len)
{
    mp_buffer_info_t buf;
    byte_buffer(obj, "ctx", &buf, MP_BUFFER_WRITE);
    if (buf.len < CTX_BYTES(0) || buf.len > sizeof(ftervit_ctx_t))
        raise_count("ctx", "bytearray(ctx_size(depth)), at most CTX_SIZE = ",
                    sizeof(ftervit_ctx_t), " bytes", buf.len);
    if ((uintptr_t)buf.buf % sizeof(void *) != 0)
        raise_text(&mp_type_ValueError, "ctx",
                   "expected a buffer at an aligned address (a bytearray of its own, not a slice)");
    if (len)
        *len = buf.len;
    return (ftervit_ctx_t *)buf.buf;
}

static ftervit_ctx_t *bound_ctx(mp_obj_t obj)
{
    ftervit_ctx_t *ctx = ctx_buffer(obj, NULL);
    if (ctx->magic != CTX_MAGIC)
        raise_text(&mp_type_ValueError, "ctx",
                   "expected a context bound to a model, got one bind() did not fill "
                   "(call bind(model, ctx, check_crc) first)");
    /* model.blocks points into the context itself: follow it if it moved. */
    ctx->bound.model.blocks = ctx->bound.blocks;
    return ctx;
}

/* The model buffer must be the one bind checked: the context's pointers lead into it. */
static void check_same_model(const ftervit_ctx_t *ctx, mp_obj_t model_in, mp_buffer_info_t *model)
{
    byte_buffer(model_in, "model", model, MP_BUFFER_READ);
    if ((const uint8_t *)model->buf != ctx->file || model->len != ctx->file_len)
        raise_text(&mp_type_ValueError, "model",
                   "expected the buffer ctx was bound to, got another (bind it first)");
}

/* ------------------------------------------------------------ bind */

/* The file's depth (config field 5), for naming a tensor; 0 if unreadable. */
static int32_t file_depth(const uint8_t *file, size_t len)
{
    const size_t at = FTV_BIND_HEADER_BYTES + 4 * 5;
    if (len < at + 4)
        return 0;
    return (int32_t)((uint32_t)file[at] | (uint32_t)file[at + 1] << 8 |
                     (uint32_t)file[at + 2] << 16 | (uint32_t)file[at + 3] << 24);
}

static bool is_config_error(int code)
{
    return code == FTV_BIND_ERR_CONFIG_RANGE || code == FTV_BIND_ERR_CONFIG_DIVISOR ||
           code == FTV_BIND_ERR_ARITH_VERSION || code == FTV_BIND_ERR_RESIDUAL_FRAC ||
           code == FTV_BIND_ERR_DEPTH;
}

static bool is_tensor_error(int code)
{
    /* NAME .. PADDING: an entry's fields and placement (labels and golden
     * placement errors carry FTV_BIND_AT_* instead of a table index) */
    return (code <= FTV_BIND_ERR_NAME && code >= FTV_BIND_ERR_PADDING) ||
           code == FTV_BIND_ERR_TERN_CODE || code == FTV_BIND_ERR_TERN_PADDING;
}

static MP_NORETURN void raise_bind_error(int code, int32_t index, const uint8_t *file, size_t len)
{
    msg_t m = {{0}, 0};
    msg_str(&m, "model: ");
    msg_str(&m, ftv_bind_strerror(code));
    if (is_config_error(code) && index >= 0) {
        msg_str(&m, " (config field ");
        msg_str(&m, ftv_bind_config_name(index));
        msg_str(&m, ")");
    } else if (is_tensor_error(code) && index >= 0) {
        char name[FTV_BIND_NAME_BYTES + 1];
        msg_str(&m, " (tensor ");
        if (ftv_bind_tensor_name(name, index, file_depth(file, len)) > 0) {
            msg_str(&m, name);
        } else {
            msg_str(&m, "#");
            msg_int(&m, index);
        }
        msg_str(&m, ")");
    } else if (index == FTV_BIND_AT_LABELS) {
        msg_str(&m, " (labels section)");
    } else if (index == FTV_BIND_AT_GOLDEN) {
        msg_str(&m, " (golden section)");
    }
    msg_raise(&mp_type_ValueError, &m);
}

static mp_obj_t ftervit_bind(mp_obj_t model_in, mp_obj_t ctx_in, mp_obj_t check_crc_in)
{
    mp_buffer_info_t model;
    byte_buffer(model_in, "model", &model, MP_BUFFER_READ);
    size_t ctx_len;
    ftervit_ctx_t *ctx = ctx_buffer(ctx_in, &ctx_len);
    ctx->magic = 0;                 /* a failed bind leaves no usable context */
    if ((uintptr_t)model.buf % 4 != 0)
        raise_text(&mp_type_ValueError, "model",
                   "expected a buffer at an address that is a multiple of 4 "
                   "(a bytes or bytearray of its own, not a slice)");
    check_apart(&(mp_buffer_info_t){.buf = ctx, .len = ctx_len}, "ctx", &model, "model");

    /* Ternary codes are always decoded once: an invalid byte would index
     * past the kernels' tables.  CRCs are the caller's choice (time). */
    uint32_t flags = FTV_BIND_CHECK_CODES;
    if (mp_obj_is_true(check_crc_in))
        flags |= FTV_BIND_CHECK_CRC;
    size_t room = ctx_len - offsetof(ftervit_ctx_t, bound);
    int rc = ftv_bind_sized(&ctx->bound, room, model.buf, model.len, flags);
    int32_t depth = file_depth(model.buf, model.len);
    if (rc == FTV_BIND_ERR_DEPTH && depth <= FTV_BIND_MAX_DEPTH)
        raise_count("ctx", "bytearray(ctx_size(depth)) for the model's depth: ",
                    CTX_BYTES(depth), " bytes", ctx_len);
    if (rc != FTV_OK)
        raise_bind_error(rc, ctx->bound.error_index, model.buf, model.len);

    const ftv_geometry_t *g = &ctx->bound.model.geometry;
    ctx->file = model.buf;
    ctx->file_len = model.len;
    ctx->image_bytes = (size_t)g->img_size * (size_t)g->img_size * (size_t)g->in_chans;
    ctx->scratch_min = ftv_scratch_bytes_for(g, 1);
    ctx->magic = CTX_MAGIC;

    mp_obj_t info[5] = {
        mp_obj_new_int(g->img_size),
        mp_obj_new_int(g->in_chans),
        mp_obj_new_int(g->num_classes),
        mp_obj_new_int_from_uint(ctx->image_bytes),
        mp_obj_new_int_from_uint(ctx->bound.scratch_bytes),
    };
    return mp_obj_new_tuple(5, info);
}
static MP_DEFINE_CONST_FUN_OBJ_3(ftervit_bind_obj, ftervit_bind);

static mp_obj_t ftervit_ctx_size(mp_obj_t depth_in)
{
    mp_int_t depth = mp_obj_get_int(depth_in);
    if (depth < 0 || depth > FTV_BIND_MAX_DEPTH) {
        msg_t m = {{0}, 0};
        msg_str(&m, "depth: expected 0 to ");
        msg_int(&m, FTV_BIND_MAX_DEPTH);
        msg_str(&m, " encoder blocks, got ");
        msg_int(&m, (int32_t)depth);
        msg_raise(&mp_type_ValueError, &m);
    }
    return mp_obj_new_int_from_uint(CTX_BYTES(depth));
}
static MP_DEFINE_CONST_FUN_OBJ_1(ftervit_ctx_size_obj, ftervit_ctx_size);

/* ------------------------------------------------------------ forward */

static void logits_buffer(mp_obj_t obj, mp_buffer_info_t *buf, size_t num_classes)
{
    if (!mp_get_buffer(obj, buf, MP_BUFFER_WRITE) || buf->typecode != 'i')
        raise_text(&mp_type_TypeError, "logits", "expected array('i') (int32, writable)");
    if ((uintptr_t)buf->buf % 4 != 0)
        raise_text(&mp_type_ValueError, "logits", "expected a buffer at an address that is a multiple of 4");
    if (buf->len != num_classes * sizeof(int32_t))
        raise_count("logits", "array('i') of ", num_classes, " items", buf->len / sizeof(int32_t));
}

/* forward and forward_staged: the same checks, then ftv_forward_staged. */
static void stage_mark(void *user, int32_t stage)
{
    mp_obj_t arg = MP_OBJ_NEW_SMALL_INT(stage);
    mp_call_function_n_kw(MP_OBJ_FROM_PTR(user), 1, 0, &arg);
}

static void run_forward(const mp_obj_t *args, mp_obj_t mark)
{
    ftervit_ctx_t *ctx = bound_ctx(args[0]);
    mp_buffer_info_t model, image, scratch, logits;
    check_same_model(ctx, args[1], &model);
    byte_buffer_exact(args[2], "image", &image, MP_BUFFER_READ, ctx->image_bytes);
    byte_buffer(args[3], "scratch", &scratch, MP_BUFFER_WRITE);
    if (scratch.len < ctx->scratch_min)
        raise_count("scratch", "at least ", ctx->scratch_min, " bytes", scratch.len);
    logits_buffer(args[4], &logits, (size_t)ctx->bound.model.geometry.num_classes);
    check_apart(&scratch, "scratch", &model, "model");
    check_apart(&scratch, "scratch", &image, "image");
    check_apart(&logits, "logits", &model, "model");
    check_apart(&logits, "logits", &image, "image");
    check_apart(&logits, "logits", &scratch, "scratch");

    int rc = ftv_forward_staged(&ctx->bound.model, image.buf, logits.buf, scratch.buf,
                                scratch.len, mark == MP_OBJ_NULL ? NULL : stage_mark,
                                MP_OBJ_TO_PTR(mark));
    if (rc != FTV_OK)
        raise_text(&mp_type_ValueError, "forward", ftv_strerror(rc));
}

static mp_obj_t ftervit_forward(size_t n_args, const mp_obj_t *args)
{
    (void)n_args;
    run_forward(args, MP_OBJ_NULL);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ftervit_forward_obj, 5, 5, ftervit_forward);

static mp_obj_t ftervit_forward_staged(size_t n_args, const mp_obj_t *args)
{
    (void)n_args;
    run_forward(args, args[5]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ftervit_forward_staged_obj, 6, 6,
                                           ftervit_forward_staged);

/* ------------------------------------------------------------ frame */

static const char *format_name(mp_int_t fmt)
{
    switch (fmt) {
    case FTV_FRAME_GRAYSCALE: return "GRAYSCALE";
    case FTV_FRAME_RGB565: return "RGB565";
    case FTV_FRAME_RGB888: return "RGB888";
    case FTV_FRAME_RGB_PPM: return "RGB_PPM";
    default: return NULL;
    }
}

static int32_t frame_side(mp_obj_t obj, const char *name)
{
    mp_int_t v = mp_obj_get_int(obj);
    if (v < 1 || v > FTV_FRAME_MAX_SIDE) {
        msg_t m = {{0}, 0};
        msg_str(&m, name);
        msg_str(&m, ": expected 1 to ");
        msg_uint(&m, FTV_FRAME_MAX_SIDE);
        msg_str(&m, " pixels, got ");
        msg_int(&m, v);
        msg_raise(&mp_type_ValueError, &m);
    }
    return (int32_t)v;
}

static mp_obj_t ftervit_frame(size_t n_args, const mp_obj_t *args)
{
    (void)n_args;
    ftervit_ctx_t *ctx = bound_ctx(args[0]);
    mp_buffer_info_t frame, image;
    byte_buffer(args[1], "frame", &frame, MP_BUFFER_READ);
    int32_t width = frame_side(args[2], "width");
    int32_t height = frame_side(args[3], "height");
    mp_int_t fmt = mp_obj_get_int(args[4]);
    const char *fmt_name = format_name(fmt);
    if (fmt_name == NULL) {
        msg_t m = {{0}, 0};
        msg_str(&m, "fmt: expected GRAYSCALE (1), RGB565 (2), RGB888 (3) or RGB_PPM (4), got ");
        msg_int(&m, fmt);
        msg_raise(&mp_type_ValueError, &m);
    }
    size_t want = ftv_frame_bytes((int32_t)fmt, width, height);
    if (frame.len != want) {
        msg_t m = {{0}, 0};
        msg_str(&m, "frame: expected ");
        msg_uint(&m, want);
        msg_str(&m, " bytes for ");
        msg_uint(&m, (size_t)width);
        msg_str(&m, "x");
        msg_uint(&m, (size_t)height);
        msg_str(&m, " ");
        msg_str(&m, fmt_name);
        msg_str(&m, ", got ");
        msg_uint(&m, frame.len);
        msg_raise(&mp_type_ValueError, &m);
    }
    byte_buffer_exact(args[5], "image", &image, MP_BUFFER_WRITE, ctx->image_bytes);
    check_apart(&image, "image", &frame, "frame");

    const ftv_geometry_t *g = &ctx->bound.model.geometry;
    int rc = ftv_frame_to_image(frame.buf, frame.len, width, height, (int32_t)fmt, image.buf,
                                g->img_size, g->in_chans);
    if (rc != FTV_OK)
        raise_text(&mp_type_ValueError, "frame", ftv_frame_strerror(rc));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ftervit_frame_obj, 6, 6, ftervit_frame);

/* ------------------------------------------------------------ xorshift32 */

/* Fill buf with the xorshift32 stream of a seeded golden input. */
static mp_obj_t ftervit_xorshift32(mp_obj_t seed_in, mp_obj_t buf_in)
{
    /* An int of 1 to 2**32 - 1; compared as objects, for a 32-bit port's
     * seeds above its small ints are long ints. */
    if (!mp_obj_is_int(seed_in)
        || mp_obj_is_true(mp_binary_op(MP_BINARY_OP_LESS, seed_in, MP_OBJ_NEW_SMALL_INT(1)))
        || mp_obj_is_true(mp_binary_op(MP_BINARY_OP_MORE, seed_in,
                                       mp_obj_new_int_from_uint(0xffffffffu))))
        raise_text(&mp_type_ValueError, "seed", "expected an int of 1 to 2**32 - 1");
    uint32_t seed = (uint32_t)mp_obj_get_int_truncated(seed_in);
    mp_buffer_info_t buf;
    byte_buffer(buf_in, "buf", &buf, MP_BUFFER_WRITE);
    ftv_xorshift32_fill(seed, buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(ftervit_xorshift32_obj, ftervit_xorshift32);

/* ------------------------------------------------------------ module */

/* Every attribute once; each build below expands the lists its own way.  The
 * MP_QSTR_ names are spelt out: the native build finds them by a text scan. */
#define FTERVIT_INTS(X)                                     \
    X(MP_QSTR_VERSION, FTERVIT_VERSION)                     \
    X(MP_QSTR_FORMAT_VERSION, FTV_BIND_FORMAT_VERSION)      \
    X(MP_QSTR_ARITH_VERSION, FTV_ARITH_VERSION)             \
    X(MP_QSTR_GRAYSCALE, FTV_FRAME_GRAYSCALE)               \
    X(MP_QSTR_RGB565, FTV_FRAME_RGB565)                     \
    X(MP_QSTR_RGB888, FTV_FRAME_RGB888)                     \
    X(MP_QSTR_RGB_PPM, FTV_FRAME_RGB_PPM)                   \
    X(MP_QSTR_CTX_SIZE, sizeof(ftervit_ctx_t))

#define FTERVIT_FUNCTIONS(X)                                \
    X(MP_QSTR_bind, ftervit_bind_obj)                       \
    X(MP_QSTR_ctx_size, ftervit_ctx_size_obj)               \
    X(MP_QSTR_forward, ftervit_forward_obj)                 \
    X(MP_QSTR_forward_staged, ftervit_forward_staged_obj)   \
    X(MP_QSTR_frame, ftervit_frame_obj)                     \
    X(MP_QSTR_xorshift32, ftervit_xorshift32_obj)

#ifdef MICROPY_ENABLE_DYNRUNTIME

/* A native module has no C library: the runtime core's memset/memcpy/memmove
 * (and those the compiler emits) go to the firmware's, through its table. */
void *memcpy(void *dst, const void *src, size_t n)
{
    return mp_fun_table.memmove_(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
    return mp_fun_table.memmove_(dst, src, n);
}

void *memset(void *s, int c, size_t n)
{
    return mp_fun_table.memset_(s, c, n);
}

#define STORE_INT(qst, value) mp_store_global(qst, MP_OBJ_NEW_SMALL_INT(value));
#define STORE_FUN(qst, obj) mp_store_global(qst, MP_OBJ_FROM_PTR(&obj));

/* mpy_init comes last in the file: the Xtensa entry jump of mpy_ld.py
 * expects code before it (see host/ftervit/micropython/mpy_fixups.py). */
mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args)
{
    MP_DYNRUNTIME_INIT_ENTRY
    FTERVIT_INTS(STORE_INT)
    FTERVIT_FUNCTIONS(STORE_FUN)
    MP_DYNRUNTIME_INIT_EXIT
}

#else

#define ROM_INT(qst, value) {MP_ROM_QSTR(qst), MP_ROM_INT(value)},
#define ROM_FUN(qst, obj) {MP_ROM_QSTR(qst), MP_ROM_PTR(&obj)},

static const mp_rom_map_elem_t ftervit_module_globals_table[] = {
    {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__ftervit)},
    FTERVIT_INTS(ROM_INT)
    FTERVIT_FUNCTIONS(ROM_FUN)
};
static MP_DEFINE_CONST_DICT(ftervit_module_globals, ftervit_module_globals_table);

const mp_obj_module_t ftervit_user_cmodule = {
    .base = {&mp_type_module},
    .globals = (mp_obj_dict_t *)&ftervit_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__ftervit, ftervit_user_cmodule);

#endif
