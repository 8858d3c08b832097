/* Lookup-table ternary matmul kernels (tern2 and tern3 layouts).
 *
 * Contract and loop order: see ftv_matmul.h.  The pieces:
 *
 * Tile.   FTV_LUT_TOKENS = 8 tokens are processed together.  Their partial
 *         sums travel as 4 "pair words": word j holds token 2j in its low
 *         16 bits and token 2j+1 in its high 16 bits, as the 32-bit value
 *         lo + 65536 * hi.  Adding pair words adds both lanes at once,
 *         exactly, as long as each lane's running sum stays in int16.
 *
 * Table.  For one chunk of the K axis (G groups of 4 or 5 activations) the
 *         kernel builds, per group g and per possible weight byte b, the
 *         4 pair words sum_i w_i(b) * x_t[k_g + i] for the 8 tokens.  Layout
 *         [entry][g][word] (uint32), so one weight byte selects an entry
 *         row and the group's words sit at the fixed offset 4g from it:
 *         per weight byte, one byte load, one address computation, then
 *         4 x (load + add) serve 8 tokens x 4 (or 5) weights.
 *           tern2: entries are the 81 valid codes; a const map turns the
 *                  byte into the entry's word offset.  G = 32 (128 weights).
 *           tern3: the byte is the entry index (243 valid, 256 reserved so
 *                  invalid bytes stay in bounds).  G = 8 (40 weights).
 *
 * Rows.   Each row of the block runs its bytes of the chunk through the
 *         table into 4 pair-word accumulators (kept per row in scratch),
 *         which are split into int32 sums before a lane could overflow:
 *         |partial| <= 128 * 4 per tern2 group and 128 * 5 per tern3 group,
 *         so at most 63 (tern2) / 51 (tern3) groups between splits.
 *
 * Scratch (4-aligned):  table | acc32[R][8] | acc16[R][4] | W block [R][stride]
 *         The W block holds the R rows copied from the weight buffer, each
 *         padded to whole chunks with the zero code; the table entries of
 *         groups past K are built from zero activations, so padding adds 0.
 *
 * Costs.  The table is rebuilt for every (row block, token tile, chunk):
 *         81 (243) entries x 4 words per group, amortised over R rows.
 *         Bigger scratch -> bigger R -> fewer rebuilds and passes over x.
 */
#include <string.h>

#include "ftv_matmul.h"
#include "ftv_util.h"

/* Compiler guidance for the hot loops (no effect on results):
 *  HOT    - never inlined (keeps register allocation local) and, on gcc,
 *           no pre-register-allocation scheduling, which otherwise hoists
 *           loads far ahead and spills the values kept in registers.
 *  KEEP1  - a value is computed once, here (no reassociation through it).
 *  KEEP4  - each step's four sums stay one serial chain in registers.
 *  AFTER  - a step's table address is not computed before the previous
 *           step's adds.  Without these two the compiler hoists all the
 *           steps' loads, reassociates the adds, and spills to the stack. */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((noinline, optimize("no-schedule-insns")))
#elif defined(__GNUC__)
#define HOT __attribute__((noinline))
#else
#define HOT
#endif
#if defined(__GNUC__)
#define KEEP1(a) __asm__("" : "+r"(a))
#define KEEP4(a, b, c, d) __asm__("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d))
#define AFTER(p, s) __asm__("" : "+r"(p) : "r"(s))
#else
#define KEEP1(a) ((void)0)
#define KEEP4(a, b, c, d) ((void)0)
#define AFTER(p, s) ((void)0)
#endif

#define TOK    FTV_LUT_TOKENS      /* tokens per tile            */
#define WORDS  (TOK / 2)           /* pair words per table entry */

/* tern2 geometry */
#define T2_G            32                          /* groups (bytes) per chunk */
#define T2_ENTRIES      81
#define T2_STRIDE       (T2_G * WORDS)              /* words between entries    */
#define T2_TABLE_BYTES  (T2_ENTRIES * T2_STRIDE * 4)
#define T2_WEIGHTS      (4 * T2_G)                  /* activations per chunk    */
#define T2_ZERO_BYTE    0x55                        /* four zero codes          */

