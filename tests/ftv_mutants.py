"""Small `.ftv` files with random tensors, and mutants of them for the binder tests.

Mutants: bit flips (with and without the CRCs made right again), truncations and
extensions, overwrites of header, config, tensor-table, labels and golden fields with
boundary and random values, and overwrites of tensor bytes.  Most get their CRCs
recomputed, so the walk goes past the checksums to the checks behind them.
"""
import binascii
import struct

import numpy as np

from ftervit.deploy_plan import Geometry, plan_tensors
from ftervit.ftv import encode_ftv
from ftervit.ftv.golden import Golden

HEADER_FIELDS = [(4, "<H"), (6, "<H"), (8, "<I"), (12, "<I"), (16, "<I"), (20, "<I"),
                 (24, "<I"), (28, "<I")]
ENTRY_FIELDS = [(40, "<B"), (41, "<B"), (42, "<h"), (44, "<I"), (48, "<I"), (52, "<I"),
                (56, "<I"), (60, "<I")]
SMALL = {"<B": (0, 255), "<H": (0, 65535), "<h": (-32768, 32767),
         "<I": (0, 2 ** 32 - 1), "<i": (-2 ** 31, 2 ** 31 - 1)}


def _tensors(geometry, rng):
    out = {}
    for t in plan_tensors(geometry):
        if t.kind == "tern":
            out[t.name] = rng.integers(-1, 2, t.shape)
        elif t.kind == "q16":
            out[t.name] = (rng.integers(-3000, 3000, t.shape), int(rng.integers(0, 15)))
        elif t.kind == "mult":
            mant = rng.integers(1 << 14, 1 << 15, t.shape)
            out[t.name] = (mant << 8) | rng.integers(10, 30, t.shape)
        else:
            out[t.name] = rng.integers(-127, 128, t.shape)
    return out


def base_files():
    """Two files covering both layouts, both golden kinds, labels or none, class-token
    position rows or none, LayerScale or none, rows that end in padding weights."""
    rng = np.random.default_rng(12)
    a = Geometry(img_size=8, patch_size=4, in_chans=3, embed_dim=6, depth=2, num_heads=3,
                 mlp_dim=13, num_classes=3, cls_pos=True, layerscale=False)
    b = Geometry(img_size=8, patch_size=2, in_chans=1, embed_dim=10, depth=1, num_heads=2,
                 mlp_dim=7, num_classes=5, cls_pos=False, layerscale=True)
    mult = (16978 << 8) | 28
    file_a = encode_ftv(a, "tern3", mult, 12, _tensors(a, rng), labels=["cat", "dög", "bird"],
                        golden=Golden(logits=rng.integers(-9999, 9999, 3),
                                      image=rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)))
    file_b = encode_ftv(b, "tern2", mult, 12, _tensors(b, rng),
                        golden=Golden(logits=rng.integers(-9999, 9999, 5), seed=0x12345678))
    return [file_a, file_b]


def fix_crcs(data: bytearray) -> bytearray:
    """Recompute payload_crc32 then head_crc32 for the head the header now describes."""
    if len(data) < 40:
        return data
    cc, tc = struct.unpack_from("<HI", data, 6)
    head_end = 40 + 4 * cc + 64 * tc
    if head_end > len(data):
        return data
    struct.pack_into("<I", data, 32, binascii.crc32(data[head_end:]))
    crc = binascii.crc32(data[40:head_end], binascii.crc32(data[:36]))
    struct.pack_into("<I", data, 36, crc)
    return data


def _value(rng, old, fmt, file_len):
    low, high = SMALL[fmt]
    choices = [0, 1, 2, 3, 15, 16, 17, low, high, old - 1, old + 1, old + 16, old - 16,
               old * 2, old // 2, file_len, file_len - 1, file_len + 16, 255, 256, 4096,
               int(rng.integers(low, high, endpoint=True))]
    return int(np.clip(choices[int(rng.integers(len(choices)))], low, high))


def _overwrite(data, rng, at, fmt):
    if at + struct.calcsize(fmt) > len(data):   # an earlier mutation moved the field away
        return
    (old,) = struct.unpack_from(fmt, data, at)
    struct.pack_into(fmt, data, at, _value(rng, old, fmt, len(data)))


def _table(data):
    """config_count and tensor_count, as the base file has them (a mutation may have
    changed the header's)."""
    return 14, (len(data) and struct.unpack_from("<I", data, 8)[0])


def _field_mutant(data, rng, cc, tc):
    where = rng.integers(5)
    if where == 0:
        at, fmt = HEADER_FIELDS[int(rng.integers(len(HEADER_FIELDS)))]
    elif where == 1:
        at, fmt = 40 + 4 * int(rng.integers(cc)), "<i"
    elif where <= 3:
        entry = 40 + 4 * cc + 64 * int(rng.integers(tc))
        if entry + 64 > len(data):
            return data
        if rng.random() < 0.15:
            data[entry + int(rng.integers(40))] = int(rng.integers(256))     # a name byte
            return data
        off, fmt = ENTRY_FIELDS[int(rng.integers(len(ENTRY_FIELDS)))]
        at = entry + off
    else:                                   # the sections' bytes: labels text, golden header
        key = 16 if rng.random() < 0.5 else 24
        offset, length = struct.unpack_from("<II", data, key)
        if offset == 0 or length == 0 or offset + 16 > len(data):
            return data
        at = offset + int(rng.integers(min(length, 16)))
        if key == 16:
            data[at] = int(rng.choice([0x0A, 0xC3, 0xED, 0xF4, 0xFF, 0x80, 0xE0, 0x41]))
            return data
        at, fmt = offset + 4 * int(rng.integers(4)), "<I"
    _overwrite(data, rng, at, fmt)
    return data


def _tensor_byte_mutant(data, rng, cc, tc):
    entry = 40 + 4 * cc + 64 * int(rng.integers(tc))
    offset, length = struct.unpack_from("<II", data, entry + 56)
    if length and offset + length <= len(data):
        data[offset + int(rng.integers(length))] = int(rng.integers(256))
    return data


def mutant(data: bytes, rng) -> bytes:
    """One random mutant of `data`."""
    m = bytearray(data)
    kind = rng.random()
    if kind < 0.12:                         # bit flips, CRCs left wrong
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(m)))
            m[i] ^= 1 << int(rng.integers(8))
        return bytes(m)
    if kind < 0.30:                         # bit flips, CRCs made right
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(m)))
            m[i] ^= 1 << int(rng.integers(8))
        return bytes(fix_crcs(m))
    if kind < 0.40:                         # truncated or extended, file_size patched or not
        n = int(rng.integers(0, len(m) + 40))
        m = m[:n] if n <= len(m) else m + bytes(rng.integers(0, 2, n - len(m), dtype=np.uint8))
        if len(m) >= 16 and rng.random() < 0.6:
            struct.pack_into("<I", m, 12, len(m))
            fix_crcs(m)
        return bytes(m)
    if kind < 0.85:                         # a field overwritten, CRCs made right
        for _ in range(int(rng.integers(1, 3))):
            _field_mutant(m, rng, *_table(data))
        return bytes(fix_crcs(m))
    return bytes(fix_crcs(_tensor_byte_mutant(m, rng, *_table(data))))


def mutants(count: int, seed: int):
    """(base file index, mutant bytes), `count` of them, over every base file."""
    rng = np.random.default_rng(seed)
    files = base_files()
    for i in range(count):
        k = i % len(files)
        yield k, mutant(files[k], rng)
