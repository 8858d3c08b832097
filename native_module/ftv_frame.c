/* Camera frame -> model input image: docs/arithmetic.md, "Camera frames";
 * host/ftervit/reference/frame.py is the numpy twin.
 *
 * Both variants compute the same integers:
 *   ftv_frame_to_image_ref   the spec read literally: every span bound and
 *                            every average by ftv_udiv64
 *   ftv_frame_to_image_fast  the same sums regrouped: span bounds walked
 *                            incrementally, inner pixels summed plainly and
 *                            weighted once, the average by a reciprocal with
 *                            one correction, so no per-pixel long division
 *                            (the build may use no divide instruction)
 * ftv_frame_to_image is the one ftv_dispatch.h picks.
 */
#include "ftv_frame.h"

#include "ftv_dispatch.h"
#include "ftv_ops.h"
#include "ftv_util.h"

/* ------------------------------------------------------------ formats */

static int32_t bytes_per_pixel(int32_t format)
{
    switch (format) {
    case FTV_FRAME_GRAYSCALE:
        return 1;
    case FTV_FRAME_RGB565:
        return 2;
    case FTV_FRAME_RGB888:
    case FTV_FRAME_RGB_PPM:
        return 3;
    default:
        return 0;
    }
}

static int side_ok(int32_t side)
{
    return side >= 1 && side <= FTV_FRAME_MAX_SIDE;
}

size_t ftv_frame_bytes(int32_t format, int32_t width, int32_t height)
{
    int32_t bpp = bytes_per_pixel(format);
    if (bpp == 0 || !side_ok(width) || !side_ok(height))
        return 0;
    return (size_t)width * (size_t)height * (size_t)bpp;
}

/* The checks of ftv_frame.h, in its order, shared by both variants. */
static int frame_args(const uint8_t *frame, size_t frame_len, int32_t width, int32_t height,
                      int32_t format, const uint8_t *image, int32_t img_size, int32_t in_chans)
{
    if (!frame || !image)
        return FTV_ERR_ARG;
    if (bytes_per_pixel(format) == 0)
        return FTV_ERR_FRAME_FORMAT;
    if (!side_ok(width) || !side_ok(height))
        return FTV_ERR_FRAME_SIZE;
    if (frame_len != ftv_frame_bytes(format, width, height))
        return FTV_ERR_FRAME_LEN;
    if (!side_ok(img_size) || (in_chans != 1 && in_chans != 3))
        return FTV_ERR_FRAME_IMAGE;
    return FTV_OK;
}

/* RGB565 fields to 8 bits by bit replication: 0 -> 0, 31 (63) -> 255. */
static uint32_t widen5(uint32_t v)
{
    return (v << 3) | (v >> 2);
}

static uint32_t widen6(uint32_t v)
{
    return (v << 2) | (v >> 4);
}

/* The 8-bit channels of the pixel at p: R, G, B (a grey pixel fills all
 * three with its value; grey frames use only the first). */
static void read_pixel(const uint8_t *p, int32_t format, uint32_t *ch)
{
    uint32_t v, r5, g6, b5;
    switch (format) {
    case FTV_FRAME_GRAYSCALE:
        ch[0] = ch[1] = ch[2] = p[0];
        return;
    case FTV_FRAME_RGB565:
        v = ((uint32_t)p[0] << 8) | p[1];          /* big-endian: byte 0 is the high byte */
        r5 = v >> 11;
        g6 = (v >> 5) & 63u;
        b5 = v & 31u;
        ch[0] = widen5(r5);
        ch[1] = widen6(g6);
        ch[2] = widen5(b5);
        return;
    case FTV_FRAME_RGB888:                          /* the driver's order: B, G, R */
        ch[0] = p[2];
        ch[1] = p[1];
        ch[2] = p[0];
        return;
    default:                                        /* FTV_FRAME_RGB_PPM: R, G, B */
        ch[0] = p[0];
        ch[1] = p[1];
        ch[2] = p[2];
        return;
    }
}

/* One output pixel from its averaged frame channels: grey replicated to
 * three channels, or R, G, B reduced to the integer luma. */
static void write_pixel(uint8_t *out, const uint32_t *avg, int32_t frame_chans, int32_t in_chans)
{
    if (frame_chans == 1) {
        for (int32_t c = 0; c < in_chans; c++)
            out[c] = (uint8_t)avg[0];
    } else if (in_chans == 3) {
        out[0] = (uint8_t)avg[0];
        out[1] = (uint8_t)avg[1];
        out[2] = (uint8_t)avg[2];
    } else {
        out[0] = (uint8_t)((77u * avg[0] + 150u * avg[1] + 29u * avg[2] + 128u) >> 8);
    }
}

/* Length of [lo, hi) intersected with source pixel i's [i n, (i + 1) n). */
static uint32_t overlap(uint32_t lo, uint32_t hi, uint32_t i, uint32_t n)
{
    uint32_t a = i * n, b = a + n;
    return (hi < b ? hi : b) - (lo > a ? lo : a);
}

/* ------------------------------------------------------------ reference */