/* tern3 geometry */
#define T3_G            8
#define T3_ENTRIES      256
#define T3_STRIDE_LOG2  5                           /* T3_G * WORDS == 32 words */
#define T3_STRIDE       (1 << T3_STRIDE_LOG2)
#define T3_TABLE_BYTES  (T3_ENTRIES * T3_STRIDE * 4)
#define T3_WEIGHTS      (5 * T3_G)
#define T3_SPLIT_EVERY  6                           /* 6 * 8 = 48 groups <= 51  */
#define T3_ZERO_BYTE    121                         /* 1+3+9+27+81: five zeros  */

#if T3_G * WORDS != T3_STRIDE
#error "tern3 stride must be T3_G * WORDS"
#endif

/* tern2 weight byte -> word offset of its table entry (entry index is the
 * base-3 number c0 + 3c1 + 9c2 + 27c3; bytes holding code 3 are invalid
 * and map to the all-zero entry, 40). */
#define T2W(i) ((uint16_t)((i) * T2_STRIDE))
static const uint16_t t2_entry_offset[256] = {
    T2W(0), T2W(1), T2W(2), T2W(40), T2W(3), T2W(4), T2W(5), T2W(40),
    T2W(6), T2W(7), T2W(8), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(9), T2W(10), T2W(11), T2W(40), T2W(12), T2W(13), T2W(14), T2W(40),
    T2W(15), T2W(16), T2W(17), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(18), T2W(19), T2W(20), T2W(40), T2W(21), T2W(22), T2W(23), T2W(40),
    T2W(24), T2W(25), T2W(26), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(27), T2W(28), T2W(29), T2W(40), T2W(30), T2W(31), T2W(32), T2W(40),
    T2W(33), T2W(34), T2W(35), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(36), T2W(37), T2W(38), T2W(40), T2W(39), T2W(40), T2W(41), T2W(40),
    T2W(42), T2W(43), T2W(44), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(45), T2W(46), T2W(47), T2W(40), T2W(48), T2W(49), T2W(50), T2W(40),
    T2W(51), T2W(52), T2W(53), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(54), T2W(55), T2W(56), T2W(40), T2W(57), T2W(58), T2W(59), T2W(40),
    T2W(60), T2W(61), T2W(62), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(63), T2W(64), T2W(65), T2W(40), T2W(66), T2W(67), T2W(68), T2W(40),
    T2W(69), T2W(70), T2W(71), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(72), T2W(73), T2W(74), T2W(40), T2W(75), T2W(76), T2W(77), T2W(40),
    T2W(78), T2W(79), T2W(80), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
    T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40), T2W(40),
};
#undef T2W

/* ---- pair words --------------------------------------------------------- */

/* The pair word of two int8 activations (lanes lo, hi). */
static inline uint32_t pair_of(int8_t lo, int8_t hi)
{
    return (uint32_t)(int32_t)lo + ((uint32_t)(int32_t)hi << 16);
}

/* The int32 values of the two lanes of a pair word.  Relies on >> of a
 * negative int32 being arithmetic (true of every compiler this builds
 * with: gcc, clang). */
static inline int32_t lane_lo(uint32_t s)
{
    return (int32_t)(s << 16) >> 16;
}

static inline int32_t lane_hi(uint32_t s, int32_t lo)
{
    return (int32_t)(s - (uint32_t)lo) >> 16;
}

/* Adds the lanes of each row's 4 pair words to its 8 int32 sums and
 * clears the pair words. */
static void split_pairs(int32_t *acc32, uint32_t *acc16, uint32_t rows)
{
    for (; rows > 0; rows--, acc32 += TOK, acc16 += WORDS) {
        for (int j = 0; j < WORDS; j++) {
            int32_t lo = lane_lo(acc16[j]);
            acc32[2 * j] += lo;
            acc32[2 * j + 1] += lane_hi(acc16[j], lo);
            acc16[j] = 0;
        }
    }
}

