/* One whole-model forward pass (ftv_forward) bare-metal under
 * qemu-system-xtensa, for bench/bench_xtensa_model.py and
 * tests/test_xtensa_model.py.
 *
 * The model file, the input image and the expected logits are linked in
 * (model_blob.S, generated); ftv_bind checks the file and points the model
 * into it, as the host and MicroPython do (its instructions fall outside
 * the profiled forward pass).  The scratch is split as on the device:
 * the fixed activation buffers of ftv_forward, then BENCH_MM_SCRATCH bytes
 * for the matmul kernel (its tables and weight blocks: internal SRAM on the
 * device).  Lines printed (numbers in hex, 8 digits):
 *   bind <rc> <error index>        ftv_bind's return code (the run stops unless 0)
 *   blob <addr> <bytes>            the model file
 *   image <addr> <bytes>
 *   scratch <addr> <bytes> <fixed bytes> <matmul bytes> <default bytes>
 *   rc <rc>                        ftv_forward's return code
 *   logits <n> then n lines "l <value>"
 *   result PASS | result FAIL <first differing index>
 *   call <phase> <op> <n0> <n1> <n2> <p0> <p1> <p2> <p3> <p4>  (model_profile.h)
 *   ncalls <n>
 *   plan <call> <rc> <path> <rows/block> <blocks> <chunks/slab> <slabs>
 *        <scratch used> <W bytes> <x bytes> <out read> <out written>
 *   end
 */
#include <string.h>

#include "ftv.h"
#include "harness.h"
#include "model_profile.h"

#ifndef BENCH_MM_SCRATCH
#define BENCH_MM_SCRATCH (128 * 1024)
#endif

static ftv_bound_t bound;          /* the model, pointing into bench_blob */
extern const uint8_t bench_blob[], bench_blob_end[];
extern const uint8_t bench_image[], bench_image_end[];
extern const int32_t bench_expect[];

static void field(uint32_t v)
{
    hs_puts(" ");
    hs_put_hex(v);
}

static void line(const char *tag, int n, const uint32_t *v)
{
    hs_puts(tag);
    for (int i = 0; i < n; i++)
        field(v[i]);
    hs_puts("\n");
}

/* The matmul kernel's share of ftv_scratch_bytes_for(g, 1): its one-row
 * scratch for the largest K of the model. */
static size_t matmul_min(const ftv_geometry_t *g)
{
    int ks[3] = {g->in_chans * g->patch_size * g->patch_size, g->embed_dim, g->mlp_dim};
    size_t most = 0;
    for (int i = 0; i < 3; i++) {
        size_t b = ftv_matmul_scratch_bytes(g->layout, ks[i], 1);
        most = b > most ? b : most;
    }
    return most;
}

int main(void)
{
    const ftv_geometry_t *g = &bound.model.geometry;
    size_t need1, fixed, len;
    uint8_t *scratch;
    int32_t *logits;
    uint32_t v[11];
    int rc, bad = -1;

    rc = ftv_bind(&bound, bench_blob, (size_t)(bench_blob_end - bench_blob), FTV_BIND_CHECK_ALL);
    v[0] = (uint32_t)rc;
    v[1] = (uint32_t)bound.error_index;
    line("bind", 2, v);
    if (rc != FTV_OK)
        return 3;
    need1 = ftv_scratch_bytes_for(g, 1);
    fixed = need1 - 15 - matmul_min(g);    /* 15: ftv_forward's alignment slack */
    len = fixed + BENCH_MM_SCRATCH;
    scratch = hs_alloc(len);
    logits = hs_alloc((size_t)g->num_classes * 4);

    v[0] = (uint32_t)(uintptr_t)bench_blob;
    v[1] = (uint32_t)(bench_blob_end - bench_blob);
    line("blob", 2, v);
    v[0] = (uint32_t)(uintptr_t)bench_image;
    v[1] = (uint32_t)(bench_image_end - bench_image);
    line("image", 2, v);
    v[0] = (uint32_t)(uintptr_t)scratch;
    v[1] = (uint32_t)len;
    v[2] = (uint32_t)fixed;
    v[3] = BENCH_MM_SCRATCH;
    v[4] = (uint32_t)ftv_scratch_bytes(g);
    line("scratch", 5, v);
    if (need1 == 0)
        return 2;

    memset(logits, 0x55, (size_t)g->num_classes * 4);
    prof_begin(g->depth);
    rc = ftv_forward(&bound.model, bench_image, logits, scratch, len);
    prof_end();
    prof_dump();

    v[0] = (uint32_t)rc;
    line("rc", 1, v);
    v[0] = (uint32_t)g->num_classes;
    line("logits", 1, v);
    for (int i = 0; i < g->num_classes; i++) {
        v[0] = (uint32_t)logits[i];
        line("l", 1, v);
        if (bad < 0 && logits[i] != bench_expect[i])
            bad = i;
    }
    if (rc == 0 && bad < 0) {
        hs_puts("result PASS\n");
    } else {
        hs_puts("result FAIL");
        field((uint32_t)bad);
        hs_puts("\n");
    }

    for (uint32_t i = 0; i < prof_n_calls && i < PROF_MAX_CALLS; i++) {
        const prof_call_t *c = &prof_calls[i];
        v[0] = (uint32_t)c->phase;
        v[1] = (uint32_t)c->op;
        for (int j = 0; j < 3; j++)
            v[2 + j] = (uint32_t)c->n[j];
        for (int j = 0; j < 5; j++)
            v[5 + j] = c->p[j];
        line("call", 10, v);
    }
    v[0] = prof_n_calls;
    line("ncalls", 1, v);

    for (uint32_t i = 0; i < prof_n_calls && i < PROF_MAX_CALLS; i++) {
        const prof_call_t *c = &prof_calls[i];
        ftv_matmul_lut_plan_t p;
        int prc;
        if (c->op != OP_MATMUL)
            continue;
        prc = ftv_matmul_lut_plan(g->layout, c->n[0], c->n[1], c->n[2], c->p[4], &p);
        v[0] = i;
        v[1] = (uint32_t)prc;
        v[2] = (uint32_t)p.path;
        v[3] = (uint32_t)p.rows_per_block;
        v[4] = (uint32_t)p.blocks;
        v[5] = (uint32_t)p.chunks_per_slab;
        v[6] = (uint32_t)p.slabs;
        v[7] = (uint32_t)p.scratch_used;
        v[8] = (uint32_t)p.w_bytes;
        v[9] = (uint32_t)p.x_bytes;
        v[10] = (uint32_t)p.out_read_bytes;
        line("plan", 11, v);
        v[0] = (uint32_t)p.out_write_bytes;
        line("planw", 1, v);
    }
    hs_puts("end\n");
    return 0;
}
