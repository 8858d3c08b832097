"""A `.ftv` file's bytes bound by the C binder (native_module/ftv_bind.c).

`bind_file` hands the bytes to ftv_bind, which checks them in the reader's order
(docs/format.md section 9) and points an ftv_model_t into them.  A refusal becomes
the error the Python reader gives for the same file: `bind_field` names the field
the reader's message starts with, for each return code and error_index.
"""
from typing import Tuple

import numpy as np

from ..ftv.errors import FtvFormatError

# return codes -> the field that starts the reader's message (FTV_BIND_ERR_<name>)
_FIXED_FIELDS = {
    "SHORT": "file_size", "TRUNCATED": "file_size", "TRAILING": "file_size",
    "MAGIC": "magic", "VERSION_NEWER": "format_version", "VERSION": "format_version",
    "CONFIG_COUNT": "config_count", "TABLE_PAST_END": "tensor_count",
    "TENSOR_COUNT": "tensor_count", "HEAD_CRC": "head_crc32", "PAYLOAD_CRC": "payload_crc32",
    "LABELS_UTF8": "labels", "LABELS_COUNT": "labels",
    "GOLDEN_SHORT": "golden_length", "GOLDEN_LENGTH": "golden_length",
    "GOLDEN_KIND": "golden.input_kind", "GOLDEN_LOGITS": "golden.num_logits",
    "GOLDEN_INPUT": "golden.input_length", "GOLDEN_SEED": "golden.seed",
    "GEOMETRY": "geometry",
}
_CONFIG_CODES = ("CONFIG_RANGE", "CONFIG_DIVISOR", "ARITH_VERSION", "RESIDUAL_FRAC", "DEPTH")
_ENTRY_FIELDS = {"DTYPE": "dtype", "SHAPE": "shape", "FRAC_BITS": "frac_bits",
                 "LENGTH": "length"}
_PLACEMENT = ("MISALIGNED", "OVERLAP", "PAST_END", "PADDING")
_TERNARY = {"TERN_CODE": "invalid ternary code", "TERN_PADDING": "padding weights"}
# Well-formed files this runtime cannot run (checked after every format check).
RUNTIME_CODES = ("ARITH_VERSION", "RESIDUAL_FRAC", "DEPTH", "GEOMETRY")
_DEPTH_AT = 40 + 4 * 5      # config field 5 (depth), for naming a tensor


def code_name(lib, code: int) -> str:
    """FTV_BIND_ERR_<name> -> name ('' if no such code)."""
    for attr in dir(lib):
        if attr.startswith("FTV_BIND_ERR_") and getattr(lib, attr) == code:
            return attr[len("FTV_BIND_ERR_"):]
    return ""


def _depth(data) -> int:
    if len(data) < _DEPTH_AT + 4:
        return 0
    return int.from_bytes(bytes(data[_DEPTH_AT:_DEPTH_AT + 4]), "little", signed=True)


def bind_field(module, code: int, index: int, data) -> str:
    """The field the Python reader names first for the file ftv_bind refused with
    (code, index): 'config.num_heads', "tensor 'head.bias': length", 'labels_offset'..."""
    ffi, lib = module.ffi, module.lib
    name = code_name(lib, code)
    if name in _FIXED_FIELDS:
        return _FIXED_FIELDS[name]
    if name in _CONFIG_CODES:
        return "config." + ffi.string(lib.ftv_bind_config_name(index)).decode()
    section = {lib.FTV_BIND_AT_LABELS: "labels", lib.FTV_BIND_AT_GOLDEN: "golden"}.get(index)
    if name == "SECTION_LENGTH":
        return f"{section}_length"
    if name in _PLACEMENT and section:
        return f"{section}_offset"
    if name == "NAME":
        return f"tensor table entry {index}: name"
    tensor = ffi.new("char[]", lib.FTV_BIND_NAME_BYTES + 1)
    lib.ftv_bind_tensor_name(tensor, index, _depth(data))
    tensor = ffi.string(tensor).decode()
    if name in _ENTRY_FIELDS:
        return f"tensor {tensor!r}: {_ENTRY_FIELDS[name]}"
    if name in _PLACEMENT:
        return f"tensor {tensor!r}: offset"
    if name in _TERNARY:
        return f"{tensor}: {_TERNARY[name]}"
    return "model"


def aligned_bytes(data) -> np.ndarray:
    """The file as a read-only uint8 array at an address that is a multiple of 16 (the
    binder needs 4; int32 tensors are used in place), without a copy when it already is."""
    buf = np.frombuffer(data, np.uint8)
    if buf.ctypes.data % 16:
        raw = np.empty(buf.size + 16, np.uint8)
        start = -raw.ctypes.data % 16
        raw[start:start + buf.size] = buf
        buf = raw[start:start + buf.size]
    buf.flags.writeable = False
    return buf


def bind_file(module, buf: np.ndarray, flags: int) -> Tuple[int, object]:
    """(return code, ftv_bound_t *) of ftv_bind over the bytes of `buf`."""
    ffi, lib = module.ffi, module.lib
    bound = ffi.new("ftv_bound_t *")
    rc = lib.ftv_bind(bound, ffi.cast("const uint8_t *", buf.ctypes.data), buf.size, flags)
    return rc, bound


def refusal(module, code: int, index: int, data, implemented: int, found: dict) -> Exception:
    """The exception for a file ftv_bind refused: the reader's FtvFormatError (its exact
    message) for a malformed file, a ValueError naming the config field for one this
    runtime cannot run.  `found`: the file's config values by name, for the message."""
    ffi, lib = module.ffi, module.lib
    name = code_name(lib, code)
    field = bind_field(module, code, index, data)
    if name == "ARITH_VERSION":
        return ValueError(f"{field}: the C runtime implements arithmetic version "
                          f"{implemented}, found {found.get('arith_version')}")
    if name == "RESIDUAL_FRAC":
        return ValueError(f"{field}: the C runtime implements x12 activations (12), found "
                          f"{found.get('residual_frac_bits')}")
    if name == "DEPTH":
        return ValueError(f"{field}: the C runtime binds at most {lib.FTV_BIND_MAX_DEPTH} "
                          f"encoder blocks, found {found.get('depth')}")
    text = ffi.string(lib.ftv_bind_strerror(code)).decode()
    if name == "GEOMETRY":
        return ValueError(f"{text} ({found})")
    from ..ftv.reader import read_ftv
    try:
        read_ftv(bytes(data))
    except FtvFormatError as exc:
        return exc
    return FtvFormatError(f"{field}: {text}")