/* ---- table building ------------------------------------------------------
 * For one group and one pair word j: with u_i the pair words of the
 * group's activations, E[c0 + 3c1 + 9c2 + 27c3 (+ 81c4)] = sum (c_i-1) u_i.
 * Split as A[c0 + 3c1] + B[rest]: the 8 non-zero A values stay in
 * registers and each entry costs one add and one store.  Entries are
 * `stride` words apart (layout [entry][group][word]). */

#define FILL9(e, S, bh)                                                    \
    do {                                                                   \
        uint32_t b_ = (bh);                                                \
        KEEP1(b_);                                                         \
        (e)[0 * (S)] = a0 + b_; (e)[1 * (S)] = a1 + b_;                    \
        (e)[2 * (S)] = a2 + b_; (e)[3 * (S)] = a3 + b_;                    \
        (e)[4 * (S)] = b_;      (e)[5 * (S)] = a5 + b_;                    \
        (e)[6 * (S)] = a6 + b_; (e)[7 * (S)] = a7 + b_;                    \
        (e)[8 * (S)] = a8 + b_;                                            \
        (e) += 9 * (S);                                                    \
    } while (0)

/* A[c0 + 3c1] = (c0-1) u0 + (c1-1) u1; A[4] = 0. */
#define HALF_A(u0, u1)                                                     \
    const uint32_t a0 = 0u - (u0) - (u1), a1 = 0u - (u1), a2 = (u0) - (u1), \
                   a3 = 0u - (u0), a5 = (u0), a6 = (u1) - (u0), a7 = (u1),  \
                   a8 = (u1) + (u0)

/* 27 entries: c2, c3 over 0..2 with B = (c2-1) u2 + (c3-1) u3 + b0. */
#define FILL27(e, S, u2, u3, b0)                                           \
    do {                                                                   \
        uint32_t b3_ = (b0) - (u3);                                        \
        for (int c3_ = 0; c3_ < 3; c3_++, b3_ += (u3)) {                   \
            FILL9(e, S, b3_ - (u2));                                       \
            FILL9(e, S, b3_);                                              \
            FILL9(e, S, b3_ + (u2));                                       \
        }                                                                  \
    } while (0)

HOT static void t2_fill(uint32_t *e, uint32_t u0, uint32_t u1, uint32_t u2,
                        uint32_t u3)
{
    HALF_A(u0, u1);
    FILL27(e, T2_STRIDE, u2, u3, 0u);
}

HOT static void t3_fill(uint32_t *e, uint32_t u0, uint32_t u1, uint32_t u2,
                        uint32_t u3, uint32_t u4)
{
    HALF_A(u0, u1);
    FILL27(e, T3_STRIDE, u2, u3, 0u - u4);
    FILL27(e, T3_STRIDE, u2, u3, 0u);
    FILL27(e, T3_STRIDE, u2, u3, u4);
}

/* The tables of one chunk from the staged activations xs[TOK][n_per] of
 * the tile (zero past K): groups of `per` activations. */
static void t2_build(uint32_t *tab, const int8_t *xs)
{
    for (int j = 0; j < WORDS; j++) {
        const int8_t *pa = xs + 2 * j * T2_WEIGHTS, *pb = pa + T2_WEIGHTS;
        for (int g = 0; g < T2_G; g++, pa += 4, pb += 4)
            t2_fill(tab + g * WORDS + j, pair_of(pa[0], pb[0]), pair_of(pa[1], pb[1]),
                    pair_of(pa[2], pb[2]), pair_of(pa[3], pb[3]));
    }
}

static void t3_build(uint32_t *tab, const int8_t *xs)
{
    for (int j = 0; j < WORDS; j++) {
        const int8_t *pa = xs + 2 * j * T3_WEIGHTS, *pb = pa + T3_WEIGHTS;
        for (int g = 0; g < T3_G; g++, pa += 5, pb += 5)
            t3_fill(tab + g * WORDS + j, pair_of(pa[0], pb[0]), pair_of(pa[1], pb[1]),
                    pair_of(pa[2], pb[2]), pair_of(pa[3], pb[3]), pair_of(pa[4], pb[4]));
    }
}

