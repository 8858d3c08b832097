"""The golden test vector: an input image and the logits the model must produce for it.

The input is either stored raw (uint8 HWC bytes) or generated from a 32-bit
seed by xorshift32, so a big model's self-test costs 16 bytes plus its logits.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import FtvFormatError
from .spec import GOLDEN_HEADER, GOLDEN_RAW, GOLDEN_XORSHIFT32, INT32_MAX

_MASK = 0xFFFFFFFF


def xorshift32_bytes(seed: int, count: int) -> np.ndarray:
    """`count` bytes from xorshift32: per byte x ^= x << 13; x ^= x >> 17; x ^= x << 5
    (32-bit, x starts at `seed`, nonzero), then emit x >> 24 (the top byte)."""
    if not 1 <= seed <= _MASK:
        raise FtvFormatError(f"golden.seed: expected 1..{_MASK}, found {seed}")
    out = bytearray(count)
    x = seed
    for i in range(count):
        x ^= (x << 13) & _MASK
        x ^= x >> 17
        x ^= (x << 5) & _MASK
        out[i] = x >> 24
    return np.frombuffer(bytes(out), np.uint8)


@dataclass
class Golden:
    """Expected int32 logits for an input: `image` (uint8 [H, W, C]) or `seed` (xorshift32)."""
    logits: np.ndarray
    image: Optional[np.ndarray] = None
    seed: Optional[int] = None

    @property
    def kind(self) -> int:
        return GOLDEN_RAW if self.image is not None else GOLDEN_XORSHIFT32

    def input_image(self, img_size: int, in_chans: int) -> np.ndarray:
        """The input as uint8 [img_size, img_size, in_chans] (HWC)."""
        if self.image is not None:
            return np.asarray(self.image, np.uint8).reshape(img_size, img_size, in_chans)
        return xorshift32_bytes(self.seed, img_size * img_size * in_chans).reshape(
            img_size, img_size, in_chans)


def encode_golden(golden: Golden, img_size: int, in_chans: int, num_classes: int) -> bytes:
    if (golden.image is None) == (golden.seed is None):
        raise FtvFormatError("golden: expected exactly one of image (raw input) or seed "
                             "(xorshift32 input)")
    logits = np.asarray(golden.logits)
    if logits.shape != (num_classes,) or logits.dtype.kind not in "iu":
        raise FtvFormatError(f"golden.logits: expected {num_classes} integers, found "
                             f"shape {logits.shape} dtype {logits.dtype}")
    if logits.size and (logits.min() < -INT32_MAX - 1 or logits.max() > INT32_MAX):
        raise FtvFormatError("golden.logits: expected int32 values, found values out of range")
    if golden.image is not None:
        image = np.asarray(golden.image)
        want = (img_size, img_size, in_chans)
        if image.shape != want or image.dtype != np.uint8:
            raise FtvFormatError(f"golden.image: expected uint8 {want} (HWC), found "
                                 f"{image.dtype} {image.shape}")
        data, seed = image.tobytes(), 0
    else:
        seed = int(golden.seed)
        if not 1 <= seed <= _MASK:
            raise FtvFormatError(f"golden.seed: expected 1..{_MASK}, found {seed}")
        data = b""
    head = GOLDEN_HEADER.pack(golden.kind, seed, num_classes, len(data))
    return head + logits.astype("<i4").tobytes() + data


def decode_golden(section: bytes, img_size: int, in_chans: int, num_classes: int) -> Golden:
    if len(section) < GOLDEN_HEADER.size:
        raise FtvFormatError(f"golden_length: expected at least {GOLDEN_HEADER.size} bytes, "
                             f"found {len(section)}")
    kind, seed, num_logits, input_length = GOLDEN_HEADER.unpack_from(section)
    if kind not in (GOLDEN_RAW, GOLDEN_XORSHIFT32):
        raise FtvFormatError(f"golden.input_kind: expected {GOLDEN_RAW} (raw) or "
                             f"{GOLDEN_XORSHIFT32} (xorshift32), found {kind}")
    if num_logits != num_classes:
        raise FtvFormatError(f"golden.num_logits: expected num_classes = {num_classes}, "
                             f"found {num_logits}")
    want_input = img_size * img_size * in_chans if kind == GOLDEN_RAW else 0
    if input_length != want_input:
        raise FtvFormatError(f"golden.input_length: expected {want_input} for input_kind "
                             f"{kind}, found {input_length}")
    if kind == GOLDEN_RAW and seed != 0:
        raise FtvFormatError(f"golden.seed: expected 0 for a raw input, found {seed}")
    if kind == GOLDEN_XORSHIFT32 and seed == 0:
        raise FtvFormatError("golden.seed: expected a nonzero xorshift32 seed, found 0")
    want = GOLDEN_HEADER.size + 4 * num_logits + input_length
    if len(section) != want:
        raise FtvFormatError(f"golden_length: expected {want} bytes, found {len(section)}")
    start = GOLDEN_HEADER.size
    logits = np.frombuffer(section, "<i4", num_logits, start).astype(np.int32)
    if kind == GOLDEN_RAW:
        image = np.frombuffer(section, np.uint8, input_length, start + 4 * num_logits)
        return Golden(logits, image=image.reshape(img_size, img_size, in_chans).copy())
    return Golden(logits, seed=seed)
