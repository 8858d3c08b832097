/* Ternary matrix multiply: the API shared by every kernel variant.
 *
 * All kernels compute, for t < n_tok and o < n_out,
 *
 *     out[t * n_out + o] = sum_{k < K} x[t * K + k] * W[o][k]      (int32)
 *
 * x   : n_tok rows of K int8 activations, row-major, any value -128..127.
 * W   : n_out rows of K ternary weights {-1, 0, +1}, packed row after row
 *       with no padding between rows, in one of two layouts (c = w + 1):
 *   tern2  ceil(K/4) bytes a row; byte j = c0 | c1<<2 | c2<<4 | c3<<6 holds
 *          weights 4j..4j+3.  Code 3 is invalid.
 *   tern3  ceil(K/5) bytes a row; byte j = sum_{i<5} c_i * 3^i holds weights
 *          5j..5j+4 (values 0..242; 243..255 are invalid).
 *   In both, the weights past K in a row's last byte have code 1 (zero).
 * out : n_tok * n_out int32, row-major by token.  Its contents on entry
 *       do not matter (a kernel may read back only what it wrote itself).
 *
 * The weight buffer is read in place (the model file's layout; no repacking).
 * x and W need no alignment, out the alignment of int32.  Invalid codes give
 * unspecified output values but never an out-of-bounds access.  Dimensions:
 * 0 <= n_tok, n_out <= FTV_MATMUL_MAX_DIM and 0 <= K <= FTV_MATMUL_MAX_K
 * (|sum| <= 128 * K keeps int32 exact); K == 0 writes zeros, n_tok == 0 or
 * n_out == 0 writes nothing.  x, W, out and the scratch must not overlap.
 * The `_ref` kernels trust their arguments; the `_lut` ones check them.
 *
 * Memory: kernels never allocate.  The `_ref` kernels need nothing else;
 * the lookup-table (`_lut`) kernels take a caller-owned scratch buffer
 * (internal SRAM on the device, any alignment), sized with
 * ftv_matmul_lut_scratch_bytes(), whose contents on entry do not matter
 * and on return are unspecified.
 *
 * Callers normally use the names in ftv_dispatch.h (ftv_matmul_tern2/3),
 * which pick the variant for the build.
 */
#ifndef FTV_MATMUL_H
#define FTV_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#define FTV_MATMUL_MAX_K 65535
#define FTV_MATMUL_MAX_DIM 65535     /* largest n_tok and n_out */

/* Packed weight layouts, as stored in the model file. */
#define FTV_LAYOUT_TERN2 2
#define FTV_LAYOUT_TERN3 3

/* Bytes per packed row: ceil(K/4) for tern2. */
static inline uint32_t ftv_tern2_row_bytes(uint32_t K)
{
    return (K + 3u) >> 2;
}

/* Bytes per packed row: ceil(K/5) for tern3.  floor(n/5) == (n*52429)>>18
 * holds for every n < 81920, which covers K <= FTV_MATMUL_MAX_K. */
static inline uint32_t ftv_tern3_row_bytes(uint32_t K)
{
    return ((K + 4u) * 52429u) >> 18;
}

/* ---- plain reference kernels: decode every weight, multiply-add. ------- */

void ftv_matmul_tern2_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out);
void ftv_matmul_tern3_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out);

/* Dense int8 baseline (benchmark reference only): w is n_out rows of K
 * int8 weights, row-major; same formula and out layout as above. */
void ftv_matmul_i8_ref(const int8_t *x, const int8_t *w, int32_t *out,
                       int n_tok, int K, int n_out);

