/* One matmul shape, every kernel, under the instruction-count plugin.
 *
 * Built with -DBENCH_N_TOK= -DBENCH_K= -DBENCH_N_OUT= -DBENCH_SCRATCH= (and optionally
 * -DBENCH_SKIP_SLOW=1 to leave out the reference and dense kernels), for the
 * Xtensa sim (harness.c) or the host (host_shim.c).  Inputs come from a
 * fixed PRNG, so both builds see the same data; the same ternary matrix
 * is stored as tern2, tern3 and dense int8, so every kernel must print
 * the same output checksum.  Lines printed:
 *   shape <n_tok> <K> <n_out> <scratch>
 *   kernel <name> rc <rc> checksum <hex>      (one per marked region)
 *   lut <layout> plan_rc <rc> rows_per_block <R> blocks <n> slabs <n>
 *       scratch_used <n> psram_bytes <n> out_write_bytes <n>
 */
#include <string.h>

#include "harness.h"
#include "ftv_matmul.h"

#ifndef BENCH_SKIP_SLOW
#define BENCH_SKIP_SLOW 0
#endif

static uint32_t rng_state = 0x2545F491u;

static uint32_t rng(void)
{
    uint32_t s = rng_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return rng_state = s;
}

static uint32_t checksum(const int32_t *v, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)v[i]) * 16777619u;
    return h;
}

static void report(const char *name, int rc, const int32_t *out)
{
    hs_puts("kernel ");
    hs_puts(name);
    hs_puts(" rc ");
    hs_put_i32(rc);
    hs_puts(" checksum ");
    hs_put_hex(checksum(out, (size_t)BENCH_N_TOK * BENCH_N_OUT));
    hs_puts("\n");
}

static void put_field(const char *name, uint32_t v)
{
    hs_puts(" ");
    hs_puts(name);
    hs_puts(" ");
    hs_put_u32(v);
}

static void report_lut(const char *layout, int lay)
{
    ftv_matmul_lut_plan_t p;
    int rc = ftv_matmul_lut_plan(lay, BENCH_N_TOK, BENCH_K, BENCH_N_OUT, BENCH_SCRATCH, &p);
    hs_puts("lut ");
    hs_puts(layout);
    put_field("plan_rc", (uint32_t)rc);
    put_field("rows_per_block", (uint32_t)p.rows_per_block);
    put_field("blocks", (uint32_t)p.blocks);
    put_field("slabs", (uint32_t)p.slabs);
    put_field("scratch_used", (uint32_t)p.scratch_used);
    put_field("psram_bytes", (uint32_t)ftv_matmul_lut_psram_bytes(
                                 lay, BENCH_N_TOK, BENCH_K, BENCH_N_OUT, BENCH_SCRATCH));
    put_field("out_write_bytes", (uint32_t)p.out_write_bytes);
    hs_puts("\n");
}

int main(void)
{
    const uint32_t rb2 = ftv_tern2_row_bytes(BENCH_K), rb3 = ftv_tern3_row_bytes(BENCH_K);
    int8_t *x = hs_alloc((size_t)BENCH_N_TOK * BENCH_K);
    int8_t *wd = hs_alloc((size_t)BENCH_N_OUT * BENCH_K);
    uint8_t *w2 = hs_alloc((size_t)BENCH_N_OUT * rb2);
    uint8_t *w3 = hs_alloc((size_t)BENCH_N_OUT * rb3);
    int32_t *out = hs_alloc((size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
    void *scratch = hs_alloc(BENCH_SCRATCH);

    for (uint32_t i = 0; i < (uint32_t)BENCH_N_TOK * BENCH_K; i++)
        x[i] = (int8_t)(rng() >> 24);
    memset(w2, 0x55, (size_t)BENCH_N_OUT * rb2);
    memset(w3, 0, (size_t)BENCH_N_OUT * rb3);
    for (uint32_t o = 0; o < BENCH_N_OUT; o++) {
        uint32_t k = 0;
        for (uint32_t j = 0; j < rb3; j++) {        /* 5 codes per tern3 byte */
            uint32_t byte3 = 0, scale = 1;
            for (int i = 0; i < 5; i++, k++, scale *= 3) {
                uint32_t c = 1;
                if (k < BENCH_K) {
                    uint32_t r = rng() >> 30;   /* 0..3: P(0) = 1/2 */
                    c = r == 3 ? 1 : r;
                    wd[o * BENCH_K + k] = (int8_t)((int)c - 1);
                    uint8_t *b2 = &w2[o * rb2 + (k >> 2)];
                    *b2 = (uint8_t)((*b2 & ~(3u << ((k & 3) * 2))) | (c << ((k & 3) * 2)));
                }
                byte3 += c * scale;
            }
            w3[o * rb3 + j] = (uint8_t)byte3;
        }
    }

    hs_puts("shape ");
    hs_put_u32(BENCH_N_TOK); hs_puts(" "); hs_put_u32(BENCH_K); hs_puts(" ");
    hs_put_u32(BENCH_N_OUT); hs_puts(" "); hs_put_u32(BENCH_SCRATCH); hs_puts("\n");

    int rc;
    bench_mark_start();
    bench_mark_stop();
    report("empty", 0, out);

    memset(out, 0, (size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
    bench_mark_start();
    rc = ftv_matmul_tern2_lut(x, w2, out, BENCH_N_TOK, BENCH_K, BENCH_N_OUT, scratch, BENCH_SCRATCH);
    bench_mark_stop();
    report("tern2_lut", rc, out);

    memset(out, 0, (size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
    bench_mark_start();
    rc = ftv_matmul_tern3_lut(x, w3, out, BENCH_N_TOK, BENCH_K, BENCH_N_OUT, scratch, BENCH_SCRATCH);
    bench_mark_stop();
    report("tern3_lut", rc, out);

    if (!BENCH_SKIP_SLOW) {
        memset(out, 0, (size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
        bench_mark_start();
        ftv_matmul_tern2_ref(x, w2, out, BENCH_N_TOK, BENCH_K, BENCH_N_OUT);
        bench_mark_stop();
        report("tern2_ref", 0, out);

        memset(out, 0, (size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
        bench_mark_start();
        ftv_matmul_tern3_ref(x, w3, out, BENCH_N_TOK, BENCH_K, BENCH_N_OUT);
        bench_mark_stop();
        report("tern3_ref", 0, out);

        memset(out, 0, (size_t)BENCH_N_TOK * BENCH_N_OUT * 4);
        bench_mark_start();
        ftv_matmul_i8_ref(x, wd, out, BENCH_N_TOK, BENCH_K, BENCH_N_OUT);
        bench_mark_stop();
        report("i8_ref", 0, out);
    }
    report_lut("tern2", FTV_LAYOUT_TERN2);
    report_lut("tern3", FTV_LAYOUT_TERN3);
    return 0;
}
