"""TEST STAND-IN for the native module `_ftervit`: never deploy it.

It exists only so the tests can drive the device package's own Python
(header checks, version refusal, labels, top-k, classify.py's loops) on the
MicroPython unix port.  It computes nothing: forward() replays logits the
host's numpy reference recorded for known images (a table file named by the
environment variable FTERVIT_STANDIN_LOGITS: records of a uint32 CRC32 of
the image, then num_classes int32 logits), and frame() only copies frames
already at the model's input size.  The versions can be overridden through
FTERVIT_STANDIN_VERSIONS ("VERSION,FORMAT_VERSION,ARITH_VERSION") to test
the package's refusal of a mismatched module.
"""
import os
import struct
from binascii import crc32

GRAYSCALE, RGB565, RGB888, RGB_PPM = 1, 2, 3, 4
CTX_SIZE = 32
_CTX = "<iiiiI"         # img_size, in_chans, num_classes, image_bytes, bound model length


def _versions():
    text = os.getenv("FTERVIT_STANDIN_VERSIONS")
    return [int(v) for v in text.split(",")] if text else [2, 1, 1]


VERSION, FORMAT_VERSION, ARITH_VERSION = _versions()


def ctx_size(depth):
    return CTX_SIZE


def bind(model, ctx, check_crc):
    if len(ctx) != CTX_SIZE:
        raise ValueError("ctx: expected a bytearray of CTX_SIZE bytes")
    config = struct.unpack_from("<14i", model, 40)
    img_size, in_chans, num_classes = config[1], config[3], config[8]
    image_bytes = img_size * img_size * in_chans
    struct.pack_into(_CTX, ctx, 0, img_size, in_chans, num_classes, image_bytes, len(model))
    return img_size, in_chans, num_classes, image_bytes, 64


def forward(ctx, model, image, scratch, logits):
    img_size, in_chans, num_classes, image_bytes, bound = struct.unpack_from(_CTX, ctx)
    if len(model) != bound:
        raise ValueError("model: not the buffer this ctx was bound to")
    if len(image) != image_bytes:
        raise ValueError("image: expected %d bytes, found %d" % (image_bytes, len(image)))
    if len(logits) != num_classes:
        raise ValueError("logits: expected %d int32" % num_classes)
    key = crc32(image)
    record = 4 + 4 * num_classes
    with open(os.getenv("FTERVIT_STANDIN_LOGITS"), "rb") as f:
        while True:
            raw = f.read(record)
            if len(raw) < record:
                raise ValueError("stand-in: no recorded logits for image crc 0x%08x" % key)
            if struct.unpack_from("<I", raw)[0] == key:
                break
    values = struct.unpack_from("<%di" % num_classes, raw, 4)
    for i in range(num_classes):
        logits[i] = values[i]


def frame(ctx, frame, width, height, fmt, image):
    """Not a preprocessing: writes a tag of the frame (its CRC32, then zeros) that
    forward() looks up in the recorded table like any image."""
    image_bytes = struct.unpack_from(_CTX, ctx)[3]
    bpp = {GRAYSCALE: 1, RGB565: 2, RGB888: 3, RGB_PPM: 3}.get(fmt)
    if bpp is None:
        raise ValueError("fmt: expected GRAYSCALE, RGB565, RGB888 or RGB_PPM, found %r" % fmt)
    if len(frame) != width * height * bpp:
        raise ValueError("frame: expected %d bytes for %dx%d, found %d"
                         % (width * height * bpp, width, height, len(frame)))
    if len(image) != image_bytes:
        raise ValueError("image: expected %d bytes, found %d" % (image_bytes, len(image)))
    image[:] = bytes(image_bytes)
    struct.pack_into("<I", image, 0, crc32(frame))
