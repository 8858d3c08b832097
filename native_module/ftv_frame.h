/* Camera frame -> model input image (docs/arithmetic.md, "Camera frames";
 * host/ftervit/reference/frame.py is the numpy twin, bit-identical).
 *
 * A frame is width x height pixels, row-major, top row first, no padding
 * between rows.  The format names are the camera's (micropython-camera-API's
 * camera.PixelFormat, esp32-camera's PIXFORMAT_*) and mean the bytes that
 * driver delivers; the codes are the runtime's own, not pixformat_t values:
 *   FTV_FRAME_GRAYSCALE  1 byte a pixel, 0 = black, 255 = white (= PGM P5)
 *   FTV_FRAME_RGB565     2 bytes a pixel, BIG-endian: byte 0 = RRRRRGGG,
 *                        byte 1 = GGGBBBBB
 *   FTV_FRAME_RGB888     3 bytes a pixel in memory order B, G, R (sic: the
 *                        driver's RGB888 is blue first; its fmt2rgb888 and
 *                        JPEG decoder write it, the sensors deliver none)
 *   FTV_FRAME_RGB_PPM    3 bytes a pixel in memory order R, G, B (PPM P6
 *                        pixels, PIL's "RGB"); not a camera format
 * docs/arithmetic.md cites the driver source these orders come from.
 *
 * The image written is img_size x img_size x in_chans uint8, HWC: what
 * ftv_forward takes.  The frame is centre-cropped to a square of side
 * S = min(width, height), then area-averaged to img_size x img_size with
 * exact integer rounding (enlarging as well as reducing), and converted to
 * in_chans channels (1: integer luma 77 R + 150 G + 29 B over 256;
 * 3: R, G, B, a gray frame replicated).  RGB565 channels widen to 8 bits
 * by bit replication (r8 = r5 << 3 | r5 >> 2, g8 = g6 << 2 | g6 >> 4).
 * No float, no allocation; the
 * kernels read nothing outside frame[0 .. frame_len).
 */
#ifndef FTV_FRAME_H
#define FTV_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    FTV_FRAME_GRAYSCALE = 1,
    FTV_FRAME_RGB565 = 2,
    FTV_FRAME_RGB888 = 3,
    FTV_FRAME_RGB_PPM = 4
};

/* Largest frame side and model img_size the kernel takes: every sum of the
 * arithmetic then fits its integer type (docs/arithmetic.md). */
#define FTV_FRAME_MAX_SIDE 4095

#define FTV_ERR_FRAME_FORMAT (-20)  /* format is not one of FTV_FRAME_* */
#define FTV_ERR_FRAME_SIZE   (-21)  /* width or height outside 1..FTV_FRAME_MAX_SIDE */
#define FTV_ERR_FRAME_LEN    (-22)  /* frame_len != ftv_frame_bytes(format, width, height) */
#define FTV_ERR_FRAME_IMAGE  (-23)  /* img_size outside 1..FTV_FRAME_MAX_SIDE or in_chans not 1/3 */

/* Bytes of a frame: width * height * bytes-per-pixel; 0 for an unknown
 * format or a side outside 1..FTV_FRAME_MAX_SIDE. */
size_t ftv_frame_bytes(int32_t format, int32_t width, int32_t height);

/* Write the model input for one frame.  Returns FTV_OK (0), FTV_ERR_ARG
 * (frame or image NULL), or one of the FTV_ERR_FRAME_* codes above, checked
 * in that order; the image is untouched on error.  frame_len must be exactly
 * ftv_frame_bytes(format, width, height).  image: img_size^2 * in_chans
 * bytes, not overlapping the frame.  ftv_frame_to_image is the variant
 * ftv_dispatch.h picks; the _ref twin is the plain reading of the spec and
 * _fast the same integers without per-pixel division. */
int ftv_frame_to_image(const uint8_t *frame, size_t frame_len, int32_t width, int32_t height,
                       int32_t format, uint8_t *image, int32_t img_size, int32_t in_chans);
int ftv_frame_to_image_ref(const uint8_t *frame, size_t frame_len, int32_t width,
                           int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                           int32_t in_chans);
int ftv_frame_to_image_fast(const uint8_t *frame, size_t frame_len, int32_t width,
                            int32_t height, int32_t format, uint8_t *image, int32_t img_size,
                            int32_t in_chans);

/* A one-line description of an ftv_frame_to_image return code (static text). */
const char *ftv_frame_strerror(int code);

#endif /* FTV_FRAME_H */
