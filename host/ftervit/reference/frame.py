"""Camera frame -> model input image: the readable reading of docs/arithmetic.md,
"Camera frames" (native_module/ftv_frame.c is the C twin, bit-identical).

A frame is ``width x height`` pixels, row-major, top row first, in one of the
formats below; the model input is ``img_size x img_size x in_chans`` uint8 HWC.
Steps: centre crop to a square of side S = min(width, height); area-average
resize to img_size (exact integers, rounded half up); channel conversion.
"""
import numpy as np

# The runtime's format codes (native_module/ftv_frame.h), by the camera's names.
FORMATS = {"GRAYSCALE": 1, "RGB565": 2, "RGB888": 3, "RGB_PPM": 4}
BYTES_PER_PIXEL = {1: 1, 2: 2, 3: 3, 4: 3}
MAX_SIDE = 4095
LUMA = (77, 150, 29)   # grey = (77 R + 150 G + 29 B + 128) >> 8; the weights sum to 256


class FrameError(ValueError):
    """A frame or its description is not one the kernel takes; the message says why."""


def format_code(fmt) -> int:
    """The format code of a name ('RGB565', any case) or a code (2)."""
    if isinstance(fmt, str):
        code = FORMATS.get(fmt.upper())
    else:
        code = int(fmt) if int(fmt) in BYTES_PER_PIXEL else None
    if code is None:
        raise FrameError(f"frame format {fmt!r} is unknown; expected one of "
                         f"{', '.join(FORMATS)}")
    return code


def format_name(code: int) -> str:
    return {v: k for k, v in FORMATS.items()}[code]


def frame_bytes(fmt, width: int, height: int) -> int:
    """width * height * bytes per pixel of the format (sides 1..MAX_SIDE)."""
    code = format_code(fmt)
    for name, side in (("width", width), ("height", height)):
        if not 1 <= side <= MAX_SIDE:
            raise FrameError(f"frame {name} {side} is outside 1..{MAX_SIDE}")
    return width * height * BYTES_PER_PIXEL[code]


def decode_pixels(frame, width: int, height: int, fmt) -> np.ndarray:
    """int64 [height, width, 1 or 3] channels of a frame: grey, or R, G, B in 0..255."""
    code = format_code(fmt)
    want = frame_bytes(code, width, height)
    data = np.frombuffer(bytes(frame), dtype=np.uint8)
    if data.size != want:
        raise FrameError(f"frame holds {data.size} bytes; {width}x{height} "
                         f"{format_name(code)} is {want} bytes")
    px = data.astype(np.int64).reshape(height, width, BYTES_PER_PIXEL[code])
    if code == FORMATS["RGB565"]:
        v = (px[..., 0] << 8) | px[..., 1]                 # big-endian
        r5, g6, b5 = v >> 11, (v >> 5) & 63, v & 31
        return np.stack([(r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4),
                         (b5 << 3) | (b5 >> 2)], axis=-1)  # bit replication to 8 bits
    if code == FORMATS["RGB888"]:
        return px[..., ::-1]                               # stored B, G, R
    return px                                              # GRAYSCALE, RGB_PPM (R, G, B)


def centre_crop(pixels: np.ndarray) -> np.ndarray:
    """The centred S x S square, S = min(H, W); odd leftovers go to the right / bottom."""
    h, w = pixels.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return pixels[y0:y0 + s, x0:x0 + s]


def area_weights(s: int, n: int) -> np.ndarray:
    """int64 [n, s]: weights[o, i] = length of output o's [o s, o s + s) inside source
    pixel i's [i n, i n + n); each row sums to s."""
    o = np.arange(n, dtype=np.int64)[:, None]
    i = np.arange(s, dtype=np.int64)[None, :]
    lo = np.maximum(o * s, i * n)
    hi = np.minimum(o * s + s, i * n + n)
    return np.maximum(hi - lo, 0)


def area_resize(square: np.ndarray, n: int) -> np.ndarray:
    """[n, n, C] averages of an [S, S, C] square: round-half-up of
    sum_ij wy[o, i] wx[p, j] pixel[i, j] / S^2 (all sums exact, < 2^32)."""
    s = square.shape[0]
    wts = area_weights(s, n)
    sums = np.einsum("oi,ijc->ojc", wts, square)           # rows, then columns
    sums = np.einsum("pj,ojc->opc", wts, sums)
    area = s * s
    return (sums + area // 2) // area


def convert_channels(avg: np.ndarray, in_chans: int) -> np.ndarray:
    """Averages -> in_chans channels: grey replicated, or R, G, B to the integer luma."""
    if avg.shape[-1] == 1:
        return np.repeat(avg, in_chans, axis=-1)
    if in_chans == 3:
        return avg
    r, g, b = avg[..., 0], avg[..., 1], avg[..., 2]
    return ((LUMA[0] * r + LUMA[1] * g + LUMA[2] * b + 128) >> 8)[..., None]


def frame_to_image(frame, width: int, height: int, fmt, img_size: int,
                   in_chans: int) -> np.ndarray:
    """uint8 [img_size, img_size, in_chans]: the model input for one frame."""
    pixels = decode_pixels(frame, width, height, fmt)
    if not 1 <= img_size <= MAX_SIDE:
        raise FrameError(f"model image size {img_size} is outside 1..{MAX_SIDE}")
    if in_chans not in (1, 3):
        raise FrameError(f"model in_chans {in_chans}: frames convert to 1 or 3 channels")
    avg = area_resize(centre_crop(pixels), img_size)
    return convert_channels(avg, in_chans).astype(np.uint8)


def parse_frame_spec(spec: str):
    """(width, height, format code) of a 'WIDTHxHEIGHT:FORMAT' string, e.g. '240x240:RGB565'."""
    text = str(spec).strip()
    size, sep, fmt = text.partition(":")
    w, x, h = size.lower().partition("x")
    if not (sep and x and w.isdigit() and h.isdigit() and fmt):
        raise FrameError(f"frame spec {spec!r}: expected WIDTHxHEIGHT:FORMAT, e.g. "
                         f"240x240:RGB565 (formats: {', '.join(FORMATS)})")
    if fmt.upper() == "JPEG":
        raise FrameError(f"frame spec {spec!r}: JPEG frames are compressed, not raw; give the "
                         f".jpg as an image file without --frame (the host decodes it)")
    try:
        code = format_code(fmt)
        frame_bytes(code, int(w), int(h))   # sides in range
    except FrameError as exc:
        raise FrameError(f"frame spec {spec!r}: {exc}") from None
    return int(w), int(h), code
