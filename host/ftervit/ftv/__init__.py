"""The `.ftv` model file: writer, reader and ternary packing (docs/format.md)."""
from .errors import FtvFormatError  # noqa: F401
from .golden import Golden, xorshift32_bytes  # noqa: F401
from .model import FtvModel, TensorRecord  # noqa: F401
from .reader import read_ftv  # noqa: F401
from .spec import ALIGN, CONFIG_FIELDS, FORMAT_VERSION, MAGIC, mult_to_float  # noqa: F401
from .ternary_pack import pack_ternary, packed_size, row_stride, unpack_ternary  # noqa: F401
from .writer import DEFAULT_ARITH_VERSION, Q16, Packed, encode_ftv, write_ftv  # noqa: F401
