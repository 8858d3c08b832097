/* Lookup-table ternary matmul kernels (tern2 and tern3 layouts).
 *
 * Contract, loop order and PSRAM traffic: ftv_matmul.h.  The pieces:
 *
 * Tile.   FTV_LUT_TOKENS = 8 tokens are processed together.  Their partial
 *         sums travel as 4 "pair words": word j holds token 2j in its low
 *         16 bits and token 2j+1 in its high 16 bits, as the 32-bit value
 *         lo + 65536 * hi.  Adding pair words adds both lanes at once,
 *         exactly, as long as each lane's running sum stays in int16.
 *
 * Table.  For one chunk of the K axis (G groups of 4 or 5 activations) the
 *         kernel builds, per group g and per weight-byte entry e, the 4
 *         pair words sum_i w_i(e) * x_t[k_g + i] of the 8 tokens.  Layout
 *         [entry][g][word] (uint32): one weight byte selects an entry row
 *         and the group's words sit at the fixed offset 4g from it, so a
 *         weight byte costs a byte load, a shift, an add, then 4 x (load +
 *         add) for 8 tokens x 4 (or 5) weights.
 *           tern2: 81 entries (the valid codes), G = 32 (128 weights, 41 KB).
 *                  Weight bytes are turned into entry indices once, when a
 *                  row block is copied into scratch (invalid -> zero entry).
 *           tern3: the byte is the entry index (243 valid; 256 rows so that
 *                  invalid bytes read zeroed rows), G = 8 (40 weights, 32 KB).
 *         Entries are A[first two codes] + B[the rest]: the 8 non-zero A
 *         values stay in registers, so an entry word costs an add and a
 *         store.
 *
 * Rows.   Each row of the block runs its bytes of the chunk through the
 *         table into 4 pair-word sums, split into int32 sums before a lane
 *         could overflow: |partial| <= 128 * 4 per tern2 group and 128 * 5
 *         per tern3 group, so at most 63 / 51 groups between splits (tern2:
 *         every chunk, in the row pass; tern3: every 6 chunks).
 *
 * Blocks. R rows (a block) are copied once into scratch and every token
 *         tile passes over them; tall blocks may be cut along K into slabs
 *         (lut_plan).  Scratch, 4-aligned:
 *             table | staged x [8][128 or 40] | acc32 [R][8] |
 *             acc16 [R][4] (tern3) | W block [R][slab bytes]
 *         The W block pads rows to whole chunks with the zero code; staged
 *         activations past K are zero.
 *
 * Single token (n_tok == 1, the classifier head): int16 tables, rows
 *         streamed straight from the weight buffer (section "single token").
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
/* NEAR(p): on Xtensa, stores through p stay at short offsets from it (S32I
 * reaches 1020 bytes; without it LLVM rebuilds each far table address from
 * the first).  Elsewhere offsets are free and the barrier would only cost. */
#if defined(__GNUC__) && defined(__XTENSA__)
#define NEAR(p) __asm__("" : "+r"(p))
#else
#define NEAR(p) ((void)0)
#endif

#define TOK    FTV_LUT_TOKENS      /* tokens per tile            */
#define WORDS  (TOK / 2)           /* pair words per table entry */

/* tern2 geometry */
#define T2_G            32                          /* groups (bytes) per chunk */
#define T2_ENTRIES      81
#define T2_STRIDE_LOG2  7
#define T2_STRIDE       (1 << T2_STRIDE_LOG2)       /* words between entries    */
#define T2_TABLE_BYTES  (T2_ENTRIES * T2_STRIDE * 4)
#define T2_WEIGHTS      (4 * T2_G)                  /* activations per chunk    */
#define T2_ZERO_ENTRY   40                          /* 1+3+9+27: four zeros     */

/* tern3 geometry */
#define T3_G            8
#define T3_ENTRIES      256
#define T3_STRIDE_LOG2  5                           /* T3_G * WORDS == 32 words */
#define T3_STRIDE       (1 << T3_STRIDE_LOG2)
#define T3_TABLE_BYTES  (T3_ENTRIES * T3_STRIDE * 4)
#define T3_WEIGHTS      (5 * T3_G)
#define T3_SPLIT_EVERY  6                           /* 6 * 8 = 48 groups <= 51  */
#define T3_ZERO_BYTE    121                         /* 1+3+9+27+81: five zeros  */