/* In units where a source pixel is n long and an output pixel s long,
 * output o covers [o s, o s + s): source pixels floor(o s / n) through
 * floor((o s + s - 1) / n). */
int ftv_frame_to_image_ref(const uint8_t *frame, size_t frame_len, int32_t width,
                           int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                           int32_t in_chans)
{
    int rc = frame_args(frame, frame_len, width, height, format, image, img_size, in_chans);
    if (rc != FTV_OK)
        return rc;
    const uint32_t s = (uint32_t)(width < height ? width : height), n = (uint32_t)img_size;
    const uint32_t x0 = ((uint32_t)width - s) >> 1, y0 = ((uint32_t)height - s) >> 1;
    const uint32_t area = s * s, bpp = (uint32_t)bytes_per_pixel(format);
    const int32_t chans = format == FTV_FRAME_GRAYSCALE ? 1 : 3;
    for (uint32_t oy = 0; oy < n; oy++) {
        uint32_t lo_y = oy * s, hi_y = lo_y + s;
        uint32_t i0 = (uint32_t)ftv_udiv64(lo_y, n), i1 = (uint32_t)ftv_udiv64(hi_y - 1, n);
        for (uint32_t ox = 0; ox < n; ox++) {
            uint32_t lo_x = ox * s, hi_x = lo_x + s;
            uint32_t j0 = (uint32_t)ftv_udiv64(lo_x, n), j1 = (uint32_t)ftv_udiv64(hi_x - 1, n);
            uint32_t sum[3] = {0, 0, 0}, px[3], avg[3];
            for (uint32_t i = i0; i <= i1; i++) {
                uint32_t wy = overlap(lo_y, hi_y, i, n);
                for (uint32_t j = j0; j <= j1; j++) {
                    uint32_t w = wy * overlap(lo_x, hi_x, j, n);
                    read_pixel(frame + ((y0 + i) * (uint32_t)width + x0 + j) * bpp, format, px);
                    for (int32_t c = 0; c < chans; c++)
                        sum[c] += w * px[c];
                }
            }
            for (int32_t c = 0; c < chans; c++)
                avg[c] = (uint32_t)ftv_udiv64(sum[c] + (area >> 1), area);
            write_pixel(image + (oy * n + ox) * (uint32_t)in_chans, avg, chans, in_chans);
        }
    }
    return FTV_OK;
}

/* ------------------------------------------------------------ fast */

/* The same sums as the reference, regrouped: a span's first and last source
 * pixels carry partial weights, every pixel between them weighs n, so the
 * inner pixels are added plainly (one loop per format, no multiply) and
 * multiplied by n once; rows likewise. */

/* A span of source pixels: first and last index, and the weight of each
 * end (the pixels strictly inside weigh n). */
typedef struct {
    uint32_t first, last, w_first, w_last;
} span_t;

/* Output o's span, given output o - 1's first index in *cursor (0 for
 * o = 0): first = floor(o s / n) never decreases, so it is walked forward
 * rather than divided for. */
static span_t span_at(uint32_t o, uint32_t s, uint32_t n, uint32_t *cursor)
{
    span_t sp;
    uint32_t lo = o * s, hi = lo + s, i = *cursor;
    while ((i + 1) * n <= lo)
        i++;
    *cursor = i;
    sp.first = i;
    while ((i + 1) * n < hi)
        i++;
    sp.last = i;
    sp.w_first = overlap(lo, hi, sp.first, n);
    sp.w_last = overlap(lo, hi, sp.last, n);
    return sp;
}

/* sum[c] = the channels of `count` consecutive pixels from p, unweighted. */
static void plain_sums(const uint8_t *p, int32_t format, uint32_t count, uint32_t *sum)
{
    uint32_t a = 0, b = 0, c = 0, v;
    switch (format) {
    case FTV_FRAME_GRAYSCALE:
        for (uint32_t k = 0; k < count; k++)
            a += p[k];
        break;
    case FTV_FRAME_RGB565:
        for (uint32_t k = 0; k < count; k++, p += 2) {
            v = ((uint32_t)p[0] << 8) | p[1];
            a += widen5(v >> 11);
            b += widen6((v >> 5) & 63u);
            c += widen5(v & 31u);
        }
        break;
    case FTV_FRAME_RGB888:
        for (uint32_t k = 0; k < count; k++, p += 3) {
            a += p[2];
            b += p[1];
            c += p[0];
        }
        break;
    default:
        for (uint32_t k = 0; k < count; k++, p += 3) {
            a += p[0];
            b += p[1];
            c += p[2];
        }
        break;
    }
    sum[0] = a;
    sum[1] = b;
    sum[2] = c;
}

/* row[c] = sum over the span's pixels on one frame row of weight * channel;
 * p points at the span's first pixel. */