/* ---- row passes ----------------------------------------------------------
 * One chunk of `rows` rows (bytes at wrow, wrow + wstride, ...) through the
 * table.  Each step: one weight byte, its entry, 4 x (load + add). */

#define T2_STEP(g)                                                        \
    do {                                                                  \
        const uint32_t *p_ = tab + t2_entry_offset[wrow[g]];              \
        AFTER(p_, s3);                                                    \
        s0 += p_[WORDS * (g) + 0]; s1 += p_[WORDS * (g) + 1];             \
        s2 += p_[WORDS * (g) + 2]; s3 += p_[WORDS * (g) + 3];             \
        KEEP4(s0, s1, s2, s3);                                            \
    } while (0)

#define T3_STEP(g)                                                        \
    do {                                                                  \
        const uint32_t *p_ = tab + ((uint32_t)wrow[g] << T3_STRIDE_LOG2); \
        AFTER(p_, s3);                                                    \
        s0 += p_[WORDS * (g) + 0]; s1 += p_[WORDS * (g) + 1];             \
        s2 += p_[WORDS * (g) + 2]; s3 += p_[WORDS * (g) + 3];             \
        KEEP4(s0, s1, s2, s3);                                            \
    } while (0)

#define STEP8(S, g0)                                                      \
    S(g0 + 0); S(g0 + 1); S(g0 + 2); S(g0 + 3);                           \
    S(g0 + 4); S(g0 + 5); S(g0 + 6); S(g0 + 7)

#if WORDS != 4 || T2_G != 32 || T3_G != 8
#error "the row passes are unrolled for 4 pair words, 32 / 8 groups"
#endif

/* tern2: a chunk is 32 groups (<= 63), so each row's pair sums start at 0
 * and are split into its int32 sums right away. */
HOT static void t2_rows(int32_t *acc32, const uint8_t *wrow, uint32_t wstride,
                        uint32_t rows, const uint32_t *tab)
{
    for (; rows > 0; rows--, acc32 += TOK, wrow += wstride) {
        uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        STEP8(T2_STEP, 0);
        STEP8(T2_STEP, 8);
        STEP8(T2_STEP, 16);
        STEP8(T2_STEP, 24);
        int32_t lo;
        lo = lane_lo(s0); acc32[0] += lo; acc32[1] += lane_hi(s0, lo);
        lo = lane_lo(s1); acc32[2] += lo; acc32[3] += lane_hi(s1, lo);
        lo = lane_lo(s2); acc32[4] += lo; acc32[5] += lane_hi(s2, lo);
        lo = lane_lo(s3); acc32[6] += lo; acc32[7] += lane_hi(s3, lo);
    }
}

/* tern3: 8 groups a chunk; pair sums carry over T3_SPLIT_EVERY chunks in
 * acc16 before split_pairs() runs. */
HOT static void t3_rows(uint32_t *acc16, const uint8_t *wrow, uint32_t wstride,
                        uint32_t rows, const uint32_t *tab)
{
    for (; rows > 0; rows--, acc16 += WORDS, wrow += wstride) {
        uint32_t s0 = acc16[0], s1 = acc16[1], s2 = acc16[2], s3 = acc16[3];
        STEP8(T3_STEP, 0);
        acc16[0] = s0; acc16[1] = s1; acc16[2] = s2; acc16[3] = s3;
    }
}

/* ---- geometry and scratch ----------------------------------------------- */

struct lut_geom {
    uint32_t row_bytes;     /* packed bytes per weight row              */
    uint32_t chunk_bytes;   /* weight bytes (= groups) per chunk        */
    uint32_t n_chunks;      /* chunks per row                           */
    uint32_t stride;        /* bytes per row in the scratch W block     */
    uint32_t fixed;         /* table + staged activations, bytes        */
    uint32_t per_row;       /* scratch bytes per row of the block       */
};

