/* Test driver for the ternary matmul kernels (driven by
 * tests/test_matmul_kernels.py, which checks the results against numpy).
 *
 *   test_matmul run CASES OUT   run every case of CASES, write OUT
 *   test_matmul api             self-checks of the sizing helpers and of
 *                               argument rejection; prints "api ok"
 *
 * CASES is a sequence of cases, each: int32 header[8] = {n_tok, K, n_out,
 * scratch_rows, scratch_offset, weight_offset, 0, 0}, then x (n_tok*K
 * int8), the tern2 rows (n_out*ceil(K/4) bytes) and the tern3 rows
 * (n_out*ceil(K/5)).  Every buffer ends exactly where its data ends, so the
 * sanitizers see any access past it; the scratch (sized per layout by
 * scratch_for()) and the weights start the given offsets into their
 * allocations (alignment), and the scratch holds garbage.
 *
 * OUT, per case: int32 status[8] = {rc tern2_lut, rc tern3_lut,
 * rc ftv_matmul_tern2, rc ftv_matmul_tern3, guards_ok, untouched_ok, 0, 0}
 * then four n_tok*n_out int32 arrays: tern2_ref, tern3_ref, tern2 (lut or
 * dispatch), tern3 (lut or dispatch).  The dispatch results must equal the
 * direct ones (checked here: a mismatch clears guards_ok).  guards_ok: no
 * write outside out; untouched_ok: a call that returned -1 wrote nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftv_dispatch.h"

#define GUARD 16
#define SENTINEL ((int32_t)0x5A5A5A5A)

static void die(const char *msg)
{
    fprintf(stderr, "test_matmul: %s\n", msg);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void read_exact(FILE *f, void *dst, size_t n)
{
    if (n && fread(dst, 1, n, f) != n)
        die("truncated case file");
}

/* out buffer with GUARD sentinel words on both sides */
static int32_t *guarded(size_t n)
{
    int32_t *p = xmalloc((n + 2 * GUARD) * sizeof(int32_t));
    for (size_t i = 0; i < n + 2 * GUARD; i++)
        p[i] = SENTINEL;
    return p + GUARD;
}

static int all_sentinel(const int32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != SENTINEL)
            return 0;
    return 1;
}

static int guards_intact(const int32_t *out, size_t n)
{
    return all_sentinel(out - GUARD, GUARD) && all_sentinel(out + n, GUARD);
}