#if T3_G * WORDS != T3_STRIDE || T2_G * WORDS != T2_STRIDE
#error "strides must be G * WORDS"
#endif

/* tern2 weight byte -> its table entry: the base-3 number c0 + 3c1 + 9c2
 * + 27c3.  Bytes holding code 3 are invalid and map to the all-zero entry,
 * T2_ZERO_ENTRY.  Applied once per byte when a row block is copied into
 * scratch, so the row passes index the table directly. */
#define T2W(i) (i)
static const uint8_t t2_entry_index[256] = {
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
        NEAR(e);                                                           \
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
        const uint32_t *p_ = tab + ((uint32_t)wrow[g] << T2_STRIDE_LOG2); \
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

/* ---- single token ----------------------------------------------------------
 * With one token (the classifier head) no two lookups share a weight byte,
 * so tiles would waste 7 of 8 lanes.  Instead: int16 tables for one token,
 * [quad][256 entries][4 groups] (2 KB a quad of 4 groups), entry index the
 * weight byte itself (tern2 bytes with a code 3 read an all-zero entry).
 * A row streams its bytes from the weight buffer (each read once: there is
 * one token) and each byte costs a byte load, one scaled add (addx8), an
 * int16 load and an add; the table pointer moves once per quad. */

#define Q_GROUPS     4
#define Q_ENTRIES    256
#define Q_BYTES      (Q_ENTRIES * Q_GROUPS * 2)

/* The 9 entries lo of entry row `hi`, for one group column; L(lo) is the
 * int16 offset of entry lo + hi * (entries per hi). */
#define QFILL9(e, L, bh)                                                   \
    do {                                                                   \
        int32_t b_ = (bh);                                                 \
        KEEP1(b_);                                                         \
        (e)[L(0)] = (int16_t)(a0 + b_); (e)[L(1)] = (int16_t)(a1 + b_);    \
        (e)[L(2)] = (int16_t)(a2 + b_); (e)[L(3)] = (int16_t)(a3 + b_);    \
        (e)[L(4)] = (int16_t)b_;        (e)[L(5)] = (int16_t)(a5 + b_);    \
        (e)[L(6)] = (int16_t)(a6 + b_); (e)[L(7)] = (int16_t)(a7 + b_);    \
        (e)[L(8)] = (int16_t)(a8 + b_);                                    \
    } while (0)

#define QHALF_A(x0, x1)                                                    \
    const int32_t a0 = -(x0) - (x1), a1 = -(x1), a2 = (x0) - (x1), a3 = -(x0), \
                  a5 = (x0), a6 = (x1) - (x0), a7 = (x1), a8 = (x1) + (x0)

/* tern2: byte = lo + 16 * hi with lo = c0 + 4c1, hi = c2 + 4c3 (lo is a
 * literal 0..8 here, so the division is done by the compiler). */
#define Q2L(lo) (Q_GROUPS * (((lo) / 3) * 4 + (lo) % 3))

HOT static void q2_fill(int16_t *e, int32_t x0, int32_t x1, int32_t x2, int32_t x3)
{
    QHALF_A(x0, x1);
    for (int32_t b3 = -x3, c3 = 0; c3 < 3; c3++, b3 += x3) {
        int16_t *e3 = e + c3 * 64 * Q_GROUPS;
        QFILL9(e3, Q2L, b3 - x2);
        e3 += 16 * Q_GROUPS;
        QFILL9(e3, Q2L, b3);
        e3 += 16 * Q_GROUPS;
        QFILL9(e3, Q2L, b3 + x2);
    }
}

/* tern3: byte = lo + 9 * hi with lo = c0 + 3c1, hi = c2 + 3c3 + 9c4. */
#define Q3L(lo) (Q_GROUPS * (lo))

HOT static void q3_fill(int16_t *e, int32_t x0, int32_t x1, int32_t x2, int32_t x3,
                        int32_t x4)
{
    QHALF_A(x0, x1);
    for (int32_t b4 = -x4, c4 = 0; c4 < 3; c4++, b4 += x4) {
        for (int32_t b3 = b4 - x3, c3 = 0; c3 < 3; c3++, b3 += x3) {
            QFILL9(e, Q3L, b3 - x2);
            e += 9 * Q_GROUPS;
            QFILL9(e, Q3L, b3);
            e += 9 * Q_GROUPS;
            QFILL9(e, Q3L, b3 + x2);
            e += 9 * Q_GROUPS;
        }
    }
}

/* Tables for quads q0 .. q0 + nq - 1 of the token x (zero past K). */
static void q_build(int16_t *tab, const int8_t *x, uint32_t K, uint32_t q0, uint32_t nq,
                    int tern2)
{
    const uint32_t per = tern2 ? 4 : 5;
    for (uint32_t q = 0; q < nq; q++, tab += Q_BYTES / 2) {
        if (tern2)          /* bytes with a code 3 are never written below */
            memset(tab, 0, Q_BYTES);
        else
            memset(tab + 243 * Q_GROUPS, 0, (Q_ENTRIES - 243) * Q_GROUPS * 2);
        for (uint32_t g = 0; g < Q_GROUPS; g++) {
            uint32_t k = ((q0 + q) * Q_GROUPS + g) * per;
            int32_t v[5] = {0, 0, 0, 0, 0};
            for (uint32_t i = 0; i < per && k + i < K; i++)
                v[i] = x[k + i];
            if (tern2)
                q2_fill(tab + g, v[0], v[1], v[2], v[3]);
            else
                q3_fill(tab + g, v[0], v[1], v[2], v[3], v[4]);
        }
    }
}

/* out[o] (+)= the dot products of rows o < n_out, bytes [b0, b0 + n), with
 * the tables (quad q of the tables is bytes b0 + 4q .. b0 + 4q + 3). */
HOT static void q_rows(int32_t *out, const uint8_t *w, uint32_t row_bytes, uint32_t n_out,
                       uint32_t b0, uint32_t n, const int16_t *tab, int add)
{
    const uint32_t full = n >> 2;
    for (uint32_t o = 0; o < n_out; o++) {
        const uint8_t *wr = w + (size_t)o * row_bytes + b0;
        const int16_t *t = tab;
        int32_t s = 0;
        uint32_t q = full;
        for (; q >= 2; q -= 2, wr += 8, t += Q_BYTES) {   /* two quads a turn */
            const int16_t *t1 = t + Q_BYTES / 2;
            s += t[Q_GROUPS * wr[0] + 0];
            s += t[Q_GROUPS * wr[1] + 1];
            s += t[Q_GROUPS * wr[2] + 2];
            s += t[Q_GROUPS * wr[3] + 3];
            KEEP1(s);
            s += t1[Q_GROUPS * wr[4] + 0];
            s += t1[Q_GROUPS * wr[5] + 1];
            s += t1[Q_GROUPS * wr[6] + 2];
            s += t1[Q_GROUPS * wr[7] + 3];
            KEEP1(s);
        }
        if (q) {
            s += t[Q_GROUPS * wr[0] + 0];
            s += t[Q_GROUPS * wr[1] + 1];
            s += t[Q_GROUPS * wr[2] + 2];
            s += t[Q_GROUPS * wr[3] + 3];
            wr += 4;
            t += Q_BYTES / 2;
        }
        for (uint32_t i = 0; i < (n & 3); i++)
            s += t[Q_GROUPS * wr[i] + i];
        out[o] = add ? out[o] + s : s;
    }
}

/* ---- geometry, blocking plan, scratch ------------------------------------ */

struct lut_geom {
    uint32_t row_bytes;     /* packed bytes per weight row              */
    uint32_t chunk_bytes;   /* weight bytes (= groups) per chunk        */
    uint32_t chunk_log2;
    uint32_t n_chunks;      /* chunks per row                           */
    uint32_t n_per;         /* activations per chunk                    */
    uint32_t fixed;         /* table + staged activations, bytes        */
    uint32_t acc;           /* accumulator bytes per row of a block     */
    uint32_t build_cost;    /* ~instructions to build one chunk's table */
};

static int lut_geom(int layout, int K, struct lut_geom *gm)
{
    if (K < 0 || K > FTV_MATMUL_MAX_K)
        return -1;
    if (layout == FTV_LAYOUT_TERN2) {
        gm->row_bytes = ftv_tern2_row_bytes((uint32_t)K);
        gm->chunk_log2 = 5;
        gm->n_per = T2_WEIGHTS;
        gm->fixed = T2_TABLE_BYTES + TOK * T2_WEIGHTS;
        gm->acc = TOK * 4;
        gm->build_cost = T2_G * WORDS * 180;
    } else if (layout == FTV_LAYOUT_TERN3) {
        gm->row_bytes = ftv_tern3_row_bytes((uint32_t)K);
        gm->chunk_log2 = 3;
        gm->n_per = T3_WEIGHTS;
        gm->fixed = T3_TABLE_BYTES + TOK * T3_WEIGHTS;
        gm->acc = TOK * 4 + WORDS * 4;
        gm->build_cost = T3_G * WORDS * 640;
    } else {
        return -1;
    }
    gm->chunk_bytes = 1u << gm->chunk_log2;
    gm->n_chunks = (gm->row_bytes + gm->chunk_bytes - 1) >> gm->chunk_log2;
    return 0;
}

static uint32_t udiv32(uint32_t n, uint32_t d)
{
    return (uint32_t)ftv_udiv64(n, d);
}

static uint32_t ceil_div32(uint32_t n, uint32_t d)
{
    return (uint32_t)ftv_udiv64((uint64_t)n + d - 1, d);
}

/* a * b without a 64-bit multiply instruction or library call */
static uint64_t mul32x32(uint32_t a, uint32_t b)
{
    uint32_t al = a & 0xFFFFu, ah = a >> 16, bl = b & 0xFFFFu, bh = b >> 16;
    uint64_t mid = (uint64_t)(al * bh) + (uint64_t)(ah * bl);
    return (uint64_t)(al * bl) + (mid << 16) + ((uint64_t)(ah * bh) << 32);
}

/* Scratch bytes for blocks of `rows` rows and slabs of `chunks` chunks. */
static uint64_t plan_bytes(const struct lut_geom *gm, uint32_t rows, uint32_t chunks)
{
    return 3 + (uint64_t)gm->fixed +
           mul32x32(rows, gm->acc + (chunks << gm->chunk_log2));
}

/* Chooses the blocking for this scratch size: R rows per block and slabs
 * of `chunks_per_slab` chunks (a slab is a span of K; with several slabs,
 * out is read back and added to once per extra slab).  Candidates: whole
 * rows (as many as fit), the most rows that fit with one-chunk slabs, and
 * 1, 2, 3, 4, 6 or 8 blocks in between.  The estimate charges the table
 * builds (about build_cost instructions per block, token tile and chunk)
 * against PSRAM traffic (x once per block, out re-read and re-written per
 * extra slab) at the ESP32-S3's 240 MHz / ~40 MB/s: 6 instructions a byte.
 * Returns -1 if not even one row of one chunk fits (plan untouched). */
static int tiled_plan(const struct lut_geom *gmp, int n_tok, int K, int n_out,
                      size_t scratch_bytes, ftv_matmul_lut_plan_t *plan)
{
    const struct lut_geom gm = *gmp;
    if ((uint64_t)scratch_bytes < plan_bytes(&gm, 1, 1))
        return -1;
    uint64_t avail64 = (uint64_t)scratch_bytes - 3 - gm.fixed;
    const uint32_t avail = avail64 > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)avail64;
    const uint32_t tiles = ((uint32_t)n_tok + TOK - 1) / TOK;
    const uint32_t x_bytes = (uint32_t)n_tok * (uint32_t)K;
    const uint32_t out_words = (uint32_t)n_tok * (uint32_t)n_out;
    const uint32_t row_full = gm.acc + (gm.n_chunks << gm.chunk_log2);
    const uint32_t fit_full = udiv32(avail, row_full);
    const uint32_t fit_one = udiv32(avail, gm.acc + gm.chunk_bytes);   /* >= 1 */
    const uint32_t b_full = fit_full ? ceil_div32((uint32_t)n_out, fit_full) : 0;
    const uint32_t b_one = ceil_div32((uint32_t)n_out, fit_one);
    static const uint8_t some[] = {1, 2, 3, 4, 6, 8};
    uint64_t best = ~(uint64_t)0;

    for (int i = -2; i < (int)sizeof some; i++) {
        uint32_t blocks = i == -2 ? b_full : i == -1 ? b_one : some[i];
        if (blocks == 0 || blocks < b_one || (b_full && blocks > b_full))
            continue;
        uint32_t rows = ceil_div32((uint32_t)n_out, blocks);
        blocks = ceil_div32((uint32_t)n_out, rows);
        uint32_t per_row = udiv32(avail, rows);
        if (per_row < gm.acc + gm.chunk_bytes)
            continue;
        uint32_t chunks = (per_row - gm.acc) >> gm.chunk_log2;
        if (chunks > gm.n_chunks)
            chunks = gm.n_chunks;
        uint32_t slabs = ceil_div32(gm.n_chunks, chunks);
        chunks = ceil_div32(gm.n_chunks, slabs);          /* even slabs */
        uint64_t cost = mul32x32(blocks * tiles, gm.n_chunks * gm.build_cost) +
                        mul32x32(blocks * 6, x_bytes) +
                        mul32x32(out_words, (slabs - 1) * 6 * 8);
        if (cost < best) {
            best = cost;
            plan->rows_per_block = (int)rows;
            plan->blocks = (int)blocks;
            plan->chunks_per_slab = (int)chunks;
            plan->slabs = (int)slabs;
        }
    }
    if (plan->blocks == 0)
        return -1;
    plan->scratch_used = (size_t)plan_bytes(&gm, (uint32_t)plan->rows_per_block,
                                            (uint32_t)plan->chunks_per_slab);
    return 0;
}

