"""The C kernel library (native_module/) on the host, through a cffi extension.

    from ftervit import cbackend
    model = cbackend.load("model.ftv")        # or a read FtvModel / IntegerModel
    logits = model.forward(image_uint8_hwc)   # int32 x12, bit-identical to the reference

The extension is compiled on first use and cached (see build.py);
`cbackend.ops` gives the single operators, shaped like ftervit.reference.ops.
"""
from .build import CBackendUnavailable, load_extension  # noqa: F401
from .model import CModel, load  # noqa: F401


def available() -> bool:
    """True if the extension builds (or is already built) and loads here."""
    try:
        load_extension()
    except CBackendUnavailable:
        return False
    return True
