"""Pack and unpack ternary matrices in the two `.ftv` layouts.

Both store code c = w + 1 in {0, 1, 2}, rows one after another without padding
between them, weights past `cols` in a row's last byte as code 1 (w = 0).

* tern2: 4 codes a byte, row stride ceil(cols / 4);
  byte j = c[4j] | c[4j+1] << 2 | c[4j+2] << 4 | c[4j+3] << 6 (code 3 is invalid).
* tern3: 5 codes a byte, row stride ceil(cols / 5);
  byte j = sum_i c[5j+i] * 3**i, 0..242 (243..255 are invalid).
"""
import numpy as np

from .errors import FtvFormatError
from .spec import DTYPE_TERN2, DTYPE_TERN3, LAYOUTS

_PER_BYTE = {DTYPE_TERN2: 4, DTYPE_TERN3: 5}
_PLACE = {DTYPE_TERN2: np.array([1, 4, 16, 64], np.uint16),
          DTYPE_TERN3: np.array([1, 3, 9, 27, 81], np.uint16)}


def _decode_table(layout: int) -> np.ndarray:
    """[256, k] int8 codes of every byte value; -1 marks an invalid code."""
    k = _PER_BYTE[layout]
    b = np.arange(256)[:, None]
    if layout == DTYPE_TERN2:
        codes = (b >> (2 * np.arange(k))) & 3
        codes[codes == 3] = -1
    else:
        codes = (b // 3 ** np.arange(k)) % 3
        codes[243:] = -1
    return codes.astype(np.int8)


_TABLES = {layout: _decode_table(layout) for layout in _PER_BYTE}


def layout_code(layout) -> int:
    """2 / 3 from 'tern2' / 'tern3' or the number itself."""
    code = LAYOUTS.get(layout, layout)
    if code not in _PER_BYTE:
        raise FtvFormatError(f"layout: expected 'tern2' (2) or 'tern3' (3), found {layout!r}")
    return code


def row_stride(cols: int, layout) -> int:
    return -(-cols // _PER_BYTE[layout_code(layout)])


def packed_size(rows: int, cols: int, layout) -> int:
    return rows * row_stride(cols, layout)


def pack_ternary(matrix, layout, name: str = "matrix") -> bytes:
    """Pack an integer matrix with values in {-1, 0, 1} into `layout` bytes."""
    code = layout_code(layout)
    w = np.asarray(matrix)
    if w.ndim != 2:
        raise FtvFormatError(f"{name}: expected a 2-D ternary matrix, found shape {w.shape}")
    if w.dtype.kind not in "iub":
        raise FtvFormatError(f"{name}: expected integer ternary values, found dtype {w.dtype}")
    if w.size and (w.min() < -1 or w.max() > 1):
        raise FtvFormatError(f"{name}: expected values in {{-1, 0, 1}}, found "
                             f"range [{w.min()}, {w.max()}]")
    rows, cols = w.shape
    k = _PER_BYTE[code]
    stride = -(-cols // k)
    codes = np.ones((rows, stride * k), np.uint16)
    codes[:, :cols] = w.astype(np.int16) + 1
    packed = codes.reshape(rows, stride, k) @ _PLACE[code]
    return packed.astype(np.uint8).tobytes()


def unpack_ternary(data, rows: int, cols: int, layout, name: str = "matrix") -> np.ndarray:
    """Decode `layout` bytes into an int8 [rows, cols] matrix of -1/0/1.

    Raises FtvFormatError naming `name` on a wrong length, an invalid code or
    padding that is not code 1.
    """
    code = layout_code(layout)
    k = _PER_BYTE[code]
    stride = -(-cols // k)
    raw = np.frombuffer(data, np.uint8)
    if raw.size != rows * stride:
        raise FtvFormatError(f"{name}: expected {rows * stride} bytes for {rows}x{cols} "
                             f"{'tern2' if code == DTYPE_TERN2 else 'tern3'}, found {raw.size}")
    codes = _TABLES[code][raw].reshape(rows, stride * k)
    bad = codes < 0
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise FtvFormatError(f"{name}: invalid ternary code in byte {r * stride + c // k} "
                             f"(row {r}): byte value {raw[r * stride + c // k]} is not a "
                             f"valid {'tern2' if code == DTYPE_TERN2 else 'tern3'} byte")
    pad = codes[:, cols:]
    if pad.size and (pad != 1).any():
        r = int(np.nonzero((pad != 1).any(axis=1))[0][0])
        raise FtvFormatError(f"{name}: padding weights past column {cols} in row {r} must "
                             f"be code 1 (w = 0), found codes {pad[r].tolist()}")
    return (codes[:, :cols] - 1).astype(np.int8)