/* The plan of a call: the single-token path for n_tok == 1 (whole rows,
 * one block, slabs of as many table quads as fit), else tiled_plan();
 * then the PSRAM traffic it implies.  Returns -1 (plan zeroed) for bad
 * arguments or a scratch too small. */
static int lut_plan(int layout, int n_tok, int K, int n_out, size_t scratch_bytes,
                    ftv_matmul_lut_plan_t *plan)
{
    struct lut_geom gm;
    memset(plan, 0, sizeof *plan);
    if (n_tok < 1 || n_out < 1 || n_tok > FTV_MATMUL_MAX_DIM ||
        n_out > FTV_MATMUL_MAX_DIM || lut_geom(layout, K, &gm) != 0 || K < 1)
        return -1;
    if (n_tok == 1) {
        /* single-token path: whole rows, slabs of as many quads as fit */
        const uint32_t n_quads = (gm.row_bytes + 3) >> 2;
        const uint64_t fit = scratch_bytes < 3 + Q_BYTES ? 0 : ((uint64_t)scratch_bytes - 3) / Q_BYTES;
        if (fit == 0)
            return -1;
        uint32_t slabs = ceil_div32(n_quads, fit < n_quads ? (uint32_t)fit : n_quads);
        plan->path = 1;
        plan->rows_per_block = n_out;
        plan->blocks = 1;
        plan->chunks_per_slab = (int)ceil_div32(n_quads, slabs);
        plan->slabs = (int)slabs;
        plan->scratch_used = 3 + (size_t)plan->chunks_per_slab * Q_BYTES;
    } else {
        if (tiled_plan(&gm, n_tok, K, n_out, scratch_bytes, plan) != 0)
            return -1;
    }
    const uint32_t x_bytes = (uint32_t)n_tok * (uint32_t)K;
    const uint32_t out_words = (uint32_t)n_tok * (uint32_t)n_out;
    plan->w_bytes = (size_t)n_out * gm.row_bytes;
    plan->x_bytes = (size_t)mul32x32((uint32_t)plan->blocks, x_bytes);
    plan->out_read_bytes = (size_t)(mul32x32(out_words, (uint32_t)plan->slabs - 1) << 2);
    plan->out_write_bytes = (size_t)(mul32x32(out_words, (uint32_t)plan->slabs) << 2);
    return 0;
}

