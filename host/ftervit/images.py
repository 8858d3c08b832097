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
        raise ImageError(f"{path}: not a readable image, expected PNG, JPEG, ... "
                         f"({exc})") from None
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
