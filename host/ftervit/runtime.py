"""The one rule by which an integer runtime refuses a model file it does not implement.

A `.ftv` file that passes every check of the reader is well formed, but it may
ask for arithmetic that a runtime does not implement: a later version of
docs/arithmetic.md, or a residual stream with other fraction bits.  Running it
anyway would print logits that mean nothing.  So before any runtime runs a
file, it compares the config fields of `IMPLEMENTED` with what it implements
and refuses the file on the first difference (docs/format.md §4).  The numpy
reference (`ftervit.pack.integer_model`) and the C kernels
(`ftervit.cbackend.CModel.from_ftv`) both call `check_runnable`; the device
loader applies the same table.
"""
from .ftv.errors import FtvFormatError
from .reference.fixed_point import FRAC_BITS

ARITH_VERSION = 1  # the version of docs/arithmetic.md the numpy reference and C implement

# config field -> the one value every runtime of this version implements
IMPLEMENTED = {
    "arith_version": ARITH_VERSION,
    "residual_frac_bits": FRAC_BITS,
}


class UnsupportedFileError(FtvFormatError):
    """A well-formed model file that asks for something this runtime does not implement."""


def check_runnable(ftv) -> None:
    """Raise UnsupportedFileError naming the first config field of `ftv` (a read
    FtvModel) whose value the runtimes do not implement."""
    where = f"{ftv.source}: " if getattr(ftv, "source", None) else ""
    for name, implemented in IMPLEMENTED.items():
        found = ftv.config.get(name)
        if found != implemented:
            raise UnsupportedFileError(
                f"{where}config.{name}: expected {implemented}, found {found}: the file needs "
                f"{_what(name, found)}, which this ftervit does not implement; repack it with "
                "this version (ftervit pack) or update ftervit")


def _what(name: str, value) -> str:
    if name == "arith_version":
        return f"arithmetic version {value} (docs/arithmetic.md)"
    if name == "residual_frac_bits":
        return f"a residual stream with {value} fraction bits"
    return f"{name} = {value}"