int ftv_matmul_lut_plan(int layout, int n_tok, int K, int n_out,
                        size_t scratch_bytes, ftv_matmul_lut_plan_t *plan)
{
    return lut_plan(layout, n_tok, K, n_out, scratch_bytes, plan);
}

size_t ftv_matmul_lut_scratch_bytes(int layout, int K, int rows)
{
    struct lut_geom gm;
    if (lut_geom(layout, K, &gm) != 0 || rows < 1 || rows > FTV_MATMUL_MAX_DIM)
        return 0;
    return (size_t)plan_bytes(&gm, (uint32_t)rows, gm.n_chunks ? gm.n_chunks : 1);
}

size_t ftv_matmul_lut_scratch_min(int layout, int K)
{
    struct lut_geom gm;
    if (lut_geom(layout, K, &gm) != 0)
        return 0;
    return (size_t)plan_bytes(&gm, 1, 1);
}

size_t ftv_matmul_lut_psram_bytes(int layout, int n_tok, int K, int n_out,
                                  size_t scratch_bytes)
{
    ftv_matmul_lut_plan_t plan;
    if (lut_plan(layout, n_tok, K, n_out, scratch_bytes, &plan) != 0)
        return 0;
    return plan.w_bytes + plan.x_bytes + plan.out_read_bytes;
}

