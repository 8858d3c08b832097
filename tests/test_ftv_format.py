"""The `.ftv` model file: writer and reader against each other and against bad input."""
import binascii
import os
import pathlib
import re
import struct

import numpy as np
import pytest

from ftervit.cli import main as cli_main
from ftervit.deploy_plan import Geometry, plan_tensors
from ftervit.ftv import (CONFIG_FIELDS, FtvFormatError, Golden, Q16, encode_ftv, pack_ternary,
                         read_ftv, unpack_ternary, write_ftv, xorshift32_bytes)
from ftervit.ftv.spec import (CONFIG, HEAD_CRC_OFFSET, HEADER, HEADER_FIELDS, TABLE_ENTRY,
                              head_size)

TINY = Geometry(img_size=12, patch_size=4, in_chans=3, embed_dim=6, depth=2, num_heads=3,
                mlp_dim=13, num_classes=7, cls_pos=True, layerscale=False)
GEOMETRIES = [
    TINY,
    Geometry(8, 8, 1, 5, 1, 1, 7, 3, False, True),             # one patch, odd dims
    Geometry(15, 5, 3, 12, 3, 4, 17, 11, True, True),
    Geometry(16, 4, 2, 9, 1, 3, 23, 1, False, False),           # one class
]
MULT = 3 << 8 | 7  # 3 * 2**-7