static void garbage(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Scratch bytes for a case: scratch_rows >= 1 sizes it for that many whole
 * rows per block, -1 is 128 KB, -2 the least accepted (one row of one
 * chunk), 0 one byte less than that (too small), -3 one 2 KB table quad
 * (enough for a single token only). */
static size_t scratch_for(int layout, int K, int scratch_rows)
{
    size_t least = ftv_matmul_lut_scratch_min(layout, K);
    if (scratch_rows == -1)
        return (size_t)128 * 1024;
    if (scratch_rows == -2)
        return least;
    if (scratch_rows == -3)
        return 3 + 2048;
    if (scratch_rows == 0)
        return least ? least - 1 : 0;
    return ftv_matmul_lut_scratch_bytes(layout, K, scratch_rows);
}

typedef int (*kernel_fn)(const int8_t *, const uint8_t *, int32_t *, int, int, int,
                         void *, size_t);

static int dispatch2(const int8_t *x, const uint8_t *w, int32_t *o, int a, int b, int c,
                     void *s, size_t n)
{
    return ftv_matmul_tern2(x, w, o, a, b, c, s, n);
}

static int dispatch3(const int8_t *x, const uint8_t *w, int32_t *o, int a, int b, int c,
                     void *s, size_t n)
{
    return ftv_matmul_tern3(x, w, o, a, b, c, s, n);
}

/* One call with a fresh garbage-filled scratch of exactly its size;
 * clears *untouched if a failing call wrote into out. */
static int call(kernel_fn fn, int layout, const int8_t *x, const uint8_t *w, int32_t *out,
                int n_tok, int K, int n_out, int scratch_rows, size_t off, uint32_t seed,
                size_t nres, int32_t *untouched)
{
    size_t sb = scratch_for(layout, K, scratch_rows);
    uint8_t *alloc = xmalloc(sb + off);
    garbage(alloc, sb + off, seed);
    int rc = fn(x, w, out, n_tok, K, n_out, alloc + off, sb);
    if (rc != 0 && !all_sentinel(out, nres))
        *untouched = 0;
    free(alloc);
    return rc;
}

static int run_cases(const char *in_path, const char *out_path)
{
    FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
    if (!in || !out)
        die("cannot open files");
    int32_t hdr[8];
    int n_cases = 0;
    while (fread(hdr, sizeof hdr, 1, in) == 1) {
        int n_tok = hdr[0], K = hdr[1], n_out = hdr[2], srows = hdr[3];
        size_t soff = (size_t)hdr[4], woff = (size_t)hdr[5];
        size_t kk = K > 0 ? (size_t)K : 0;
        size_t nx = (size_t)(n_tok > 0 ? n_tok : 0) * kk;
        size_t no = (size_t)(n_out > 0 ? n_out : 0);
        size_t n2 = no * ftv_tern2_row_bytes((uint32_t)kk);
        size_t n3 = no * ftv_tern3_row_bytes((uint32_t)kk);
        size_t nres = (size_t)(n_tok > 0 ? n_tok : 0) * no;

        int8_t *x = xmalloc(nx);
        uint8_t *w2a = xmalloc(n2 + woff), *w3a = xmalloc(n3 + woff);
        uint8_t *w2 = w2a + woff, *w3 = w3a + woff;
        read_exact(in, x, nx);
        read_exact(in, w2, n2);
        read_exact(in, w3, n3);

        int32_t *r2 = guarded(nres), *r3 = guarded(nres);
        int32_t *l2 = guarded(nres), *l3 = guarded(nres);
        int32_t *d2 = guarded(nres), *d3 = guarded(nres);
        int32_t st[8] = {0, 0, 0, 0, 1, 1, 0, 0};

        if (ftv_matmul_args_ok(n_tok, K, n_out)) {
            ftv_matmul_tern2_ref(x, w2, r2, n_tok, K, n_out);
            ftv_matmul_tern3_ref(x, w3, r3, n_tok, K, n_out);
        }
        st[0] = call(ftv_matmul_tern2_lut, 2, x, w2, l2, n_tok, K, n_out, srows, soff, 1,
                     nres, &st[5]);
        st[1] = call(ftv_matmul_tern3_lut, 3, x, w3, l3, n_tok, K, n_out, srows, soff, 2,
                     nres, &st[5]);
        st[2] = call(dispatch2, 2, x, w2, d2, n_tok, K, n_out, srows, soff, 3, nres, &st[5]);
        st[3] = call(dispatch3, 3, x, w3, d3, n_tok, K, n_out, srows, soff, 4, nres, &st[5]);

        int32_t *bufs[6] = {r2, r3, l2, l3, d2, d3};
        for (int i = 0; i < 6; i++)
            if (!guards_intact(bufs[i], nres))
                st[4] = 0;
#if FTV_MATMUL_VARIANT == FTV_MATMUL_VARIANT_LUT
        /* the dispatch names are the lut kernels in this build */
        if (st[2] != st[0] || st[3] != st[1] ||
            (st[0] == 0 && memcmp(l2, d2, nres * 4) != 0) ||
            (st[1] == 0 && memcmp(l3, d3, nres * 4) != 0))
            st[4] = 0;
#endif
        fwrite(st, sizeof st, 1, out);
        fwrite(r2, 4, nres, out);
        fwrite(r3, 4, nres, out);
#if FTV_MATMUL_VARIANT == FTV_MATMUL_VARIANT_LUT
        fwrite(l2, 4, nres, out);
        fwrite(l3, 4, nres, out);
#else
        fwrite(d2, 4, nres, out);
        fwrite(d3, 4, nres, out);
#endif
        for (int i = 0; i < 6; i++)
            free(bufs[i] - GUARD);
        free(x);
        free(w2a);
        free(w3a);
        n_cases++;
    }
    fclose(in);
    if (fclose(out) != 0)
        die("write failed");
    printf("cases %d\n", n_cases);
    return 0;
}

static int failures;

static void expect(int cond, const char *what, int layout, int K, int n)
{
    if (!cond) {
        printf("FAIL %s (layout %d K %d n %d)\n", what, layout, K, n);
        failures++;
    }
}

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

/* The plan for one scratch size obeys its contract. */
static void check_plan(int layout, int n_tok, int K, int n_out, size_t sb, size_t least,
                       int whole_rows)
{
    ftv_matmul_lut_plan_t p;
    int rc = ftv_matmul_lut_plan(layout, n_tok, K, n_out, sb, &p);
    size_t rb = layout == 2 ? ftv_tern2_row_bytes((uint32_t)K) : ftv_tern3_row_bytes((uint32_t)K);
    size_t n_quads = ceil_div(rb, 4);
    if (n_tok == 1)      /* single-token path: int16 tables of 2 KB per 4 bytes */
        least = 3 + 2048;
    expect(rc == (sb >= least ? 0 : -1), "plan succeeds iff scratch >= min", layout, K, n_out);
    if (rc != 0) {
        expect(ftv_matmul_lut_psram_bytes(layout, n_tok, K, n_out, sb) == 0,
               "psram bytes 0 without a plan", layout, K, n_out);
        return;
    }
    size_t n_chunks = n_tok == 1 ? n_quads : ceil_div(rb, layout == 2 ? 32 : 8);
    size_t R = (size_t)p.rows_per_block, cps = (size_t)p.chunks_per_slab;
    size_t out_b = (size_t)n_tok * (size_t)n_out * 4;
    expect(p.path == (n_tok == 1), "path", layout, K, n_out);
    expect(R >= 1 && R <= (size_t)n_out, "1 <= R <= n_out", layout, K, n_out);
    expect((size_t)p.blocks == ceil_div((size_t)n_out, R), "blocks", layout, K, n_out);
    expect(cps >= 1 && (size_t)p.slabs == ceil_div(n_chunks, cps), "slabs", layout, K, n_out);
    expect(p.scratch_used <= sb && p.scratch_used >= least, "scratch used", layout, K, n_out);
    expect(p.w_bytes == (size_t)n_out * rb, "W read once", layout, K, n_out);
    expect(p.x_bytes == (size_t)p.blocks * (size_t)n_tok * (size_t)K, "x per block", layout, K,
           n_out);
    expect(p.out_read_bytes == (size_t)(p.slabs - 1) * out_b, "out reads", layout, K, n_out);
    expect(p.out_write_bytes == (size_t)p.slabs * out_b, "out writes", layout, K, n_out);
    expect(ftv_matmul_lut_psram_bytes(layout, n_tok, K, n_out, sb) ==
               p.w_bytes + p.x_bytes + p.out_read_bytes, "psram bytes", layout, K, n_out);
    if (n_tok == 1) {
        expect(p.blocks == 1 && (sb < 3 + n_quads * 2048 || p.slabs == 1),
               "single token: one block, one slab when the tables fit", layout, K, n_out);
        return;
    }
    if (whole_rows > 0)   /* never more blocks than whole rows would take */
        expect(p.blocks <= (int)ceil_div((size_t)n_out, (size_t)whole_rows),
               "no more blocks than whole rows", layout, K, n_out);
    if (whole_rows >= n_out)
        expect(p.blocks == 1 && p.slabs == 1, "whole matrix in one block", layout, K, n_out);
}

static int api_checks(void)
{
    static const int Ks[] = {1, 3, 4, 5, 127, 128, 129, 384, 768, 1536, 4099, 65535};
    static const int n_outs[] = {1, 2, 7, 384, 1000};
    static const int n_toks[] = {1, 9, 197};
    for (int layout = 2; layout <= 3; layout++) {
        for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
            int K = Ks[ki];
            uint32_t rb = layout == 2 ? ftv_tern2_row_bytes((uint32_t)K)
                                      : ftv_tern3_row_bytes((uint32_t)K);
            expect(rb == (uint32_t)((K + (layout == 2 ? 3 : 4)) / (layout == 2 ? 4 : 5)),
                   "row bytes", layout, K, 0);
            size_t least = ftv_matmul_lut_scratch_min(layout, K);
            expect(least > 0 && least <= ftv_matmul_lut_scratch_bytes(layout, K, 1),
                   "min <= one whole row", layout, K, 0);
            size_t prev = 0;
            for (int r = 1; r <= 9; r++) {
                size_t sb = ftv_matmul_lut_scratch_bytes(layout, K, r);
                expect(sb > prev, "scratch grows with rows", layout, K, r);
                prev = sb;
                for (size_t oi = 0; oi < sizeof n_outs / sizeof n_outs[0]; oi++)
                    for (size_t ti = 0; ti < sizeof n_toks / sizeof n_toks[0]; ti++)
                        check_plan(layout, n_toks[ti], K, n_outs[oi], sb, least, r);
            }
            for (size_t oi = 0; oi < sizeof n_outs / sizeof n_outs[0]; oi++) {
                int n_out = n_outs[oi];
                size_t full = ftv_matmul_lut_scratch_bytes(layout, K, n_out);
                check_plan(layout, 197, K, n_out, full, least, n_out);
                check_plan(layout, 197, K, n_out, (size_t)128 * 1024, least, 0);
                check_plan(layout, 197, K, n_out, least, least, 0);
                check_plan(layout, 197, K, n_out, least - 1, least, 0);
                check_plan(layout, 1, K, n_out, 3 + 2048, least, 0);
                check_plan(layout, 1, K, n_out, 3 + 2047, least, 0);
                check_plan(layout, 1, K, n_out, 5 * 2048 + 7, least, 0);
            }
        }
        expect(ftv_matmul_lut_scratch_bytes(layout, -1, 1) == 0, "K < 0", layout, -1, 0);
        expect(ftv_matmul_lut_scratch_bytes(layout, FTV_MATMUL_MAX_K + 1, 1) == 0,
               "K too big", layout, 0, 0);
        expect(ftv_matmul_lut_scratch_bytes(layout, 8, 0) == 0, "rows 0", layout, 8, 0);
    }
    expect(ftv_matmul_lut_scratch_bytes(4, 8, 1) == 0, "bad layout", 4, 8, 0);
    expect(ftv_matmul_lut_scratch_min(1, 8) == 0, "bad layout", 1, 8, 0);

    /* argument rejection: -1 and nothing written */
    int8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t w[4] = {0x55, 0x55, 0x55, 0x55};
    int32_t out[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
    size_t sb = ftv_matmul_lut_scratch_bytes(2, 8, 2);
    void *s = xmalloc(sb);
    expect(ftv_matmul_tern2_lut(x, w, out, -1, 8, 1, s, sb) == -1, "n_tok < 0", 2, 8, 0);
    expect(ftv_matmul_tern2_lut(x, w, out, 1, -8, 1, s, sb) == -1, "K < 0", 2, 8, 0);
    expect(ftv_matmul_tern3_lut(x, w, out, 1, 8, -1, s, sb) == -1, "n_out < 0", 3, 8, 0);
    expect(ftv_matmul_tern2_lut(x, w, out, 1, FTV_MATMUL_MAX_K + 1, 1, s, sb) == -1,
           "K too big", 2, 8, 0);
    expect(ftv_matmul_tern2_lut(x, w, out, 1, 8, 1, NULL, sb) == -1, "NULL scratch", 2, 8, 0);
    expect(ftv_matmul_tern2_lut(x, w, out, 1, 8, 1, s, 8) == -1, "tiny scratch", 2, 8, 0);
    expect(ftv_matmul_tern2_lut(x, w, out, FTV_MATMUL_MAX_DIM + 1, 8, 1, s, sb) == -1,
           "n_tok too big", 2, 8, 0);
    expect(ftv_matmul_tern3_lut(x, w, out, 1, 8, FTV_MATMUL_MAX_DIM + 1, s, sb) == -1,
           "n_out too big", 3, 8, 0);
    expect(ftv_matmul_tern2(x, w, out, -1, 8, 1, s, sb) == -1, "dispatch n_tok < 0", 2, 8, 0);
    expect(ftv_matmul_tern3(x, w, out, 1, 8, -2, s, sb) == -1, "dispatch n_out < 0", 3, 8, 0);
    expect(all_sentinel(out, 4), "rejected calls write nothing", 2, 8, 0);
    /* nothing to do: success without touching anything, scratch not needed */
    expect(ftv_matmul_tern2_lut(x, w, out, 0, 8, 1, NULL, 0) == 0, "n_tok 0", 2, 8, 0);
    expect(ftv_matmul_tern3_lut(x, w, out, 1, 8, 0, NULL, 0) == 0, "n_out 0", 3, 8, 0);
    expect(all_sentinel(out, 4), "empty calls write nothing", 2, 8, 0);
    /* K == 0: zeros */
    expect(ftv_matmul_tern3_lut(x, w, out, 2, 0, 2, NULL, 0) == 0, "K 0", 3, 0, 0);
    expect(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == 0, "K 0 gives zeros", 3, 0, 0);
    free(s);

    if (failures)
        printf("api FAILED %d\n", failures);
    else
        printf("api ok\n");
    return failures != 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "run") == 0)
        return run_cases(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "api") == 0)
        return api_checks();
    fprintf(stderr, "usage: test_matmul run CASES OUT | test_matmul api\n");
    return 2;
}