/* ---- the kernel ---------------------------------------------------------- */

/* Copies rows o0.. of the weight matrix, bytes [b0, b0 + n) of each (past
 * the row's end: the zero code), into the W block; tern2 bytes become
 * table entry indices on the way. */
static void copy_block(uint8_t *dst, const uint8_t *w, const struct lut_geom *gm,
                       uint32_t o0, uint32_t rows, uint32_t b0, uint32_t n, int tern2)
{
    uint32_t have = gm->row_bytes - b0 < n ? gm->row_bytes - b0 : n;
    for (uint32_t r = 0; r < rows; r++, dst += n) {
        const uint8_t *src = w + (size_t)(o0 + r) * gm->row_bytes + b0;
        if (tern2) {
            for (uint32_t i = 0; i < have; i++)
                dst[i] = t2_entry_index[src[i]];
        } else {
            memcpy(dst, src, have);
        }
        memset(dst + have, tern2 ? T2_ZERO_ENTRY : T3_ZERO_BYTE, n - have);
    }
}

/* The tile's activations of one chunk, t < nt tokens from x (zero past K
 * and for missing tokens), into xs[TOK][n_per]. */
static void stage_x(int8_t *xs, const int8_t *x, uint32_t K, uint32_t t0, uint32_t nt,
                    uint32_t k0, uint32_t n_per)
{
    uint32_t n = K - k0 < n_per ? K - k0 : n_per;
    for (uint32_t t = 0; t < TOK; t++, xs += n_per) {
        uint32_t copied = 0;
        if (t < nt) {
            memcpy(xs, x + (size_t)(t0 + t) * K + k0, n);
            copied = n;
        }
        memset(xs + copied, 0, n_per - copied);
    }
}

