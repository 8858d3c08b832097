"""Constants and record layouts of the `.ftv` model file (docs/format.md).

Everything a reader needs to parse the file is here: magic, version, the
struct formats of the fixed-size records and the ordered config fields.  All
integers are little-endian.
"""
import struct
from typing import NamedTuple

MAGIC = b"FTVM"
FORMAT_VERSION = 1
ALIGN = 16  # every tensor, the labels and the golden section start at a multiple of 16

# Fixed header at offset 0.
HEADER = struct.Struct("<4sHHIIIIIIII")
HEADER_FIELDS = ("magic", "format_version", "config_count", "tensor_count", "file_size",
                 "labels_offset", "labels_length", "golden_offset", "golden_length",
                 "payload_crc32", "head_crc32")
HEAD_CRC_OFFSET = HEADER.size - 4  # head_crc32 is the header's last field

# One entry per tensor, right after the config.
NAME_BYTES = 40
MAX_NDIM = 3
TABLE_ENTRY = struct.Struct(f"<{NAME_BYTES}sBBh{MAX_NDIM}III")

# Golden test vector section: this header, int32 logits[num_classes], then the input.
GOLDEN_HEADER = struct.Struct("<IIII")  # input_kind, seed, num_logits, input_length
GOLDEN_RAW = 0         # input is raw uint8 image bytes, HWC
GOLDEN_XORSHIFT32 = 1  # input is generated from `seed` by xorshift32 (golden.py)

# dtype codes of the tensor table; the number is the bits of one stored element
# for the integer types, and the layout number for the ternary ones.
DTYPE_TERN2, DTYPE_TERN3, DTYPE_I8, DTYPE_I16, DTYPE_I32 = 2, 3, 8, 16, 32
DTYPE_NAMES = {DTYPE_TERN2: "tern2", DTYPE_TERN3: "tern3", DTYPE_I8: "i8",
               DTYPE_I16: "i16", DTYPE_I32: "i32"}
LAYOUTS = {"tern2": DTYPE_TERN2, "tern3": DTYPE_TERN3}   # config `layout` value = dtype code
KIND_DTYPE = {"q16": DTYPE_I16, "mult": DTYPE_I32, "i8": DTYPE_I8}  # plus tern -> layout
ELEMENT_BYTES = {DTYPE_I8: 1, DTYPE_I16: 2, DTYPE_I32: 4}
WEIGHTS_PER_BYTE = {DTYPE_TERN2: 4, DTYPE_TERN3: 5}

FRAC_BITS_MIN, FRAC_BITS_MAX = -32, 63  # i16 tensors (shifts stay inside int64); 0 for other dtypes

INT32_MAX = 2 ** 31 - 1


class ConfigField(NamedTuple):
    name: str
    low: int   # inclusive bounds the reader enforces
    high: int
    doc: str


# The model config: one int32 each, in this order, right after the header.
# Adding a field = one line here + a FORMAT_VERSION bump + a row in docs/format.md.
CONFIG_FIELDS = (
    ConfigField("arith_version", 1, 0xFFFF,
                "version of docs/arithmetic.md the file's integers follow"),
    ConfigField("img_size", 1, 4096, "input image height = width, pixels"),
    ConfigField("patch_size", 1, 4096, "patch height = width, pixels; divides img_size"),
    ConfigField("in_chans", 1, 64, "input channels (3 = RGB)"),
    ConfigField("embed_dim", 1, 65535, "token width; a multiple of num_heads"),
    ConfigField("depth", 1, 1024, "number of encoder blocks"),
    ConfigField("num_heads", 1, 65535, "attention heads"),
    ConfigField("mlp_dim", 1, 65535, "hidden width of the MLP"),
    ConfigField("num_classes", 1, 1 << 20, "classifier outputs"),
    ConfigField("cls_pos", 0, 1,
                "1: pos_embed has a row for the class token (DeiT); 0: not (DeiT-III)"),
    ConfigField("layerscale", 0, 1, "1: blocks had LayerScale, folded into per-row multipliers"),
    ConfigField("layout", 2, 3,
                "ternary layout of every tern tensor: 2 = tern2, 3 = tern3"),
    ConfigField("attn_logit_mult", 256, INT32_MAX, "mult-encoded attention logit scale; mantissa > 0"),
    ConfigField("residual_frac_bits", 0, 31, "fraction bits of the residual stream"),
)
CONFIG = struct.Struct("<" + "i" * len(CONFIG_FIELDS))


def head_size(config_count: int, tensor_count: int) -> int:
    """Bytes of header + config + tensor table (the part head_crc32 covers)."""
    return HEADER.size + 4 * config_count + TABLE_ENTRY.size * tensor_count


def padded(offset: int) -> int:
    return (offset + ALIGN - 1) // ALIGN * ALIGN


def mult_to_float(v: int) -> float:
    """Real value of a mult-encoded int32: (v >> 8) * 2**-(v & 0xff)."""
    return (v >> 8) * 2.0 ** -(v & 0xFF)