static int lut_geom(int layout, int K, struct lut_geom *gm)
{
    if (K < 0 || K > FTV_MATMUL_MAX_K)
        return -1;
    if (layout == FTV_LAYOUT_TERN2) {
        gm->row_bytes = ftv_tern2_row_bytes((uint32_t)K);
        gm->chunk_bytes = T2_G;
        gm->n_chunks = (gm->row_bytes + T2_G - 1) / T2_G;
        gm->fixed = T2_TABLE_BYTES + TOK * T2_WEIGHTS;
        gm->per_row = TOK * 4;
    } else if (layout == FTV_LAYOUT_TERN3) {
        gm->row_bytes = ftv_tern3_row_bytes((uint32_t)K);
        gm->chunk_bytes = T3_G;
        gm->n_chunks = (gm->row_bytes + T3_G - 1) / T3_G;
        gm->fixed = T3_TABLE_BYTES + TOK * T3_WEIGHTS;
        gm->per_row = TOK * 4 + WORDS * 4;
    } else {
        return -1;
    }
    gm->stride = gm->n_chunks * gm->chunk_bytes;
    gm->per_row += gm->stride;
    return 0;
}

size_t ftv_matmul_lut_scratch_bytes(int layout, int K, int rows)
{
    struct lut_geom gm;
    if (lut_geom(layout, K, &gm) != 0 || rows < 1)
        return 0;
    return 3 + (size_t)gm.fixed + (size_t)rows * gm.per_row;
}

static uint32_t rows_fitting(const struct lut_geom *gm, int n_out,
                             size_t scratch_bytes)
{
    if (scratch_bytes < 3 + (size_t)gm->fixed + gm->per_row)
        return 0;
    uint64_t fit = ftv_udiv64(scratch_bytes - 3 - gm->fixed, gm->per_row);
    return fit < (uint64_t)n_out ? (uint32_t)fit : (uint32_t)n_out;
}

int ftv_matmul_lut_rows_per_block(int layout, int K, int n_out,
                                  size_t scratch_bytes)
{
    struct lut_geom gm;
    if (lut_geom(layout, K, &gm) != 0 || n_out < 1)
        return 0;
    return (int)rows_fitting(&gm, n_out, scratch_bytes);
}

size_t ftv_matmul_lut_psram_bytes(int layout, int n_tok, int K, int n_out,
                                  size_t scratch_bytes)
{
    struct lut_geom gm;
    if (lut_geom(layout, K, &gm) != 0 || n_tok < 1 || n_out < 1)
        return 0;
    uint32_t R = rows_fitting(&gm, n_out, scratch_bytes);
    if (R == 0)
        return 0;
    size_t blocks = (size_t)ftv_udiv64((uint64_t)n_out + R - 1, R);
    return (size_t)n_out * gm.row_bytes + blocks * (size_t)n_tok * (size_t)K;
}

/* ---- the kernel ---------------------------------------------------------- */