/* ---- lookup-table kernels (ftv_matmul_lut.c) ---------------------------
 *
 * Loop order.  Weight rows are taken in blocks of R rows.  Each block is
 * copied once from the weight buffer (PSRAM on the device) into scratch,
 * then every token passes over it, FTV_LUT_TOKENS tokens at a time.  For
 * a tile of tokens and a chunk of the K axis the kernel builds one table
 * of partial sums per group of 4 (tern2) or 5 (tern3) activations, indexed
 * by the packed weight byte, with the sums of all tokens of the tile side
 * by side (two tokens per 32-bit word, 16 bits each); one weight byte then
 * costs one byte load, one address computation and one table load plus
 * add per token pair.  The table is rebuilt per (block, tile, chunk), so
 * taller blocks mean fewer rebuilds (and fewer passes over x).
 *
 * Blocks of whole rows are as tall as the scratch allows.  When a scratch
 * holds few whole rows (large K), a block may instead be cut along K into
 * slabs: each slab of the block's weights is copied once, and out is read
 * back and added to for every slab after the first.  ftv_matmul_lut_plan()
 * reports the choice; it trades table rebuilds against PSRAM traffic.
 *
 * One token (n_tok == 1, e.g. the classifier head) takes another path:
 * int16 tables of that token (2 KB per 16 (tern2) / 20 (tern3) weights of
 * K, as many as the scratch holds; slabs beyond), rows streamed straight
 * from the weight buffer, each byte read once.
 *
 * PSRAM traffic of a call (x, W, out all in PSRAM):
 *     reads   n_out * row_bytes (W, exactly once)
 *           + blocks * n_tok * K (x, once per block)
 *           + (slabs - 1) * n_tok * n_out * 4 (out, read back)
 *     writes  slabs * n_tok * n_out * 4 (out)
 */
#define FTV_LUT_TOKENS 8

typedef struct {
    int path;                 /* 0: token tiles; 1: single token         */
    int rows_per_block;       /* R                                       */
    int blocks;               /* ceil(n_out / R)                         */
    int chunks_per_slab;      /* K chunks per slab: path 0, 32 / 8 bytes
                                 (128 / 40 weights); path 1, 4 bytes     */
    int slabs;                /* slabs per block (1: whole rows)         */
    size_t scratch_used;      /* bytes of the scratch the call uses      */
    size_t w_bytes;           /* W bytes read (each exactly once)        */
    size_t x_bytes;           /* x bytes read                            */
    size_t out_read_bytes;    /* out bytes read back                     */
    size_t out_write_bytes;   /* out bytes written                       */
} ftv_matmul_lut_plan_t;

/* Scratch bytes needed for blocks of `rows` whole weight rows (rows >= 1)
 * for this layout and K; 0 for a bad layout, K or rows.  With it a call
 * with n_out <= rows uses one block (the fewest passes); any scratch of at
 * least ftv_matmul_lut_scratch_bytes(layout, K, 1) works.  Includes 3
 * bytes of slack: the kernels align the scratch pointer to 4 themselves. */
size_t ftv_matmul_lut_scratch_bytes(int layout, int K, int rows);

/* The least scratch a call with this layout and K accepts (one row of one
 * chunk per block: slow, for tight memory; a single token needs less, 2051
 * bytes); 0 for a bad layout or K. */
size_t ftv_matmul_lut_scratch_min(int layout, int K);

/* The blocking a call with these arguments uses and its PSRAM traffic.
 * Returns 0, or -1 (plan zeroed) for bad arguments or a scratch too small
 * for one row. */
int ftv_matmul_lut_plan(int layout, int n_tok, int K, int n_out,
                        size_t scratch_bytes, ftv_matmul_lut_plan_t *plan);

/* PSRAM bytes a call reads: w_bytes + x_bytes + out_read_bytes of its
 * plan (0 if the call would fail). */
size_t ftv_matmul_lut_psram_bytes(int layout, int n_tok, int K, int n_out,
                                  size_t scratch_bytes);

/* The kernels.  Return 0, or -1 (writing nothing) when a dimension is out
 * of range (n_tok, n_out > FTV_MATMUL_MAX_DIM included) or the scratch is
 * too small for one row. */
int ftv_matmul_tern2_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out,
                         void *scratch, size_t scratch_bytes);
int ftv_matmul_tern3_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out,
                         void *scratch, size_t scratch_bytes);

#endif /* FTV_MATMUL_H */
