"""Images in, uint8 HWC arrays out: what the integer runtimes take.

By default an image must already have the model's size and colour mode, so a
mismatch is reported rather than silently changed; `fit=True` centre-crops to
a square, resizes and converts the mode (what the device does with camera
frames).
"""
from pathlib import Path

import numpy as np

MODES = {1: "L", 3: "RGB"}


class ImageError(ValueError):
    """The image cannot be given to the model: the message says what was expected."""


def open_image(path):
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc}); for a raw camera frame "
                         "pass --frame WIDTHxHEIGHT:FORMAT") from None
    return img


def fit_image(img, size: int, in_chans: int):
    """Centre-crop to a square, resize to size×size (bilinear), convert to L or RGB."""
    from PIL import Image
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.convert(MODES[in_chans]).crop((left, top, left + side, top + side))
    return img.resize((size, size), Image.BILINEAR)


def load_image(path, size: int, in_chans: int, fit: bool = False) -> np.ndarray:
    """uint8 [size, size, in_chans] from an image file (PNG, JPEG, ... via Pillow)."""
    img = open_image(path)
    if fit:
        img = fit_image(img, size, in_chans)
    want = MODES[in_chans]
    if img.mode != want:
        raise ImageError(f"{path}: image mode is {img.mode}, the model takes {want} "
                         f"({in_chans} channel{'s' if in_chans > 1 else ''}); pass --fit to convert")
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
