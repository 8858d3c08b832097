"""Write a `.ftv` model file (docs/format.md) from integer tensors."""
import binascii
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ..deploy_plan import Geometry, plan_tensors
from .config import config_values
from .errors import FtvFormatError
from .golden import Golden, encode_golden
from .spec import (CONFIG, CONFIG_FIELDS, DTYPE_I8, DTYPE_I16, DTYPE_I32, FORMAT_VERSION,
                   FRAC_BITS_MAX, FRAC_BITS_MIN, HEAD_CRC_OFFSET, HEADER, KIND_DTYPE, MAGIC,
                   MAX_NDIM, NAME_BYTES, TABLE_ENTRY, head_size, padded)
from .ternary_pack import layout_code, pack_ternary, unpack_ternary

DEFAULT_ARITH_VERSION = 1
_RANGE = {DTYPE_I8: (-2 ** 7, 2 ** 7 - 1), DTYPE_I16: (-2 ** 15, 2 ** 15 - 1),
          DTYPE_I32: (-2 ** 31, 2 ** 31 - 1)}
_UINT32_MAX = 2 ** 32 - 1


@dataclass(frozen=True)
class Q16:
    """An int16 fixed-point tensor: real = values * 2**-frac_bits."""
    values: np.ndarray
    frac_bits: int


@dataclass(frozen=True)
class Packed:
    """A ternary tensor already in the file's layout: rows of ceil(cols / 4) (tern2) or
    ceil(cols / 5) (tern3) bytes, as a read file stores it (TensorRecord.raw)."""
    data: bytes


def encode_ftv(geometry: Geometry, layout, attn_logit_mult: int, residual_frac_bits: int,
               tensors: Mapping[str, object], labels: Optional[Sequence[str]] = None,
               golden: Optional[Golden] = None,
               arith_version: int = DEFAULT_ARITH_VERSION) -> bytes:
    """The bytes of a `.ftv` file.  `tensors` maps every planned name to: an integer
    matrix of -1/0/1 (tern), `Q16` or `(values, frac_bits)` (q16), int32 values (mult),
    int8 values (i8); a tern tensor may also be `Packed` bytes of the file's layout.
    Raises FtvFormatError naming what does not fit the plan."""
    code = layout_code(layout)
    config = config_values(geometry, code, attn_logit_mult, residual_frac_bits, arith_version)
    plan = plan_tensors(geometry)
    _check_names(plan, tensors)

    head_end = head_size(len(CONFIG_FIELDS), len(plan))
    payload, entries, cursor = [], [], head_end
    for t in plan:
        data, dtype, frac_bits = _encode_tensor(t, tensors[t.name], code)
        offset = padded(cursor)
        payload += [bytes(offset - cursor), data]
        entries.append(_table_entry(t.name, dtype, t.shape, frac_bits, offset, len(data)))
        cursor = offset + len(data)

    sections = {}
    for key, blob in (("labels", _encode_labels(labels, geometry.num_classes)),
                      ("golden", None if golden is None else encode_golden(
                          golden, geometry.img_size, geometry.in_chans, geometry.num_classes))):
        if blob is None:
            sections[key] = (0, 0)
            continue
        offset = padded(cursor)
        payload += [bytes(offset - cursor), blob]
        sections[key] = (offset, len(blob))
        cursor = offset + len(blob)

    if cursor > _UINT32_MAX:
        raise FtvFormatError(f"file_size: expected at most {_UINT32_MAX} bytes, found {cursor}")
    payload = b"".join(payload)
    body = CONFIG.pack(*config.values()) + b"".join(entries)
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(CONFIG_FIELDS), len(plan), cursor,
                         *sections["labels"], *sections["golden"],
                         binascii.crc32(payload), 0)
    head_crc = binascii.crc32(body, binascii.crc32(header[:HEAD_CRC_OFFSET]))
    header = header[:HEAD_CRC_OFFSET] + head_crc.to_bytes(4, "little")
    return header + body + payload


def write_ftv(path, geometry: Geometry, layout, attn_logit_mult: int, residual_frac_bits: int,
              tensors: Mapping[str, object], labels: Optional[Sequence[str]] = None,
              golden: Optional[Golden] = None,
              arith_version: int = DEFAULT_ARITH_VERSION) -> int:
    """Encode (see `encode_ftv`) and write atomically: a temporary file in the same
    folder, renamed over `path` once complete.  Returns the file size."""
    from ..files import check_output_path, write_bytes_atomic
    check_output_path(path)  # a bad destination fails before the encoding work
    data = encode_ftv(geometry, layout, attn_logit_mult, residual_frac_bits, tensors,
                      labels=labels, golden=golden, arith_version=arith_version)
    write_bytes_atomic(path, data)
    return len(data)