static void span_sums(const uint8_t *p, int32_t format, uint32_t bpp, const span_t *sp,
                      uint32_t n, uint32_t *row)
{
    uint32_t first[3], inner[3], last[3];
    uint32_t count = sp->last - sp->first;
    read_pixel(p, format, first);
    if (count == 0) {
        for (int32_t c = 0; c < 3; c++)
            row[c] = sp->w_first * first[c];
        return;
    }
    plain_sums(p + bpp, format, count - 1, inner);
    read_pixel(p + count * bpp, format, last);
    for (int32_t c = 0; c < 3; c++)
        row[c] = sp->w_first * first[c] + n * inner[c] + sp->w_last * last[c];
}

/* floor(v / d) for v < 2^32 whose quotient the caller knows: recip =
 * floor(2^32 / d) makes (v * recip) >> 32 short of the quotient by at most
 * one (v * (2^32 / d - recip) < 2^32), and one compare fixes that. */
static uint32_t div_by_recip(uint32_t v, uint32_t d, uint32_t recip)
{
    uint32_t q = (uint32_t)(((uint64_t)v * recip) >> 32);
    if (v - q * d >= d)
        q++;
    return q;
}

/* The weighted sums of one output pixel: spans sy (rows) by sx (columns). */
static void pixel_sums(const uint8_t *frame, int32_t format, uint32_t bpp, uint32_t row_bytes,
                       uint32_t x0, uint32_t y0, const span_t *sy, const span_t *sx,
                       uint32_t n, uint32_t *sum)
{
    const uint8_t *p = frame + (y0 + sy->first) * row_bytes + (x0 + sx->first) * bpp;
    uint32_t row[3], inner[3] = {0, 0, 0};
    span_sums(p, format, bpp, sx, n, row);
    for (int32_t c = 0; c < 3; c++)
        sum[c] = sy->w_first * row[c];
    if (sy->last == sy->first)
        return;
    for (uint32_t i = sy->first + 1; i < sy->last; i++) {
        p += row_bytes;
        span_sums(p, format, bpp, sx, n, row);
        for (int32_t c = 0; c < 3; c++)
            inner[c] += row[c];
    }
    span_sums(p + row_bytes, format, bpp, sx, n, row);
    for (int32_t c = 0; c < 3; c++)
        sum[c] += n * inner[c] + sy->w_last * row[c];
}

int ftv_frame_to_image_fast(const uint8_t *frame, size_t frame_len, int32_t width,
                            int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                            int32_t in_chans)
{
    int rc = frame_args(frame, frame_len, width, height, format, image, img_size, in_chans);
    if (rc != FTV_OK)
        return rc;
    const uint32_t s = (uint32_t)(width < height ? width : height), n = (uint32_t)img_size;
    const uint32_t x0 = ((uint32_t)width - s) >> 1, y0 = ((uint32_t)height - s) >> 1;
    const uint32_t area = s * s, bpp = (uint32_t)bytes_per_pixel(format);
    /* area 1 (a 1x1 crop) needs no division; floor(2^32 / 1) would not fit */
    const uint32_t recip = area > 1 ? (uint32_t)ftv_udiv64((uint64_t)1 << 32, area) : 0;
    const uint32_t row_bytes = (uint32_t)width * bpp;
    const int32_t chans = format == FTV_FRAME_GRAYSCALE ? 1 : 3;
    uint32_t cur_y = 0;
    for (uint32_t oy = 0; oy < n; oy++) {
        span_t sy = span_at(oy, s, n, &cur_y);
        uint32_t cur_x = 0;
        for (uint32_t ox = 0; ox < n; ox++) {
            span_t sx = span_at(ox, s, n, &cur_x);
            uint32_t sum[3], avg[3];
            pixel_sums(frame, format, bpp, row_bytes, x0, y0, &sy, &sx, n, sum);
            for (int32_t c = 0; c < chans; c++)
                avg[c] = area == 1 ? sum[c] : div_by_recip(sum[c] + (area >> 1), area, recip);
            write_pixel(image + (oy * n + ox) * (uint32_t)in_chans, avg, chans, in_chans);
        }
    }
    return FTV_OK;
}

/* The variant ftv_dispatch.h picks, as a real function so bindings can
 * take its address. */
int ftv_frame_to_image(const uint8_t *frame, size_t frame_len, int32_t width, int32_t height,
                       int32_t format, uint8_t *image, int32_t img_size, int32_t in_chans)
{
    return FTV_FRAME_TO_IMAGE(frame, frame_len, width, height, format, image, img_size,
                              in_chans);
}

const char *ftv_frame_strerror(int code)
{
    switch (code) {
    case FTV_OK:
        return "ok";
    case FTV_ERR_ARG:
        return "frame or image buffer missing (NULL)";
    case FTV_ERR_FRAME_FORMAT:
        return "unknown frame format (expected GRAYSCALE 1, RGB565 2, RGB888 3 or RGB_PPM 4)";
    case FTV_ERR_FRAME_SIZE:
        return "frame width or height outside 1..4095";
    case FTV_ERR_FRAME_LEN:
        return "frame length is not width * height * bytes per pixel of its format";
    case FTV_ERR_FRAME_IMAGE:
        return "model image size outside 1..4095 or in_chans not 1 or 3";
    default:
        return "unknown error code";
    }
}
