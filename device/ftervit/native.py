"""The `_ftervit` native module (natmod `_ftervit.mpy` or built into firmware).

The package and the module are deployed together; a module of another
version would take buffers or return tuples this package does not expect,
so it is refused with a message naming both versions.
"""
from .header import ARITH_VERSION, FORMAT_VERSION

NATIVE_VERSION = 2     # the _ftervit.VERSION this package is written against (2: ctx_size)


def load_native():
    """The checked `_ftervit` module; ImportError saying what is wrong."""
    try:
        import _ftervit
    except ImportError:
        raise ImportError("ftervit: native module _ftervit not found: copy _ftervit.mpy "
                          "(built for this board's architecture) to the board, or use a "
                          "firmware with _ftervit built in")
    check_native(_ftervit)
    return _ftervit


def check_native(module):
    """Compare the module's three versions with the ones this package expects."""
    for name, expected in (("VERSION", NATIVE_VERSION), ("FORMAT_VERSION", FORMAT_VERSION),
                           ("ARITH_VERSION", ARITH_VERSION)):
        found = getattr(module, name, None)
        if found != expected:
            raise ImportError("_ftervit.%s: the native module is version %s, this ftervit "
                              "package expects %d: deploy _ftervit and the ftervit package "
                              "from the same build" % (name, found, expected))
