"""FTerViT on MicroPython: load a `.ftv` model once, classify camera frames.

    >>> import ftervit
    >>> m = ftervit.load("/model.ftv")          # checks, self-test, weights read once
    >>> m.classify(frame, 240, 240, "RGB565")   # -> [("Sneaker", 7.91), ...]

The integer work runs in the native module `_ftervit`; this package reads
the file, owns the buffers and turns logits into labels.
"""
import gc

from .header import ARITH_VERSION, FORMAT_VERSION, FormatError, check_arith_version
from .loader import read_model
from .model import Model
from .native import NATIVE_VERSION, load_native

DEFAULT_MODEL = "/model.ftv"


def load(path=DEFAULT_MODEL, selftest=True):
    """Read, check and bind the model at `path`; with `selftest`, run its golden vector."""
    native = load_native()
    gc.collect()
    heap_free_before = gc.mem_free()
    buf, header, config, crc_checked = read_model(path)
    check_arith_version(config, native.ARITH_VERSION)
    model = Model(native, buf, header, config, not crc_checked, heap_free_before)
    if selftest:
        model.selftest()
    return model
