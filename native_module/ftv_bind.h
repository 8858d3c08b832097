/* Bind a whole `.ftv` model file held in memory to an ftv_model_t.
 *
 * ftv_bind walks the file's bytes once, in the order of docs/format.md
 * section 9 (the checks of host/ftervit/ftv/reader.py), and fills `out` with
 * pointers into the file: the weights are used in place, nothing is copied
 * or allocated.  Every offset, length, alignment and count is checked
 * against file_len before a byte is read, so a truncated or corrupt file of
 * any content gets an error code, never a read outside the buffer.
 *
 * The file must stay alive and unchanged while `out` is used, at an address
 * that is a multiple of 4 (int32 tensors are used in place; the file aligns
 * every tensor to 16 from its start).  The host must be little-endian, as
 * the file is.
 *
 * On error, `out` holds no usable model: out->error_index says where
 * (FTV_BIND_AT_*) and ftv_bind_strerror(code) what.  After the format
 * checks come the runtime's own limits (arithmetic version, depth <=
 * FTV_BIND_MAX_DEPTH, ftv_check_geometry), so a well-formed file this
 * runtime cannot run gets FTV_BIND_ERR_ARITH_VERSION .. _GEOMETRY.
 *
 * Freestanding like the kernels: memset/memcpy/memmove only, no writable
 * static data (the CRC32 uses a 16-entry const table), no division but
 * ftv_udiv64.
 */
#ifndef FTV_BIND_H
#define FTV_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "ftv_model.h"

#define FTV_BIND_MAX_DEPTH 32       /* encoder blocks ftv_bound_t has room for */

/* flags */
#define FTV_BIND_CHECK_CRC   1u     /* verify head_crc32 and payload_crc32 */
#define FTV_BIND_CHECK_CODES 2u     /* decode every ternary byte (reader check 8) */
#define FTV_BIND_CHECK_ALL   (FTV_BIND_CHECK_CRC | FTV_BIND_CHECK_CODES)

/* Format constants (docs/format.md; ftervit/ftv/spec.py) */
#define FTV_BIND_FORMAT_VERSION 1
#define FTV_BIND_HEADER_BYTES   40
#define FTV_BIND_CONFIG_COUNT   14
#define FTV_BIND_ENTRY_BYTES    64
#define FTV_BIND_NAME_BYTES     40
#define FTV_BIND_ALIGN          16

/* error_index: a config field (0..13, docs/format.md section 4) for the
 * FTV_BIND_ERR_CONFIG_* codes and the limits _ARITH_VERSION, _RESIDUAL_FRAC
 * and _DEPTH; a tensor table index for _NAME .. _LENGTH, for the placement
 * codes _MISALIGNED .. _PADDING of a tensor and for _TERN_*; else one of
 * these (the placement codes of a section give its AT_ value). */
#define FTV_BIND_AT_NONE    (-1)    /* the header, the file as a whole */
#define FTV_BIND_AT_LABELS  (-2)    /* the labels section */
#define FTV_BIND_AT_GOLDEN  (-3)    /* the golden section */

/* Return codes, in the order ftv_bind checks them.  FTV_OK (0) on success. */
#define FTV_BIND_ERR_ARG            (-100)  /* NULL out or file, file not 4-aligned */
#define FTV_BIND_ERR_ENDIAN         (-101)  /* host is not little-endian */
#define FTV_BIND_ERR_SHORT          (-102)  /* fewer bytes than the 40-byte header */
#define FTV_BIND_ERR_MAGIC          (-103)
#define FTV_BIND_ERR_VERSION_NEWER  (-104)  /* format_version newer than this reader */
#define FTV_BIND_ERR_VERSION        (-105)  /* format_version 0 */
#define FTV_BIND_ERR_CONFIG_COUNT   (-106)
#define FTV_BIND_ERR_TRUNCATED      (-107)  /* file_len < header file_size */
#define FTV_BIND_ERR_TRAILING       (-108)  /* file_len > header file_size */
#define FTV_BIND_ERR_TABLE_PAST_END (-109)  /* head_end > file_size */
#define FTV_BIND_ERR_HEAD_CRC       (-110)
#define FTV_BIND_ERR_PAYLOAD_CRC    (-111)
#define FTV_BIND_ERR_CONFIG_RANGE   (-112)  /* error_index: the field */
#define FTV_BIND_ERR_CONFIG_DIVISOR (-113)  /* num_heads / patch_size not a divisor */
#define FTV_BIND_ERR_TENSOR_COUNT   (-114)  /* not 12 + 18 * depth */
#define FTV_BIND_ERR_NAME           (-115)  /* error_index: the table entry */
#define FTV_BIND_ERR_DTYPE          (-116)
#define FTV_BIND_ERR_SHAPE          (-117)
#define FTV_BIND_ERR_FRAC_BITS      (-118)
#define FTV_BIND_ERR_LENGTH         (-119)
#define FTV_BIND_ERR_MISALIGNED     (-120)  /* placement: tensor, labels or golden */
#define FTV_BIND_ERR_OVERLAP        (-121)
#define FTV_BIND_ERR_PAST_END       (-122)
#define FTV_BIND_ERR_PADDING        (-123)  /* nonzero byte between items */
#define FTV_BIND_ERR_SECTION_LENGTH (-124)  /* length not 0 with offset 0 */
#define FTV_BIND_ERR_LABELS_UTF8    (-125)
#define FTV_BIND_ERR_LABELS_COUNT   (-126)
#define FTV_BIND_ERR_GOLDEN_SHORT   (-127)  /* golden_length < 16 */
#define FTV_BIND_ERR_GOLDEN_KIND    (-128)
#define FTV_BIND_ERR_GOLDEN_LOGITS  (-129)  /* num_logits != num_classes */
#define FTV_BIND_ERR_GOLDEN_INPUT   (-130)  /* input_length */
#define FTV_BIND_ERR_GOLDEN_SEED    (-131)
#define FTV_BIND_ERR_GOLDEN_LENGTH  (-132)
#define FTV_BIND_ERR_TERN_CODE      (-133)  /* invalid ternary byte */
#define FTV_BIND_ERR_TERN_PADDING   (-134)  /* padding weight not code 1 */
/* the runtime's limits, after every format check */
#define FTV_BIND_ERR_ARITH_VERSION  (-135)  /* not FTV_ARITH_VERSION */
#define FTV_BIND_ERR_RESIDUAL_FRAC  (-136)  /* residual_frac_bits not 12 */
#define FTV_BIND_ERR_DEPTH          (-137)  /* more blocks than out has room for */
#define FTV_BIND_ERR_GEOMETRY       (-138)  /* ftv_check_geometry refused it */

