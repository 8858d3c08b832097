"""Images in, uint8 HWC arrays out: what the integer runtimes take.

`load_image` is the one way an image file becomes a model input (`run`,
`check`, `pack --golden-image`, `demo`).  Every Pillow mode is first brought
to 8 bits per channel exactly (`to_8bit`), or refused with a message that says
why: 16-bit pixels are scaled (v * 255 / 65535, rounded), never clipped;
transparency is refused rather than dropped; floating-point pixels, which have
no agreed range, are refused.

By default the 8-bit image must then already have the model's size and colour
mode, so a mismatch is reported rather than silently changed; `fit=True`
centre-crops to a square, resizes and converts grey <-> RGB (what the device
does with camera frames).
"""
from pathlib import Path

import numpy as np

MODES = {1: "L", 3: "RGB"}
# modes Pillow converts to L / RGB without losing anything but (documented) colour space
_GREY = {"1", "L"}
_COLOUR = {"RGB", "RGBX", "CMYK", "YCbCr"}
_ALPHA = {"LA": "L", "La": "L", "RGBA": "RGB", "RGBa": "RGB"}
_MAX_UINT16 = 65535


class ImageError(ValueError):
    """The image cannot be given to the model: the message says what was expected."""


def open_image(path):
    """The decoded Pillow image of `path`; ImageError / FileNotFoundError naming it."""
    from PIL import Image, UnidentifiedImageError
    from .files import check_input_file
    path = check_input_file(path, "an image file (PNG, JPEG, ...)")
    try:
        img = Image.open(path)
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: image too large to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image, expected PNG, JPEG, ... ({exc}); "
                         "for a raw camera frame pass --frame WIDTHxHEIGHT:FORMAT") from None
    return img


def to_8bit(img, where: str = "image"):
    """`img` as an 8-bit L or RGB image, or ImageError saying why it cannot be one."""
    mode = img.mode
    if mode in _GREY:
        return img.convert("L")
    if mode in _COLOUR:
        return img.convert("RGB")
    if mode in ("P", "PA"):  # a palette: its colours, with alpha if it has transparency
        has_alpha = mode == "PA" or "transparency" in img.info
        return to_8bit(img.convert("RGBA" if has_alpha else "RGB"), where)
    if mode in _ALPHA:
        return _without_alpha(img, where)
    if mode == "I" or mode.startswith("I;16"):
        return _scaled_16bit(img, where)
    if mode == "F":
        raise ImageError(f"{where}: floating-point pixels (mode F) have no agreed range; "
                         "expected an 8- or 16-bit image (save it as one first)")
    raise ImageError(f"{where}: image mode {mode} is not supported; expected an 8- or 16-bit "
                     "grey or colour image")


def _without_alpha(img, where: str):
    """The image without its alpha channel, if every pixel is opaque: dropping the alpha of
    transparent pixels would show colours nobody was meant to see."""
    alpha = np.asarray(img.getchannel("A"))
    if alpha.size and int(alpha.min()) < 255:
        share = float((alpha < 255).mean()) * 100
        raise ImageError(f"{where}: image has transparent pixels ({share:.1f} %, mode "
                         f"{img.mode}); expected an opaque image (flatten it onto a background "
                         "first)")
    return img.convert(_ALPHA[img.mode])


def _scaled_16bit(img, where: str):
    """16-bit grey (modes I;16*, and I holding 0..65535) scaled to 8 bits, rounded."""
    from PIL import Image
    values = np.asarray(img).astype(np.int64)
    if values.size and (int(values.min()) < 0 or int(values.max()) > _MAX_UINT16):
        raise ImageError(f"{where}: 32-bit integer pixels (mode {img.mode}) range "
                         f"{int(values.min())}..{int(values.max())}; expected 16-bit values "
                         f"0..{_MAX_UINT16} (or an 8-bit image)")
    scaled = (values * 255 + _MAX_UINT16 // 2) // _MAX_UINT16
    return Image.fromarray(scaled.astype(np.uint8), "L")


def fit_image(img, size: int, in_chans: int):
    """Centre-crop to a square, resize to size×size (bilinear), convert to L or RGB
    (`img` is 8-bit L or RGB: see `to_8bit`)."""
    from PIL import Image
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.convert(MODES[in_chans]).crop((left, top, left + side, top + side))
    return img.resize((size, size), Image.BILINEAR)


def read_8bit(path):
    """The image file `path` as an 8-bit L or RGB Pillow image (`open_image`, `to_8bit`)."""
    return to_8bit(open_image(path), str(path))


def load_image(path, size: int, in_chans: int, fit: bool = False) -> np.ndarray:
    """uint8 [size, size, in_chans] from an image file (PNG, JPEG, TIFF, ... via Pillow)."""
    if in_chans not in MODES:
        raise ImageError(f"the model takes {in_chans} input channels; image files give 1 "
                         "(grey) or 3 (RGB)")
    img = read_8bit(path)
    if fit:
        img = fit_image(img, size, in_chans)
    want = MODES[in_chans]
    if img.mode != want:
        raise ImageError(f"{path}: image mode is {img.mode}, the model takes {want} "
                         f"({in_chans} channel{'s' if in_chans > 1 else ''}); pass --fit to "
                         "convert")
    if img.size != (size, size):
        raise ImageError(f"{path}: image size is {img.size[0]}x{img.size[1]}, the model takes "
                         f"{size}x{size}; pass --fit to centre-crop and resize")
    return np.asarray(img, dtype=np.uint8).reshape(size, size, in_chans)


def read_raw_frame(path, spec: str):
    """(bytes, width, height, format code) of a raw camera frame file described by
    spec 'WIDTHxHEIGHT:FORMAT' (ftervit.reference.frame); its length must match."""
    from .reference.frame import BYTES_PER_PIXEL, FrameError, format_name, parse_frame_spec
    try:
        width, height, code = parse_frame_spec(spec)
    except FrameError as exc:
        raise ImageError(f"--frame: {exc}") from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"frame file not found: {path}")
    data = path.read_bytes()
    bpp = BYTES_PER_PIXEL[code]
    want = width * height * bpp
    if len(data) != want:
        raise ImageError(f"{path}: {len(data)} bytes, but a {width}x{height} "
                         f"{format_name(code)} frame (--frame {spec}) is {want} bytes "
                         f"({width} x {height} x {bpp})")
    return data, width, height, code


def as_model_image(array, size: int, in_chans: int) -> np.ndarray:
    """Check an in-memory image: uint8, [size, size, in_chans] (or [size, size] for grey)."""
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ImageError(f"image dtype is {arr.dtype}, expected uint8")
    if arr.ndim == 2 and in_chans == 1:
        arr = arr[..., None]
    if arr.shape != (size, size, in_chans):
        raise ImageError(f"image shape is {arr.shape}, expected ({size}, {size}, {in_chans}) HWC")
    return arr
