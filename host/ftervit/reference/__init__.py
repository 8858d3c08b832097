"""Numpy integer reference runtime: the literal, readable reading of docs/arithmetic.md.

It is the oracle for the C kernels and the device runtime: they must produce
bit-identical logits for the same model file and image.
"""
from .model import IntegerModel, forward, topk, logits_to_float  # noqa: F401
from .loaded import integer_model, passes_golden  # noqa: F401
