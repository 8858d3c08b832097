"""Read and check a `.ftv` model file (docs/format.md).

Every check raises FtvFormatError naming the field, section or tensor; the
order follows the document: header, CRCs, config, tensor table against the
deploy plan, labels, golden vector, ternary codes.
"""
import binascii
import os
from typing import Union

from ..deploy_plan import plan_tensors
from ..files import expect_ftv
from .config import check_config, geometry_of
from .errors import FtvFormatError
from .golden import decode_golden
from .model import FtvModel, TensorRecord
from .spec import (ALIGN, CONFIG_FIELDS, DTYPE_NAMES, ELEMENT_BYTES, FORMAT_VERSION,
                   FRAC_BITS_MAX, FRAC_BITS_MIN, HEAD_CRC_OFFSET, HEADER, HEADER_FIELDS,
                   KIND_DTYPE, MAGIC, MAX_NDIM, NAME_BYTES, TABLE_ENTRY, WEIGHTS_PER_BYTE,
                   head_size)

Source = Union[str, os.PathLike, bytes, bytearray, memoryview]


def read_ftv(source: Source, check_codes: bool = True) -> FtvModel:
    """Parse and check a model file given as a path or its bytes.

    A path that is missing, a folder, empty or a checkpoint raises FileNotFoundError or
    InputFileError; errors of the file's contents are prefixed with the path.
    `check_codes` decodes every ternary tensor once to reject invalid codes and
    non-zero padding weights (a few ms per MB).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(bytes(source), check_codes)
    path = expect_ftv(source)  # missing, folder, empty, a checkpoint: one error naming it
    with open(path, "rb") as f:
        data = f.read()
    try:
        model = _parse(data, check_codes)
    except FtvFormatError as exc:  # say which file: a command may read two
        raise type(exc)(f"{path}: {exc}") from None
    model.source = str(path)
    return model


def _parse(data: bytes, check_codes: bool) -> FtvModel:
    header = _read_header(data)
    config_end = HEADER.size + 4 * header["config_count"]
    head_end = head_size(header["config_count"], header["tensor_count"])
    _check_crc("head_crc32", "header, config or tensor table", header["head_crc32"],
               binascii.crc32(data[HEAD_CRC_OFFSET + 4:head_end],
                              binascii.crc32(data[:HEAD_CRC_OFFSET])))
    _check_crc("payload_crc32", "tensor data, labels or golden vector",
               header["payload_crc32"], binascii.crc32(memoryview(data)[head_end:]))

    values = [int.from_bytes(data[i:i + 4], "little", signed=True)
              for i in range(HEADER.size, config_end, 4)]
    config = check_config(values)
    geometry = geometry_of(config)
    layout = config["layout"]

    plan = plan_tensors(geometry)
    if header["tensor_count"] != len(plan):
        raise FtvFormatError(f"tensor_count: expected {len(plan)} tensors for this config "
                             f"(depth {geometry.depth}), found {header['tensor_count']}")
    tensors, end, last = {}, head_end, "the tensor table"
    for index, planned in enumerate(plan):
        record = _read_entry(data, config_end + index * TABLE_ENTRY.size, index, planned,
                             layout, end, last)
        tensors[record.name] = record
        end, last = record.offset + record.length, f"tensor {record.name!r}"

    labels, golden = None, None
    for key in ("labels", "golden"):
        offset, length = header[f"{key}_offset"], header[f"{key}_length"]
        if offset == 0:
            if length:
                raise FtvFormatError(f"{key}_length: expected 0 when {key}_offset is 0 "
                                     f"(no {key}), found {length}")
            continue
        _check_placement(f"{key}_offset", f"{key} section", offset, length, end, last, data)
        section = data[offset:offset + length]
        end, last = offset + length, f"the {key} section"
        if key == "labels":
            labels = _decode_labels(section, geometry.num_classes)
        else:
            golden = decode_golden(section, geometry.img_size, geometry.in_chans,
                                   geometry.num_classes)

    if check_codes:
        for record in tensors.values():
            if record.kind == "tern":
                record.values()
    return FtvModel(format_version=header["format_version"], config=config, geometry=geometry,
                    layout=DTYPE_NAMES[layout], tensors=tensors, labels=labels, golden=golden,
                    file_size=len(data))


def _read_header(data: bytes) -> dict:
    if len(data) < HEADER.size:
        raise FtvFormatError(f"file_size: truncated: expected at least the {HEADER.size}-byte "
                             f"header, found {len(data)} bytes")
    header = dict(zip(HEADER_FIELDS, HEADER.unpack_from(data)))
    if header["magic"] != MAGIC:
        raise FtvFormatError(f"magic: expected {MAGIC!r} (not an .ftv model file?), "
                             f"found {header['magic']!r}")
    version = header["format_version"]
    if version > FORMAT_VERSION:
        raise FtvFormatError(f"format_version: file is version {version}, this reader "
                             f"supports up to {FORMAT_VERSION}: update ftervit")
    if version != FORMAT_VERSION:
        raise FtvFormatError(f"format_version: expected {FORMAT_VERSION}, found {version}")
    if header["config_count"] != len(CONFIG_FIELDS):
        raise FtvFormatError(f"config_count: expected {len(CONFIG_FIELDS)} for format version "
                             f"{version}, found {header['config_count']}")
    if header["file_size"] != len(data):
        what = "truncated" if len(data) < header["file_size"] else "trailing bytes"
        raise FtvFormatError(f"file_size: {what}: header says {header['file_size']} bytes, "
                             f"found {len(data)}")
    head_end = head_size(header["config_count"], header["tensor_count"])
    if head_end > len(data):
        raise FtvFormatError(f"tensor_count: a table of {header['tensor_count']} entries ends "
                             f"at byte {head_end}, past the end of the {len(data)}-byte file")
    return header


def _check_crc(field: str, what: str, stored: int, computed: int) -> None:
    if stored != computed:
        raise FtvFormatError(f"{field}: CRC mismatch ({what} corrupt): stored "
                             f"0x{stored:08x}, computed 0x{computed:08x}")


def _read_entry(data, at, index, planned, layout, prev_end, prev_name) -> TensorRecord:
    raw_name, dtype, ndim, frac_bits, *rest = TABLE_ENTRY.unpack_from(data, at)
    dims, offset, length = rest[:MAX_NDIM], rest[MAX_NDIM], rest[MAX_NDIM + 1]
    where = f"tensor table entry {index}"
    name_bytes = raw_name.rstrip(b"\0")
    try:
        if b"\0" in name_bytes:
            raise UnicodeDecodeError("utf-8", name_bytes, 0, 1, "NUL inside the name")
        name = name_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise FtvFormatError(f"{where}: name: expected NUL-padded UTF-8 of at most "
                             f"{NAME_BYTES} bytes, found {raw_name!r}") from None
    if name != planned.name:
        raise FtvFormatError(f"{where}: name: expected {planned.name!r} (deploy plan order), "
                             f"found {name!r}")
    where = f"tensor {name!r}"
    want_dtype = layout if planned.kind == "tern" else KIND_DTYPE[planned.kind]
    if dtype != want_dtype:
        raise FtvFormatError(f"{where}: dtype: expected {DTYPE_NAMES[want_dtype]} "
                             f"({want_dtype}), found "
                             f"{DTYPE_NAMES.get(dtype, 'unknown')} ({dtype})")
    shape = tuple(dims[:ndim]) if 0 < ndim <= MAX_NDIM else None
    if shape != planned.shape or any(dims[ndim:]):
        raise FtvFormatError(f"{where}: shape: expected {planned.shape} for this config, "
                             f"found ndim {ndim} dims {tuple(dims)}")
    if dtype == KIND_DTYPE["q16"]:
        if not FRAC_BITS_MIN <= frac_bits <= FRAC_BITS_MAX:
            raise FtvFormatError(f"{where}: frac_bits: expected {FRAC_BITS_MIN}.."
                                 f"{FRAC_BITS_MAX}, found {frac_bits}")
    elif frac_bits != 0:
        raise FtvFormatError(f"{where}: frac_bits: expected 0 for {DTYPE_NAMES[dtype]}, "
                             f"found {frac_bits}")
    if dtype in WEIGHTS_PER_BYTE:
        rows, cols = shape
        want_length = rows * -(-cols // WEIGHTS_PER_BYTE[dtype])
    else:
        want_length = ELEMENT_BYTES[dtype]
        for d in shape:
            want_length *= d
    if length != want_length:
        raise FtvFormatError(f"{where}: length: expected {want_length} bytes for "
                             f"{DTYPE_NAMES[dtype]} {shape}, found {length}")
    _check_placement(f"{where}: offset", where, offset, length, prev_end, prev_name, data)
    return TensorRecord(name=name, kind=planned.kind, group=planned.group, dtype=dtype,
                        shape=shape, frac_bits=frac_bits, offset=offset, length=length,
                        raw=data[offset:offset + length])


def _check_placement(field, what, offset, length, prev_end, prev_name, data) -> None:
    """Aligned, after everything before it (no overlap, file order), inside the file,
    zero bytes in between."""
    if offset % ALIGN:
        raise FtvFormatError(f"{field}: expected a multiple of {ALIGN}, found {offset}")
    if offset < prev_end:
        raise FtvFormatError(f"{field}: {what} at byte {offset} overlaps {prev_name} "
                             f"(which ends at byte {prev_end}); expected offset >= {prev_end}")
    if offset + length > len(data):
        raise FtvFormatError(f"{field}: {what} (bytes {offset}..{offset + length}) runs past "
                             f"the end of the {len(data)}-byte file")
    gap = data[prev_end:offset]
    if gap.count(0) != len(gap):
        raise FtvFormatError(f"{field}: expected zero padding in bytes {prev_end}..{offset} "
                             f"before {what}, found nonzero bytes")


def _decode_labels(section: bytes, num_classes: int):
    try:
        text = section.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FtvFormatError(f"labels: expected UTF-8 text, found invalid byte at "
                             f"offset {exc.start}") from None
    labels = text.split("\n")
    if len(labels) != num_classes:
        raise FtvFormatError(f"labels: expected num_classes = {num_classes} labels, found "
                             f"{len(labels)}")
    return labels
