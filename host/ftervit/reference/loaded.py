"""A read `.ftv` file as the reference runtime's model, and its golden-vector check.

Torch-free, so `ftervit run` and the board tools start without it.
"""
import numpy as np

from ..ftv import FtvModel
from .model import IntegerModel


def integer_model(ftv: FtvModel) -> IntegerModel:
    """The decoded contents of a read `.ftv`, as the reference runtime's IntegerModel.
    A file asking for arithmetic the runtimes do not implement is refused here."""
    from ..runtime import check_runnable
    check_runnable(ftv)
    tensors, frac = {}, {}
    for name, record in ftv.tensors.items():
        tensors[name] = record.values()
        if record.kind == "q16":
            frac[name] = record.frac_bits
    return IntegerModel(ftv.geometry, ftv.config["attn_logit_mult"], tensors, frac, ftv.labels)


def passes_golden(ftv: FtvModel, forward) -> bool:
    """True if `forward(image) -> logits` reproduces the file's golden vector exactly."""
    got = np.asarray(forward(ftv.golden_input()), dtype=np.int64)
    return np.array_equal(got, ftv.golden.logits.astype(np.int64))