def random_tensors(geometry, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for t in plan_tensors(geometry):
        if t.kind == "tern":
            tensors[t.name] = rng.integers(-1, 2, t.shape).astype(np.int8)
        elif t.kind == "q16":
            tensors[t.name] = Q16(rng.integers(-2 ** 15, 2 ** 15, t.shape, dtype=np.int16),
                                  int(rng.integers(-32, 64)))
        elif t.kind == "mult":
            tensors[t.name] = rng.integers(-2 ** 31, 2 ** 31, t.shape, dtype=np.int64)
        else:
            tensors[t.name] = rng.integers(-128, 128, t.shape, dtype=np.int8)
    return tensors


def labels_for(geometry):
    return [f"class {i} é" for i in range(geometry.num_classes)]


def tiny_file(layout="tern3", labels=True, golden="seed"):
    gold = None
    if golden == "seed":
        gold = Golden(np.arange(TINY.num_classes) * 1000 - 3000, seed=0xC0FFEE)
    elif golden == "raw":
        img = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
        gold = Golden(np.arange(TINY.num_classes), image=img)
    return encode_ftv(TINY, layout, MULT, 10, random_tensors(TINY),
                      labels=labels_for(TINY) if labels else None, golden=gold)


def expected(value):
    return value.values if isinstance(value, Q16) else value


# -------------------------------------------------------------------- edits with CRC recomputed

def header_of(data):
    return dict(zip(HEADER_FIELDS, HEADER.unpack_from(data)))


def fix_crcs(data):
    """Recompute both CRCs, so an edit reaches the checks behind them."""
    data = bytearray(data)
    h = header_of(data)
    head_end = head_size(h["config_count"], h["tensor_count"])
    struct.pack_into("<I", data, 32, binascii.crc32(bytes(data[head_end:])))
    crc = binascii.crc32(bytes(data[HEAD_CRC_OFFSET + 4:head_end]),
                         binascii.crc32(bytes(data[:HEAD_CRC_OFFSET])))
    struct.pack_into("<I", data, HEAD_CRC_OFFSET, crc)
    return bytes(data)


def set_header(data, field, value):
    data = bytearray(data)
    values = list(HEADER.unpack_from(data))
    values[HEADER_FIELDS.index(field)] = value
    HEADER.pack_into(data, 0, *values)
    return fix_crcs(data)


def set_config(data, field, value):
    data = bytearray(data)
    index = [f.name for f in CONFIG_FIELDS].index(field)
    struct.pack_into("<i", data, HEADER.size + 4 * index, value)
    return fix_crcs(data)


ENTRY_FIELDS = ("name", "dtype", "ndim", "frac_bits", "dim0", "dim1", "dim2", "offset", "length")


def entry_at(index):
    return HEADER.size + CONFIG.size + TABLE_ENTRY.size * index


def get_entry(data, index):
    return dict(zip(ENTRY_FIELDS, TABLE_ENTRY.unpack_from(data, entry_at(index))))


def set_entry(data, index, **changes):
    data = bytearray(data)
    entry = get_entry(data, index)
    entry.update(changes)
    TABLE_ENTRY.pack_into(data, entry_at(index), *entry.values())
    return fix_crcs(data)


def plan_index(name, geometry=TINY):
    return [t.name for t in plan_tensors(geometry)].index(name)


def error_of(data):
    with pytest.raises(FtvFormatError) as info:
        read_ftv(data)
    return str(info.value)


# ------------------------------------------------------------------------------ ternary layouts

def test_layout_bytes_match_the_spec():
    w = np.array([[-1, 0, 1, 1, -1]], np.int8)
    # tern2: codes 0 1 2 2 | 0 (padding 1 1 1)
    assert pack_ternary(w, "tern2") == bytes([0 | 1 << 2 | 2 << 4 | 2 << 6,
                                              0 | 1 << 2 | 1 << 4 | 1 << 6])
    assert pack_ternary(w, "tern2") == bytes([0xA4, 0x54])  # as in docs/format.md
    # tern3: 0 + 1*3 + 2*9 + 2*27 + 0*81
    assert pack_ternary(w, "tern3") == bytes([0x4B])
    assert pack_ternary(np.zeros((2, 3), np.int8), "tern3") == bytes([121, 121])
    assert pack_ternary(np.zeros((1, 1), np.int8), "tern2") == bytes([0x55])


@pytest.mark.parametrize("layout", ["tern2", "tern3"])
def test_pack_unpack_round_trip_odd_sizes(layout):
    rng = np.random.default_rng(2)
    for rows in (1, 2, 7):
        for cols in range(1, 23):
            w = rng.integers(-1, 2, (rows, cols)).astype(np.int8)
            data = pack_ternary(w, layout)
            assert len(data) == rows * -(-cols // (4 if layout == "tern2" else 5))
            out = unpack_ternary(data, rows, cols, layout)
            assert out.dtype == np.int8 and np.array_equal(out, w)


def test_every_valid_byte_decodes_and_reencodes():
    for layout, k, valid in (("tern2", 4, [b for b in range(256) if not b & (b >> 1) & 0x55]),
                             ("tern3", 5, list(range(243)))):
        data = bytes(valid)
        w = unpack_ternary(data, len(valid), k, layout)
        assert pack_ternary(w, layout) == data
    assert len(valid) == 243


@pytest.mark.parametrize("layout,data,what", [
    ("tern2", bytes([0b11]), "invalid ternary code"),
    ("tern2", bytes([0b11000000]), "invalid ternary code"),
    ("tern3", bytes([243]), "invalid ternary code"),
    ("tern3", bytes([255]), "invalid ternary code"),
])
def test_invalid_codes_name_the_tensor(layout, data, what):
    with pytest.raises(FtvFormatError, match=f"blocks.0.mlp.fc1.weight: {what}"):
        unpack_ternary(data, 1, 4 if layout == "tern2" else 5, layout, "blocks.0.mlp.fc1.weight")


def test_padding_must_be_zero_weight():
    with pytest.raises(FtvFormatError, match="w.weight: padding"):
        unpack_ternary(bytes([0x55 ^ 0x40]), 1, 3, "tern2", "w.weight")   # 4th code 0
    with pytest.raises(FtvFormatError, match="w.weight: padding"):
        unpack_ternary(bytes([1 + 3 + 9 + 27]), 1, 4, "tern3", "w.weight")  # 5th code 0


def test_pack_rejects_non_ternary():
    with pytest.raises(FtvFormatError, match="q.weight: expected values in"):
        pack_ternary(np.array([[2, 0]]), "tern2", "q.weight")
    with pytest.raises(FtvFormatError, match="q.weight: expected integer"):
        pack_ternary(np.array([[0.5, 0]]), "tern3", "q.weight")
    with pytest.raises(FtvFormatError, match="layout"):
        pack_ternary(np.zeros((1, 1), np.int8), "tern4")


# ------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("layout", ["tern2", "tern3"])
@pytest.mark.parametrize("gi", range(len(GEOMETRIES)))
def test_round_trip_every_tensor(layout, gi):
    g = GEOMETRIES[gi]
    tensors = random_tensors(g, seed=gi)
    data = encode_ftv(g, layout, MULT, 12, tensors, labels=labels_for(g),
                      golden=Golden(np.arange(g.num_classes), seed=gi + 1), arith_version=3)
    model = read_ftv(data)
    assert model.geometry == g and model.layout == layout
    assert model.config["attn_logit_mult"] == MULT and model.config["residual_frac_bits"] == 12
    assert model.config["arith_version"] == 3
    assert list(model.tensors) == [t.name for t in plan_tensors(g)]
    for t in plan_tensors(g):
        record = model.tensors[t.name]
        values = record.values()
        assert values.shape == t.shape
        assert np.array_equal(values, expected(tensors[t.name])), t.name
        assert values.dtype == {"tern": np.int8, "q16": np.int16, "mult": np.int32,
                                "i8": np.int8}[t.kind]
        if t.kind == "q16":
            assert record.frac_bits == tensors[t.name].frac_bits
        assert record.offset % 16 == 0
    assert model.labels == labels_for(g)


def test_layouts_decode_to_identical_ternary_values():
    g = GEOMETRIES[2]
    tensors = random_tensors(g, seed=5)
    m2, m3 = (read_ftv(encode_ftv(g, lay, MULT, 8, tensors)) for lay in ("tern2", "tern3"))
    tern = [t.name for t in plan_tensors(g) if t.kind == "tern"]
    assert tern
    for name in tern:
        assert np.array_equal(m2.ternary(name), m3.ternary(name)), name
    for name in set(m2.tensors) - set(tern):
        assert m2.tensors[name].raw == m3.tensors[name].raw
    assert m3.file_size < m2.file_size


def test_file_is_compact():
    data = tiny_file(labels=False, golden=None)
    model = read_ftv(data)
    end = head_size(len(CONFIG_FIELDS), len(model.tensors))
    for record in model.tensors.values():
        assert 0 <= record.offset - end < 16
        end = record.offset + record.length
    assert end == len(data)


@pytest.mark.parametrize("kind", ["seed", "raw"])
def test_golden_and_labels_round_trip(kind):
    model = read_ftv(tiny_file(golden=kind))
    if kind == "seed":
        assert model.golden.seed == 0xC0FFEE and model.golden.image is None
        assert np.array_equal(model.golden.logits, np.arange(7) * 1000 - 3000)
        assert np.array_equal(model.golden_input().ravel(), xorshift32_bytes(0xC0FFEE, 432))
    else:
        img = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
        assert np.array_equal(model.golden.image, img)
        assert np.array_equal(model.golden_input(), img)
    assert model.golden.logits.dtype == np.int32
    assert model.labels == labels_for(TINY)
    bare = read_ftv(tiny_file(labels=False, golden=None))
    assert bare.labels is None and bare.golden is None and bare.golden_input() is None


def test_xorshift32_is_the_documented_generator():
    # docs/format.md lists these bytes for seed 1 and seed 0x12345678
    assert xorshift32_bytes(1, 8).tolist() == [0, 4, 157, 18, 142, 44, 37, 25]
    assert xorshift32_bytes(0x12345678, 8).tolist() == [135, 21, 72, 129, 112, 41, 137, 197]
    x, out = 0x12345678, []
    for _ in range(6):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x >> 24)
    assert xorshift32_bytes(0x12345678, 6).tolist() == out
    with pytest.raises(FtvFormatError, match="golden.seed"):
        xorshift32_bytes(0, 4)


def test_write_is_atomic(tmp_path):
    path = tmp_path / "m.ftv"
    size = write_ftv(path, TINY, "tern2", MULT, 8, random_tensors(TINY))
    assert path.stat().st_size == size
    before = path.read_bytes()
    with pytest.raises(FtvFormatError):
        write_ftv(path, TINY, "tern2", MULT, 8, {})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.ftv"]
    assert read_ftv(str(path)).geometry == TINY


# ------------------------------------------------------------------------------ writer refuses

def test_writer_rejects_bad_tensors():
    good = random_tensors(TINY)
    cases = [
        ({k: v for k, v in good.items() if k != "head.bias"}, "missing 1 planned.*head.bias"),
        ({**good, "head.extra": np.zeros(1)}, "not in the plan.*head.extra"),
        ({**good, "head.weight": np.zeros((7, 5), np.int8)},
         r"head.weight: expected shape \(7, 6\)"),
        ({**good, "head.weight": np.full((7, 6), 2)}, "head.weight: expected values in"),
        ({**good, "head.bias": np.zeros(7, np.int16)}, "head.bias: expected Q16"),
        ({**good, "head.bias": Q16(np.full(7, 40000), 3)}, "head.bias: expected values in"),
        ({**good, "head.bias": Q16(np.zeros(7, np.int16), 64)}, "head.bias.frac_bits"),
        ({**good, "head.mult": np.array([0.5])}, "head.mult: expected integer"),
        ({**good, "patch_embed.input_lut": np.full((3, 256), 300)}, "input_lut: expected values"),
    ]
    for tensors, message in cases:
        with pytest.raises(FtvFormatError, match=message):
            encode_ftv(TINY, "tern3", MULT, 8, tensors)


def test_writer_rejects_bad_config_labels_golden():
    t = random_tensors(TINY)
    with pytest.raises(FtvFormatError, match="config.attn_logit_mult"):
        encode_ftv(TINY, "tern3", 0, 8, t)
    with pytest.raises(FtvFormatError, match="config.residual_frac_bits"):
        encode_ftv(TINY, "tern3", MULT, 40, t)
    with pytest.raises(FtvFormatError, match="layout"):
        encode_ftv(TINY, "tern5", MULT, 8, t)
    with pytest.raises(FtvFormatError, match="labels: expected num_classes = 7"):
        encode_ftv(TINY, "tern3", MULT, 8, t, labels=["a", "b"])
    with pytest.raises(FtvFormatError, match=r"labels\[1\]"):
        encode_ftv(TINY, "tern3", MULT, 8, t, labels=["a", "b\nc"] + ["x"] * 5)
    with pytest.raises(FtvFormatError, match="golden.logits"):
        encode_ftv(TINY, "tern3", MULT, 8, t, golden=Golden(np.zeros(3), seed=1))
    with pytest.raises(FtvFormatError, match="golden.image"):
        encode_ftv(TINY, "tern3", MULT, 8, t,
                   golden=Golden(np.zeros(7, np.int32), image=np.zeros((12, 12), np.uint8)))
    with pytest.raises(FtvFormatError, match="exactly one"):
        encode_ftv(TINY, "tern3", MULT, 8, t, golden=Golden(np.zeros(7, np.int32)))
    bad = Geometry(12, 5, 3, 6, 2, 3, 13, 7, True, False)
    with pytest.raises(FtvFormatError, match="config.patch_size"):
        encode_ftv(bad, "tern3", MULT, 8, {})


# ------------------------------------------------------------------------------ reader refuses

def test_truncated_and_extended_files():
    data = tiny_file()
    assert "truncated" in error_of(data[:-1]) and "file_size" in error_of(data[:-1])
    assert "truncated" in error_of(data[:len(data) // 2])
    assert "file_size" in error_of(data[:10])
    assert "file_size" in error_of(b"")
    assert "trailing bytes" in error_of(data + b"\0")


def test_flipped_bytes_fail_the_named_crc():
    data = tiny_file()
    head_end = head_size(len(CONFIG_FIELDS), len(plan_tensors(TINY)))
    for at in (HEADER.size + 8, entry_at(3) + 2, entry_at(5) + 60, 16):
        flipped = bytearray(data)
        flipped[at] ^= 0x04
        assert error_of(bytes(flipped)).startswith("head_crc32: CRC mismatch")
    for at in (head_end + 20, len(data) - 1, (head_end + len(data)) // 2):
        flipped = bytearray(data)
        flipped[at] ^= 0x80
        assert error_of(bytes(flipped)).startswith("payload_crc32: CRC mismatch")


def test_wrong_magic_and_versions():
    data = tiny_file()
    assert error_of(b"PK\x03\x04" + data[4:]).startswith("magic: expected b'FTVM'")
    message = error_of(set_header(data, "format_version", 2))
    assert message.startswith("format_version: file is version 2") and "up to 1" in message
    assert error_of(set_header(data, "format_version", 0)).startswith("format_version")
    assert error_of(set_header(data, "config_count", 13)).startswith("config_count")


def test_header_counts_and_sections():
    data = tiny_file()
    h = header_of(data)
    assert error_of(set_header(data, "tensor_count", h["tensor_count"] - 1)).startswith(
        "tensor_count: expected")
    assert error_of(set_header(data, "tensor_count", 10 ** 6)).startswith("tensor_count")
    assert error_of(set_header(data, "labels_offset", h["labels_offset"] + 8)).startswith(
        "labels_offset: expected a multiple of 16")
    assert "past the end" in error_of(set_header(data, "golden_offset", h["golden_offset"] + 16))
    assert "overlaps the labels section" in error_of(
        set_header(data, "golden_offset", h["labels_offset"]))
    assert "overlaps tensor 'head.bias'" in error_of(
        set_header(data, "labels_offset", h["labels_offset"] - 16))
    assert error_of(set_header(data, "labels_length", 3)).startswith("labels: expected")
    assert error_of(set_header(data, "golden_length", 20)).startswith("golden_length")
    no_labels = set_header(data, "labels_offset", 0)
    assert error_of(no_labels).startswith("labels_length: expected 0")


@pytest.mark.parametrize("field,value,message", [
    ("num_heads", 4, "config.num_heads: expected a divisor of embed_dim 6"),
    ("patch_size", 5, "config.patch_size: expected a divisor of img_size 12"),
    ("layout", 4, "config.layout: expected 2..3"),
    ("cls_pos", 2, "config.cls_pos: expected 0..1"),
    ("layerscale", -1, "config.layerscale: expected 0..1"),
    ("depth", 0, "config.depth: expected 1..1024"),
    ("img_size", -12, "config.img_size"),
    ("arith_version", 0, "config.arith_version"),
    ("attn_logit_mult", 255, "config.attn_logit_mult"),
    ("residual_frac_bits", 32, "config.residual_frac_bits"),
    ("depth", 3, "tensor_count: expected 66 tensors"),
    ("embed_dim", 9, "tensor 'patch_embed.proj.weight': shape: expected (9, 48)"),
    ("mlp_dim", 14, "tensor 'blocks.0.mlp.fc1.weight': shape: expected (14, 6)"),
    ("num_classes", 8, "shape: expected (8, 6)"),
    ("cls_pos", 0, "tensor 'pos_embed': shape: expected (9, 6)"),
    ("layout", 2, "tensor 'patch_embed.proj.weight': dtype: expected tern2"),
])
def test_config_fields_are_checked(field, value, message):
    assert message in error_of(set_config(tiny_file(), field, value))


def test_tensor_table_checks():
    data = tiny_file()
    i = plan_index("blocks.1.attn.proj.weight")
    entry = get_entry(data, i)
    prev = get_entry(data, i - 1)
    name = "tensor 'blocks.1.attn.proj.weight'"
    cases = [
        (dict(name=b"blocks.1.attn.PROJ.weight"), f"tensor table entry {i}: name: expected "
                                                  "'blocks.1.attn.proj.weight'"),
        (dict(name=b"\xff\xfe"), f"tensor table entry {i}: name: expected NUL-padded UTF-8"),
        (dict(name=b"a\0b"), f"tensor table entry {i}: name: expected NUL-padded"),
        (dict(dtype=9), f"{name}: dtype: expected tern3 (3), found unknown (9)"),
        (dict(dtype=2), f"{name}: dtype: expected tern3 (3), found tern2 (2)"),
        (dict(ndim=1), f"{name}: shape: expected (6, 6)"),
        (dict(ndim=0), f"{name}: shape"),
        (dict(ndim=200), f"{name}: shape"),
        (dict(dim2=1), f"{name}: shape"),
        (dict(dim1=7),
         f"{name}: shape: expected (6, 6) for this config, found ndim 2 dims (6, 7, 0)"),
        (dict(frac_bits=3), f"{name}: frac_bits: expected 0 for tern3"),
        (dict(length=entry["length"] + 1), f"{name}: length: expected 12 bytes"),
        (dict(offset=entry["offset"] + 4), f"{name}: offset: expected a multiple of 16"),
        (dict(offset=prev["offset"]), f"{name}: offset: {name} at byte {prev['offset']} overlaps "
                                      "tensor 'blocks.1.attn.qkv.bias'"),
        (dict(offset=(len(data) + 15) // 16 * 16), f"{name}: offset: {name} (bytes"),
        (dict(offset=2 ** 32 - 16), "runs past the end"),
    ]
    for changes, message in cases:
        found = error_of(set_entry(data, i, **changes))
        assert message in found, (changes, found)
    assert "overlaps the tensor table" in error_of(set_entry(data, 0, offset=16))
    assert f"{name}: offset: expected zero padding" in error_of(
        set_entry(data, i, offset=entry["offset"] + 16, length=entry["length"]))
    j = plan_index("head.bias")
    assert "tensor 'head.bias': frac_bits: expected -32..63, found 64" in error_of(
        set_entry(data, j, frac_bits=64))


def test_invalid_ternary_code_in_file_names_the_tensor():
    data = bytearray(tiny_file())
    entry = get_entry(data, plan_index("blocks.0.mlp.fc2.weight"))
    data[entry["offset"]] = 250
    assert "blocks.0.mlp.fc2.weight: invalid ternary code" in error_of(fix_crcs(data))
    data = bytearray(tiny_file("tern2"))
    entry = get_entry(data, plan_index("norm.bias"))
    data[entry["offset"] + 1] = 0b00000101  # codes 1 1 | padding 0 0
    assert "norm.bias: padding weights" in error_of(fix_crcs(data))


def test_bad_labels_and_golden_sections():
    data = tiny_file(golden="raw")
    h = header_of(data)
    bad = bytearray(data)
    bad[h["labels_offset"]] = 0xFF
    assert error_of(fix_crcs(bad)).startswith("labels: expected UTF-8 text")
    g = h["golden_offset"]
    for offset, value, message in ((0, 7, "golden.input_kind"), (4, 9, "golden.seed: expected 0"),
                                   (8, 6, "golden.num_logits: expected num_classes = 7"),
                                   (12, 5, "golden.input_length: expected 432")):
        bad = bytearray(data)
        struct.pack_into("<I", bad, g + offset, value)
        assert message in error_of(fix_crcs(bad))
    seeded = tiny_file(golden="seed")
    bad = bytearray(seeded)
    struct.pack_into("<I", bad, header_of(seeded)["golden_offset"] + 4, 0)
    assert "golden.seed: expected a nonzero" in error_of(fix_crcs(bad))


def test_model_accessors():
    model = read_ftv(tiny_file())
    with pytest.raises(FtvFormatError, match="expected a ternary tensor"):
        model.ternary("head.bias")
    with pytest.raises(FtvFormatError, match="'nope': not in this model file"):
        model.values("nope")


# ------------------------------------------------------------------------------ fuzz

def _mutations(data, rng, count):
    """Byte flips, truncations, extensions and field edits with recomputed CRCs."""
    n = len(data)
    entries = len(plan_tensors(TINY))
    special = [0, 1, 2, 3, 15, 16, 255, 256, 2 ** 15, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]
    for k in range(count):
        choice = k % 6
        if choice == 0:
            b = bytearray(data)
            for _ in range(rng.integers(1, 4)):
                b[rng.integers(n)] ^= 1 << rng.integers(8)
            yield bytes(b)
        elif choice == 1:
            yield data[:rng.integers(n)]
        elif choice == 2:
            yield data + bytes(rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8))
        elif choice == 3:  # header field edit
            field = HEADER_FIELDS[rng.integers(1, len(HEADER_FIELDS) - 2)]
            value = special[rng.integers(len(special))] if rng.random() < 0.5 else \
                int(header_of(data)[field]) + int(rng.integers(-40, 41))
            yield set_header(data, field, int(value) % 2 ** (16 if field in (
                "format_version", "config_count") else 32))
        elif choice == 4:  # config edit
            field = CONFIG_FIELDS[rng.integers(len(CONFIG_FIELDS))].name
            value = int(rng.integers(-3, 40)) if rng.random() < 0.7 else \
                special[rng.integers(len(special))] - 2 ** 31
            yield set_config(data, field, value)
        else:  # table entry edit, or a payload byte with CRCs fixed
            if rng.random() < 0.5:
                b = bytearray(data)
                at = rng.integers(head_size(len(CONFIG_FIELDS), entries), n)
                b[at] = rng.integers(256)
                yield fix_crcs(b)
            else:
                i = int(rng.integers(entries))
                field = ENTRY_FIELDS[rng.integers(1, len(ENTRY_FIELDS))]
                old = get_entry(data, i)[field]
                value = old + int(rng.integers(-20, 21)) if rng.random() < 0.6 else \
                    special[rng.integers(len(special))]
                bits = {"dtype": 8, "ndim": 8, "frac_bits": 16}.get(field, 32)
                value = int(value) % 2 ** bits
                if field == "frac_bits" and value >= 2 ** 15:
                    value -= 2 ** 16
                yield set_entry(data, i, **{field: value})


def test_fuzz_only_format_errors_escape():
    rng = np.random.default_rng(1234)
    seen = {"ok": 0, "error": 0}
    for layout, golden in (("tern3", "seed"), ("tern2", "raw")):
        data = tiny_file(layout, golden=golden)
        for mutated in _mutations(data, rng, 2500):
            try:
                read_ftv(mutated)
                seen["ok"] += 1
            except FtvFormatError as exc:
                assert str(exc)
                seen["error"] += 1
    assert seen["error"] > 4000


# ------------------------------------------------------------------------------ CLI

def test_inspect_command(tmp_path, capsys):
    path = tmp_path / "tiny.ftv"
    path.write_bytes(tiny_file())
    assert cli_main(["inspect", str(path), "--tensors"]) == 0
    out = capsys.readouterr().out
    assert "layout tern3, checksums OK" in out and "blocks.1.mlp.fc2.weight" in out
    assert "labels: 7 (" in out and "xorshift32 seed 0x00c0ffee" in out
    assert "attn_logit_mult" in out and "total" in out
    bad = bytearray(path.read_bytes())
    bad[-1] ^= 1
    path.write_bytes(bytes(bad))
    assert cli_main(["inspect", str(path)]) == 2
    assert "payload_crc32: CRC mismatch" in capsys.readouterr().err
    assert cli_main(["inspect", str(tmp_path / "missing.ftv")]) == 2
    assert cli_main(["inspect", str(tmp_path)]) == 2


# ------------------------------------------------------------------------------ the document

FORMAT_MD = pathlib.Path(__file__).resolve().parents[1] / "docs" / "format.md"


def test_document_lists_the_config_fields_and_structs():
    text = FORMAT_MD.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\d+) \| `(\w+)` \| (-?\d+)\.\.(-?\d+) \|", text, re.M)
    assert [(int(i), int(o), n, int(lo), int(hi)) for i, o, n, lo, hi in rows] == [
        (i, HEADER.size + 4 * i, f.name, f.low, f.high) for i, f in enumerate(CONFIG_FIELDS)]
    for st in (HEADER, TABLE_ENTRY):
        assert f"`{st.format}`" in text
    assert f"{HEADER.size} bytes, `{HEADER.format}`" in text
    assert f"× {TABLE_ENTRY.size} bytes" in text


def test_document_example_head_matches_the_writer():
    text = FORMAT_MD.read_text(encoding="utf-8")
    example = text[text.index("## 10."):]
    dump = example[example.index("```") + 3:]
    dump = dump[:dump.index("```")]
    doc = bytes(int(b, 16) for line in dump.strip().splitlines()
                for b in line.split(":")[1].split()[:16])
    g = Geometry(img_size=12, patch_size=4, in_chans=3, embed_dim=6, depth=2, num_heads=3,
                 mlp_dim=13, num_classes=3, cls_pos=True, layerscale=False)
    data = encode_ftv(g, "tern3", 0x0042521C, 12, random_tensors(g),
                      labels=["cat", "dog", "bird"],
                      golden=Golden(np.array([-4096, 8192, 123]), seed=0x12345678))
    assert len(doc) == 160
    assert doc[:32] == data[:32] and doc[40:] == data[40:160]
    assert data[-44:] == bytes.fromhex("636174 0a 646f67 0a 62697264 00000000 01000000 78563412"
                                       "03000000 00000000 00f0ffff 00200000 7b000000")