static int lut_matmul(int layout, const int8_t *x, const uint8_t *w,
                      int32_t *out, int n_tok, int K, int n_out,
                      void *scratch, size_t scratch_bytes)
{
    struct lut_geom gm;
    ftv_matmul_lut_plan_t plan;
    if (n_tok < 0 || n_out < 0 || n_tok > FTV_MATMUL_MAX_DIM || n_out > FTV_MATMUL_MAX_DIM ||
        lut_geom(layout, K, &gm) != 0)
        return -1;
    if (n_tok == 0 || n_out == 0)
        return 0;
    if (K == 0) {
        memset(out, 0, (size_t)n_tok * (size_t)n_out * sizeof(int32_t));
        return 0;
    }
    if (scratch == NULL || lut_plan(layout, n_tok, K, n_out, scratch_bytes, &plan) != 0)
        return -1;

    const int tern2 = layout == FTV_LAYOUT_TERN2;
    uint8_t *base = (uint8_t *)scratch + ((0u - (uintptr_t)scratch) & 3u);

    if (plan.path == 1) {      /* one token: stream rows past int16 tables */
        int16_t *qtab = (int16_t *)(void *)base;
        const uint32_t span = (uint32_t)plan.chunks_per_slab;       /* quads */
        for (uint32_t q0 = 0; q0 << 2 < gm.row_bytes; q0 += span) {
            uint32_t b0 = q0 << 2, n = gm.row_bytes - b0 < span << 2 ? gm.row_bytes - b0 : span << 2;
            q_build(qtab, x, (uint32_t)K, q0, (n + 3) >> 2, tern2);
            q_rows(out, w, gm.row_bytes, (uint32_t)n_out, b0, n, qtab, q0 != 0);
        }
        return 0;
    }

    const uint32_t R = (uint32_t)plan.rows_per_block;
    const uint32_t slab_chunks = (uint32_t)plan.chunks_per_slab;

    /* table | staged x | acc32 [R][8] | acc16 [R][4] (tern3) | W block */
    uint32_t *tab = (uint32_t *)(void *)base;
    int8_t *xs = (int8_t *)(base + (tern2 ? T2_TABLE_BYTES : T3_TABLE_BYTES));
    int32_t *acc32 = (int32_t *)(void *)(base + gm.fixed);
    uint32_t *acc16 = (uint32_t *)(void *)(acc32 + (size_t)R * TOK);
    uint8_t *wblk = (uint8_t *)(acc16 + (tern2 ? 0 : (size_t)R * WORDS));

    /* tern3 bytes 243..255 are invalid: all-zero entries, never rebuilt */
    if (!tern2)
        memset(tab + 243 * T3_STRIDE, 0, (size_t)(T3_ENTRIES - 243) * T3_STRIDE * 4);

    for (uint32_t o0 = 0; o0 < (uint32_t)n_out; o0 += R) {
        const uint32_t rows = (uint32_t)n_out - o0 < R ? (uint32_t)n_out - o0 : R;
        for (uint32_t c0 = 0; c0 < gm.n_chunks; c0 += slab_chunks) {
            const uint32_t nc = gm.n_chunks - c0 < slab_chunks ? gm.n_chunks - c0 : slab_chunks;
            const uint32_t stride = nc << gm.chunk_log2;   /* W block bytes per row */

            /* This block's slab of weights: read once from the weight buffer. */
            copy_block(wblk, w, &gm, o0, rows, c0 << gm.chunk_log2, stride, tern2);

            for (uint32_t t0 = 0; t0 < (uint32_t)n_tok; t0 += TOK) {
                const uint32_t nt = (uint32_t)n_tok - t0 < TOK ? (uint32_t)n_tok - t0 : TOK;
                memset(acc32, 0, (size_t)rows * TOK * sizeof(int32_t));
                if (!tern2)
                    memset(acc16, 0, (size_t)rows * WORDS * sizeof(uint32_t));
                uint32_t since_split = 0;
                for (uint32_t c = 0; c < nc; c++) {
                    stage_x(xs, x, (uint32_t)K, t0, nt, (c0 + c) * gm.n_per, gm.n_per);
                    const uint8_t *wchunk = wblk + (c << gm.chunk_log2);
                    if (tern2) {
                        t2_build(tab, xs);
                        t2_rows(acc32, wchunk, stride, rows, tab);
                    } else {
                        t3_build(tab, xs);
                        t3_rows(acc16, wchunk, stride, rows, tab);
                        if (++since_split == T3_SPLIT_EVERY || c + 1 == nc) {
                            split_pairs(acc32, acc16, rows);
                            since_split = 0;
                        }
                    }
                }
                for (uint32_t t = 0; t < nt; t++) {
                    int32_t *dst = out + (size_t)(t0 + t) * (size_t)n_out + o0;
                    const int32_t *src = acc32 + t;
                    if (c0 == 0) {
                        for (uint32_t r = 0; r < rows; r++, src += TOK)
                            dst[r] = *src;
                    } else {
                        for (uint32_t r = 0; r < rows; r++, src += TOK)
                            dst[r] += *src;
                    }
                }
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
