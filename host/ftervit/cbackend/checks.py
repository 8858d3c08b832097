"""Argument checks of the binding: every buffer handed to C is checked here first.

A wrong type raises TypeError, a wrong shape, length or value range ValueError;
both messages start with the argument's name, so no bad input reaches C.
"""
import numpy as np

_RANGES = {np.dtype(t): (np.iinfo(t).min, np.iinfo(t).max)
           for t in (np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64)}


def int_array(value, name: str, dtype, ndim=None, shape=None) -> np.ndarray:
    """`value` as a C-contiguous array of `dtype` (a copy only when needed).

    Accepts numpy integer arrays and (nested) lists of ints whose values fit `dtype`.
    """
    dtype = np.dtype(dtype)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name}: expected an integer numpy array ({dtype}), found "
                        f"{type(value).__name__}")
    if not isinstance(value, np.ndarray):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name}: expected an integer numpy array ({dtype}), found "
                            f"{type(value).__name__}")
        try:
            value = np.asarray(value)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{name}: not a rectangular integer array ({exc})") from None
        if value.size == 0:
            value = value.astype(dtype)
    if value.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer values ({dtype}), found dtype {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), found shape {value.shape}")
    if shape is not None:
        want = tuple(shape)
        if value.shape != want:
            raise ValueError(f"{name}: expected shape {want}, found {value.shape}")
    if value.dtype != dtype:
        low, high = _RANGES[dtype]
        if value.size and (int(value.min()) < low or int(value.max()) > high):
            raise ValueError(f"{name}: values must fit {dtype} ({low}..{high}), found range "
                             f"[{int(value.min())}, {int(value.max())}]")
        value = value.astype(dtype)
    return np.ascontiguousarray(value)


def int_value(value, name: str, low: int, high: int) -> int:
    """A Python int in [low, high] (numpy integers accepted; bool and float refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, found {type(value).__name__}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name}: expected {low}..{high}, found {value}")
    return value


def byte_buffer(value, name: str, length: int) -> np.ndarray:
    """Packed bytes (bytes, bytearray, memoryview or a uint8 array) of exactly `length`."""
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8:
            raise TypeError(f"{name}: expected packed bytes (uint8), found dtype {value.dtype}")
        arr = np.ascontiguousarray(value.reshape(-1))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        arr = np.frombuffer(value, dtype=np.uint8)
    else:
        raise TypeError(f"{name}: expected packed bytes, found {type(value).__name__}")
    if arr.size != length:
        raise ValueError(f"{name}: expected {length} packed bytes, found {arr.size}")
    return arr