typedef struct {
    ftv_model_t model;                     /* model.blocks points at blocks[] */
    const uint8_t *labels;                 /* UTF-8, '\n'-separated; NULL if none */
    uint32_t labels_len;                   /* 0 if none */
    const uint8_t *golden_image;           /* raw golden input (HWC), NULL if none or seeded */
    const int32_t *golden_logits;          /* num_classes expected logits, NULL if none */
    uint32_t golden_seed;                  /* xorshift32 seed of a seeded golden input, else 0 */
    size_t scratch_bytes;                  /* ftv_scratch_bytes(&model.geometry) */
    int32_t error_index;                   /* where the error is: FTV_BIND_AT_* or an index */
    ftv_block_t blocks[FTV_BIND_MAX_DEPTH];   /* last: a caller may allocate fewer */
} ftv_bound_t;

/* Bytes of an ftv_bound_t with room for `depth` blocks: what a caller short of
 * RAM allocates for ftv_bind_sized (the full struct holds FTV_BIND_MAX_DEPTH). */
#define FTV_BOUND_BYTES(depth) \
    (offsetof(ftv_bound_t, blocks) + (size_t)(depth) * sizeof(ftv_block_t))

/* Check `file` (file_len bytes, a whole .ftv) and fill `out`; `flags`:
 * FTV_BIND_CHECK_* bits.  Returns FTV_OK or an FTV_BIND_ERR_* code. */
int ftv_bind(ftv_bound_t *out, const uint8_t *file, size_t file_len, uint32_t flags);

/* ftv_bind into the first out_bytes of `out` only: room for
 * (out_bytes - FTV_BOUND_BYTES(0)) / sizeof(ftv_block_t) blocks, at most
 * FTV_BIND_MAX_DEPTH; a deeper model is FTV_BIND_ERR_DEPTH.  Bytes past
 * out_bytes are never read or written. */
int ftv_bind_sized(ftv_bound_t *out, size_t out_bytes, const uint8_t *file, size_t file_len,
                   uint32_t flags);

/* A one-line description of a return code, starting with the field it is
 * about (static text; the caller adds the config field or tensor named by
 * error_index). */
const char *ftv_bind_strerror(int code);

/* Name of config field `index` (0..13), or "" (static text). */
const char *ftv_bind_config_name(int32_t index);

/* The deploy plan's name of tensor table entry `index` of a model of
 * `depth` blocks, NUL-terminated into name[FTV_BIND_NAME_BYTES + 1].
 * Returns its length, or 0 if index is not below 12 + 18 * depth. */
size_t ftv_bind_tensor_name(char *name, int32_t index, int32_t depth);

/* zlib's CRC-32 of n bytes continuing from crc (0 to start). */
uint32_t ftv_crc32(uint32_t crc, const uint8_t *data, size_t n);

/* n bytes of the xorshift32 stream from seed (nonzero) into out, as a
 * seeded golden input is defined; returns the generator's last state. */
uint32_t ftv_xorshift32_fill(uint32_t seed, uint8_t *out, size_t n);

#endif /* FTV_BIND_H */
