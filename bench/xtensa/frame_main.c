/* One camera-frame conversion, both variants, under the instruction-count plugin.
 *
 * Built with -DFRAME_W= -DFRAME_H= -DFRAME_FMT= -DFRAME_IMG= -DFRAME_CHANS=
 * for the Xtensa sim (harness.c) or the host (host_shim.c).  The frame comes
 * from a fixed PRNG, so both builds see the same bytes and must print the
 * same image checksums.  Lines printed:
 *   shape <w> <h> <format> <img_size> <in_chans>
 *   kernel <name> rc <rc> checksum <hex>      (one per marked region)
 */
#include <string.h>

#include "harness.h"
#include "ftv_frame.h"

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t rng(void)
{
    uint32_t s = rng_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return rng_state = s;
}

static uint32_t checksum(const uint8_t *v, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ v[i]) * 16777619u;
    return h;
}

static void report(const char *name, int rc, const uint8_t *image, size_t n)
{
    hs_puts("kernel ");
    hs_puts(name);
    hs_puts(" rc ");
    hs_put_i32(rc);
    hs_puts(" checksum ");
    hs_put_hex(checksum(image, n));
    hs_puts("\n");
}

int main(void)
{
    const size_t frame_len = ftv_frame_bytes(FRAME_FMT, FRAME_W, FRAME_H);
    const size_t image_len = (size_t)FRAME_IMG * FRAME_IMG * FRAME_CHANS;
    uint8_t *frame = hs_alloc(frame_len ? frame_len : 1);
    uint8_t *image = hs_alloc(image_len);
    for (size_t i = 0; i < frame_len; i++)
        frame[i] = (uint8_t)(rng() >> 24);

    hs_puts("shape ");
    hs_put_u32(FRAME_W); hs_puts(" "); hs_put_u32(FRAME_H); hs_puts(" ");
    hs_put_u32(FRAME_FMT); hs_puts(" "); hs_put_u32(FRAME_IMG); hs_puts(" ");
    hs_put_u32(FRAME_CHANS); hs_puts("\n");

    int rc;
    memset(image, 0, image_len);
    bench_mark_start();
    bench_mark_stop();
    report("empty", 0, image, image_len);

    memset(image, 0, image_len);
    bench_mark_start();
    rc = ftv_frame_to_image_ref(frame, frame_len, FRAME_W, FRAME_H, FRAME_FMT, image,
                                FRAME_IMG, FRAME_CHANS);
    bench_mark_stop();
    report("frame_ref", rc, image, image_len);

    memset(image, 0, image_len);
    bench_mark_start();
    rc = ftv_frame_to_image_fast(frame, frame_len, FRAME_W, FRAME_H, FRAME_FMT, image,
                                 FRAME_IMG, FRAME_CHANS);
    bench_mark_stop();
    report("frame_fast", rc, image, image_len);
    return 0;
}
