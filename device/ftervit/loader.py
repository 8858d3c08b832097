"""Read a `.ftv` file into the one buffer the model runs from (docs/format.md §9).

The whole file goes into a single bytearray, read in place with readinto
(on SPIRAM boards a bytearray this large lands in PSRAM); the kernels use the
weights where they lie, so the weights exist exactly once.  The head is
checked before that buffer is allocated; both CRCs are computed chunk by
chunk as the bytes arrive, in the order the host reader checks them.
"""
import gc
import os

from .header import (HEAD_CRC_OFFSET, HEADER_BYTES, FormatError, check_crc, parse_config,
                     parse_header)

try:
    from binascii import crc32
except ImportError:     # a port without binascii.crc32: the native binder checks the CRCs
    crc32 = None

CHUNK = 16384           # bytes per readinto: small enough to keep the loop responsive


def file_length(path):
    try:
        return os.stat(path)[6]
    except OSError:
        raise OSError("model file %s: not found (copy it with: mpremote cp MODEL.ftv :%s)"
                      % (path, path))


def read_model(path):
    """(buffer, header dict, config dict, crc_checked) for the file at `path`."""
    length = file_length(path)
    with open(path, "rb") as f:
        header = parse_header(f.read(HEADER_BYTES), length)
        buf = _allocate(path, length)
        mv = memoryview(buf)
        f.seek(0)
        _read_exactly(f, mv, 0, header["head_end"], path)
        head_crc = _crc_of_head(mv, header["head_end"])
        if head_crc is not None:
            check_crc("head_crc32", "header, config or tensor table",
                      header["head_crc32"], head_crc)
        payload_crc = _read_payload(f, mv, header["head_end"], length, path)
    if payload_crc is not None:
        check_crc("payload_crc32", "tensor data, labels or golden vector",
                  header["payload_crc32"], payload_crc)
    return buf, header, parse_config(buf), crc32 is not None


def _allocate(path, length):
    gc.collect()
    try:
        return bytearray(length)
    except MemoryError:
        raise MemoryError("model file %s: its %d bytes do not fit in the heap "
                          "(gc.mem_free() = %d): a board with PSRAM, or a smaller model"
                          % (path, length, gc.mem_free()))


def _read_exactly(f, mv, start, end, path):
    while start < end:
        n = f.readinto(mv[start:min(end, start + CHUNK)])
        if not n:
            raise FormatError("file_size: truncated: %s ended at byte %d while being read"
                              % (path, start))
        start += n


def _crc_of_head(mv, head_end):
    if crc32 is None:
        return None
    return crc32(mv[HEAD_CRC_OFFSET + 4:head_end], crc32(mv[:HEAD_CRC_OFFSET]))


def _read_payload(f, mv, start, end, path):
    crc = 0
    while start < end:
        stop = min(end, start + CHUNK)
        _read_exactly(f, mv, start, stop, path)
        if crc32 is not None:
            crc = crc32(mv[start:stop], crc)
        start = stop
    return crc if crc32 is not None else None
