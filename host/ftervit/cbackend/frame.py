"""Camera frames through the C kernel (native_module/ftv_frame.c), shaped like
ftervit.reference.frame.frame_to_image.

The frame's bytes go to C unchecked in length, so the kernel's own checks
answer; a non-zero return raises FrameError with the kernel's text.
"""
import numpy as np

from ..reference.frame import FrameError, format_code
from .build import load_extension
from .checks import int_value

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_VARIANTS = {"default": "ftv_frame_to_image", "fast": "ftv_frame_to_image_fast",
             "ref": "ftv_frame_to_image_ref"}


def _frame_buffer(frame) -> np.ndarray:
    if isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8:
            raise TypeError(f"frame: expected bytes (uint8), found dtype {frame.dtype}")
        return np.ascontiguousarray(frame.reshape(-1))
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return np.frombuffer(frame, dtype=np.uint8)
    raise TypeError(f"frame: expected bytes, found {type(frame).__name__}")


def frame_bytes(fmt: int, width: int, height: int) -> int:
    """ftv_frame_bytes: the frame's length in bytes, 0 for an invalid description."""
    lib = load_extension().lib
    return int(lib.ftv_frame_bytes(int_value(fmt, "fmt", INT32_MIN, INT32_MAX),
                                   int_value(width, "width", INT32_MIN, INT32_MAX),
                                   int_value(height, "height", INT32_MIN, INT32_MAX)))


def frame_to_image(frame, width: int, height: int, fmt, img_size: int, in_chans: int,
                   impl: str = "default") -> np.ndarray:
    """uint8 [img_size, img_size, in_chans] from the C kernel (impl: default, fast, ref).

    fmt is a format name ('RGB565') or code; an int code is passed to C as it is."""
    if impl not in _VARIANTS:
        raise ValueError(f"impl: expected one of {tuple(_VARIANTS)}, found {impl!r}")
    code = fmt if isinstance(fmt, (int, np.integer)) else format_code(fmt)
    code = int_value(code, "fmt", INT32_MIN, INT32_MAX)
    width = int_value(width, "width", INT32_MIN, INT32_MAX)
    height = int_value(height, "height", INT32_MIN, INT32_MAX)
    img_size = int_value(img_size, "img_size", 0, 1 << 16)
    in_chans = int_value(in_chans, "in_chans", INT32_MIN, INT32_MAX)
    data = _frame_buffer(frame)
    out = np.zeros((img_size, img_size, max(in_chans, 1)), np.uint8)
    m = load_extension()
    fn = getattr(m.lib, _VARIANTS[impl])
    src = m.ffi.from_buffer("uint8_t[]", data) if data.size else m.ffi.new("uint8_t[1]")
    dst = m.ffi.from_buffer("uint8_t[]", out) if out.size else m.ffi.new("uint8_t[1]")
    rc = fn(src, data.size, width, height, code, dst, img_size, in_chans)
    if rc != 0:
        raise FrameError(f"frame {width}x{height} format {code}, {data.size} bytes, to "
                         f"{img_size}x{img_size}x{in_chans}: "
                         f"{m.ffi.string(m.lib.ftv_frame_strerror(rc)).decode()} (code {rc})")
    return out