def _check_names(plan, tensors: Mapping[str, object]) -> None:
    names = [t.name for t in plan]
    missing = [n for n in names if n not in tensors]
    if missing:
        raise FtvFormatError(f"tensors: missing {len(missing)} planned tensor(s): "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    extra = sorted(set(tensors) - set(names))
    if extra:
        raise FtvFormatError(f"tensors: {len(extra)} not in the plan for this geometry: "
                             f"{', '.join(map(str, extra[:5]))}{' ...' if len(extra) > 5 else ''}")


def _encode_tensor(t, value, layout: int):
    """(bytes, dtype code, frac_bits) of one planned tensor."""
    frac_bits = 0
    if t.kind == "q16":
        if isinstance(value, Q16):
            value, frac_bits = value.values, value.frac_bits
        elif isinstance(value, tuple) and len(value) == 2:
            value, frac_bits = value
        else:
            raise FtvFormatError(f"{t.name}: expected Q16(values, frac_bits) or "
                                 f"(values, frac_bits), found {type(value).__name__}")
        if not isinstance(frac_bits, (int, np.integer)) or not (
                FRAC_BITS_MIN <= frac_bits <= FRAC_BITS_MAX):
            raise FtvFormatError(f"{t.name}.frac_bits: expected an int in "
                                 f"{FRAC_BITS_MIN}..{FRAC_BITS_MAX}, found {frac_bits!r}")
    if t.kind == "tern" and isinstance(value, Packed):
        rows, cols = t.shape
        unpack_ternary(value.data, rows, cols, layout, t.name)  # length, codes and padding
        return bytes(value.data), layout, 0
    a = np.asarray(value)
    if a.shape != t.shape:
        raise FtvFormatError(f"{t.name}: expected shape {t.shape}, found {a.shape}")
    if t.kind == "tern":
        return pack_ternary(a, layout, t.name), layout, 0
    dtype = KIND_DTYPE[t.kind]
    if a.dtype.kind not in "iub":
        raise FtvFormatError(f"{t.name}: expected integer values, found dtype {a.dtype}")
    low, high = _RANGE[dtype]
    if a.size and (a.min() < low or a.max() > high):
        raise FtvFormatError(f"{t.name}: expected values in {low}..{high}, found range "
                             f"[{a.min()}, {a.max()}]")
    return a.astype({DTYPE_I8: "<i1", DTYPE_I16: "<i2", DTYPE_I32: "<i4"}[dtype]).tobytes(), \
        dtype, int(frac_bits)


def _table_entry(name: str, dtype: int, shape, frac_bits: int, offset: int, length: int) -> bytes:
    raw = name.encode("utf-8")
    if not raw or len(raw) > NAME_BYTES or b"\0" in raw:
        raise FtvFormatError(f"tensor name {name!r}: expected 1..{NAME_BYTES} UTF-8 bytes "
                             "without NUL")
    if len(shape) > MAX_NDIM or any(not 0 < d <= _UINT32_MAX for d in shape):
        raise FtvFormatError(f"{name}: shape {shape} does not fit the tensor table "
                             f"(at most {MAX_NDIM} dims of 1..{_UINT32_MAX})")
    if offset + length > _UINT32_MAX:
        raise FtvFormatError(f"file_size: expected at most {_UINT32_MAX} bytes, found more "
                             f"(at tensor {name})")
    dims = list(shape) + [0] * (MAX_NDIM - len(shape))
    return TABLE_ENTRY.pack(raw, dtype, len(shape), frac_bits, *dims, offset, length)


def _encode_labels(labels: Optional[Sequence[str]], num_classes: int) -> Optional[bytes]:
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) != num_classes:
        raise FtvFormatError(f"labels: expected num_classes = {num_classes} labels, "
                             f"found {len(labels)}")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or "\n" in label:
            raise FtvFormatError(f"labels[{i}]: expected a str without newline, found {label!r}")
    try:
        return "\n".join(labels).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FtvFormatError(f"labels: expected text UTF-8 can encode ({exc.reason})") from None
