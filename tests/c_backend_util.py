"""Shared helpers of the C backend tests: the extension (or a skip when this
machine has no C compiler) and random integer inputs with extremes mixed in."""
import numpy as np
import pytest

INT32_MAX = (1 << 31) - 1


def c_ops():
    """ftervit.cbackend.ops with its extension built; skips without a C compiler."""
    from ftervit.cbackend import build, ops
    if build._compiler() is None:
        pytest.skip("no C compiler on this machine")
    build.load_extension()
    return ops


def x12_values(rng, shape, kind: str) -> np.ndarray:
    """int32 test activations: 'small' (|v| < 2^16), 'wide' (|v| < 2^28), 'full' (any int32
    but -2^31), 'extreme' (mostly +-(2^31 - 1)), 'zero', 'mixed' (rows of each)."""
    if kind == "small":
        return rng.integers(-(1 << 16), 1 << 16, shape).astype(np.int32)
    if kind == "wide":
        return rng.integers(-(1 << 28), 1 << 28, shape).astype(np.int32)
    if kind == "full":
        return rng.integers(-INT32_MAX, INT32_MAX, shape, endpoint=True).astype(np.int32)
    if kind == "extreme":
        v = rng.choice(np.array([-INT32_MAX, INT32_MAX, 0, 1, -1], np.int32), shape,
                       p=[0.4, 0.4, 0.1, 0.05, 0.05])
        return v.astype(np.int32)
    if kind == "zero":
        return np.zeros(shape, np.int32)
    if kind == "mixed":
        kinds = ["small", "wide", "full", "extreme", "zero"]
        rows = [x12_values(rng, shape[1:], kinds[i % len(kinds)]) for i in range(shape[0])]
        return np.stack(rows).astype(np.int32) if rows else np.zeros(shape, np.int32)
    raise ValueError(kind)


def mult_words(rng, n: int, kind: str) -> np.ndarray:
    """int32 multiplier words: 'packed' (|m| in [2^14, 2^15], shifts 0..60 as the packer
    makes them), 'any' (every int32), 'big'/'small' (tiny / huge shifts)."""
    if kind == "packed":
        m = rng.integers(1 << 14, (1 << 15) + 1, n) * rng.choice([-1, 1], n)
        s = rng.integers(0, 61, n)
    elif kind == "any":
        return rng.integers(-(1 << 31), 1 << 31, n).astype(np.int32)
    elif kind == "big":
        m = rng.integers(-(1 << 23), 1 << 23, n)
        s = rng.integers(0, 4, n)
    elif kind == "small":
        m = rng.integers(-(1 << 23), 1 << 23, n)
        s = rng.integers(60, 256, n)
    else:
        raise ValueError(kind)
    return ((m << 8) | s).astype(np.int32)


def ternary(rng, shape, p_zero: float = 0.3) -> np.ndarray:
    p = (1 - p_zero) / 2
    return rng.choice(np.array([-1, 0, 1], np.int8), shape, p=[p, p_zero, p])