static int lut_matmul(int layout, const int8_t *x, const uint8_t *w,
                      int32_t *out, int n_tok, int K, int n_out,
                      void *scratch, size_t scratch_bytes)
{
    struct lut_geom gm;
    if (n_tok < 0 || n_out < 0 || lut_geom(layout, K, &gm) != 0)
        return -1;
    if (n_tok == 0 || n_out == 0)
        return 0;
    if (K == 0) {
        memset(out, 0, (size_t)n_tok * (size_t)n_out * sizeof(int32_t));
        return 0;
    }
    uint32_t R = rows_fitting(&gm, n_out, scratch_bytes);
    if (scratch == NULL || R == 0)
        return -1;

    const int tern2 = layout == FTV_LAYOUT_TERN2;
    const uint8_t zero_byte = tern2 ? T2_ZERO_BYTE : T3_ZERO_BYTE;
    const uint32_t n_per = tern2 ? T2_WEIGHTS : T3_WEIGHTS;   /* per chunk */
    const uint32_t table_bytes = tern2 ? T2_TABLE_BYTES : T3_TABLE_BYTES;

    /* Carve the scratch: table | staged x | acc32 | acc16 (tern3) | W block */
    uint8_t *base = (uint8_t *)scratch + ((0u - (uintptr_t)scratch) & 3u);
    uint32_t *tab = (uint32_t *)(void *)base;
    int8_t *xs = (int8_t *)(base + table_bytes);
    int32_t *acc32 = (int32_t *)(void *)(base + gm.fixed);
    uint32_t *acc16 = (uint32_t *)(void *)(acc32 + (size_t)R * TOK);
    uint8_t *wblk = (uint8_t *)(acc16 + (tern2 ? 0 : (size_t)R * WORDS));

    /* tern3 bytes 243..255 are invalid: give them all-zero entries so they
     * read defined values (the builds never write these entries). */
    if (!tern2)
        memset(tab + 243 * T3_STRIDE, 0, (size_t)(T3_ENTRIES - 243) * T3_STRIDE * 4);

    for (uint32_t o0 = 0; o0 < (uint32_t)n_out; o0 += R) {
        uint32_t rows = (uint32_t)n_out - o0 < R ? (uint32_t)n_out - o0 : R;

        /* The block's rows: read once from the weight buffer. */
        for (uint32_t r = 0; r < rows; r++) {
            uint8_t *dst = wblk + r * gm.stride;
            memcpy(dst, w + (size_t)(o0 + r) * gm.row_bytes, gm.row_bytes);
            memset(dst + gm.row_bytes, zero_byte, gm.stride - gm.row_bytes);
        }

        for (uint32_t t0 = 0; t0 < (uint32_t)n_tok; t0 += TOK) {
            uint32_t nt = (uint32_t)n_tok - t0 < TOK ? (uint32_t)n_tok - t0 : TOK;

            memset(acc32, 0, (size_t)rows * TOK * sizeof(int32_t));
            if (!tern2)
                memset(acc16, 0, (size_t)rows * WORDS * sizeof(uint32_t));
            uint32_t since_split = 0;
            for (uint32_t c = 0; c < gm.n_chunks; c++) {
                /* Stage the tile's activations of this chunk, zero past K
                 * and for missing tokens. */
                uint32_t k0 = c * n_per;
                uint32_t n = (uint32_t)K - k0 < n_per ? (uint32_t)K - k0 : n_per;
                for (uint32_t t = 0; t < TOK; t++) {
                    int8_t *dst = xs + t * n_per;
                    uint32_t copied = 0;
                    if (t < nt) {
                        memcpy(dst, x + (size_t)(t0 + t) * (size_t)K + k0, n);
                        copied = n;
                    }
                    memset(dst + copied, 0, n_per - copied);
                }
                const uint8_t *wchunk = wblk + c * gm.chunk_bytes;
                if (tern2) {
                    t2_build(tab, xs);
                    t2_rows(acc32, wchunk, gm.stride, rows, tab);
                } else {
                    t3_build(tab, xs);
                    t3_rows(acc16, wchunk, gm.stride, rows, tab);
                    if (++since_split == T3_SPLIT_EVERY || c + 1 == gm.n_chunks) {
                        split_pairs(acc32, acc16, rows);
                        since_split = 0;
                    }
                }
            }

            for (uint32_t t = 0; t < nt; t++) {
                int32_t *dst = out + (size_t)(t0 + t) * (size_t)n_out + o0;
                const int32_t *src = acc32 + t;
                for (uint32_t r = 0; r < rows; r++, src += TOK)
                    dst[r] = *src;
            }
        }
    }
    return 0;
}

int ftv_matmul_tern2_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out,
                         void *scratch, size_t scratch_bytes)
{
    return lut_matmul(FTV_LAYOUT_TERN2, x, w, out, n_tok, K, n_out,
                      scratch, scratch_bytes);
}

int ftv_matmul_tern3_lut(const int8_t *x, const uint8_t *w, int32_t *out,
                         int n_tok, int K, int n_out,
                         void *scratch, size_t scratch_bytes)
{
    return lut_matmul(FTV_LAYOUT_TERN3, x, w, out, n_tok, K, n_out,
                      scratch, scratch_bytes);
}
