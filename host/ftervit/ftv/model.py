"""What `read_ftv` returns: the checked config, the tensors, labels and golden vector."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..deploy_plan import Geometry
from .errors import FtvFormatError
from .golden import Golden
from .spec import DTYPE_I8, DTYPE_I16, DTYPE_I32, DTYPE_NAMES, WEIGHTS_PER_BYTE
from .ternary_pack import unpack_ternary

_NUMPY = {DTYPE_I8: "<i1", DTYPE_I16: "<i2", DTYPE_I32: "<i4"}


@dataclass(frozen=True)
class TensorRecord:
    """One tensor of the file: its table entry and its stored bytes."""
    name: str
    kind: str               # deploy-plan kind: tern | q16 | mult | i8
    group: str              # deploy-plan group (encoder, head, ...)
    dtype: int              # spec dtype code
    shape: Tuple[int, ...]
    frac_bits: int          # i16 only; 0 otherwise
    offset: int
    length: int
    raw: bytes = field(repr=False)

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def values(self) -> np.ndarray:
        """Decoded numpy array: int8 -1/0/1 for ternary, else int8/int16/int32 codes."""
        if self.dtype in WEIGHTS_PER_BYTE:
            rows, cols = self.shape
            return unpack_ternary(self.raw, rows, cols, self.dtype, self.name)
        return np.frombuffer(self.raw, _NUMPY[self.dtype]).astype(
            _NUMPY[self.dtype][1:]).reshape(self.shape)


@dataclass
class FtvModel:
    format_version: int
    config: Dict[str, int]
    geometry: Geometry
    layout: str                       # 'tern2' | 'tern3'
    tensors: Dict[str, TensorRecord]  # file order
    labels: Optional[List[str]]
    golden: Optional[Golden]
    file_size: int
    source: Optional[str] = None      # the path it was read from (for messages); None: bytes

    def tensor(self, name: str) -> TensorRecord:
        try:
            return self.tensors[name]
        except KeyError:
            raise FtvFormatError(f"tensor {name!r}: not in this model file") from None

    def values(self, name: str) -> np.ndarray:
        return self.tensor(name).values()

    def ternary(self, name: str) -> np.ndarray:
        """int8 [rows, cols] of -1/0/1 for a ternary tensor."""
        record = self.tensor(name)
        if record.kind != "tern":
            raise FtvFormatError(f"tensor {name!r}: expected a ternary tensor, found "
                                 f"{record.dtype_name}")
        return record.values()

    def golden_input(self) -> Optional[np.ndarray]:
        """The golden test input as uint8 [H, W, C], or None without a golden vector."""
        if self.golden is None:
            return None
        return self.golden.input_image(self.geometry.img_size, self.geometry.in_chans)
