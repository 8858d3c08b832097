"""Build the C kernel library (native_module/) into a cffi extension on first use.

The extension is compiled once per distinct set of sources and flags, into a
per-user cache folder (``$FTERVIT_CACHE``, else ``$XDG_CACHE_HOME/ftervit``,
else ``~/.cache/ftervit``) under a name keyed by a hash of every source,
header, the declarations below, the flags and the Python ABI, so an edited
kernel rebuilds itself and concurrent processes never see a half-written
file.  Every ``native_module/*.c`` is compiled except the MicroPython
binding files (those that include a ``py/...`` header).
"""
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shlex
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from ..resources import resource_dir
from .cdef import CDEF

NATIVE_ENV = "FTERVIT_NATIVE_DIR"
# -O3: lets gcc vectorize the int8 loops of attention and the int32 ones of the ops
# (about 3x faster attention than -O2 on x86-64); portable, no -march.
# -fno-wrapv: Python's own CFLAGS carry -fwrapv, which would hide signed overflow from
# the sanitizer build and make the host build more forgiving than the device's.
DEFAULT_CFLAGS = ("-std=c99", "-O3", "-fno-wrapv")
_MPY_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]py/', re.M)
_loaded = {}


class CBackendUnavailable(RuntimeError):
    """The C extension cannot be built or loaded here (no compiler, no sources, ...)."""


def native_dir() -> Path:
    """The folder holding the C sources: $FTERVIT_NATIVE_DIR, else the package's (installed
    package data, or the checkout's native_module/; see ftervit.resources)."""
    env = os.environ.get(NATIVE_ENV)
    path = Path(env) if env else resource_dir("native_module")
    if not (path / "ftv.h").is_file():
        raise CBackendUnavailable(
            f"C backend: no kernel sources at {path} (expected ftv.h there); reinstall "
            f"ftervit, or set {NATIVE_ENV} to the native_module folder of an ftervit checkout")
    return path


def core_sources(folder: Path) -> list:
    """native_module/*.c minus the MicroPython binding files, sorted."""
    return sorted(p for p in folder.glob("*.c") if not _MPY_INCLUDE.search(p.read_bytes()))


def cache_root() -> Path:
    if os.environ.get("FTERVIT_CACHE"):
        return Path(os.environ["FTERVIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ftervit"


def _digest(folder: Path, sources, cflags, ldflags) -> str:
    h = hashlib.sha256()
    files = sorted(set(sources) | set(folder.glob("*.h")))
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(CDEF.encode())
    h.update(repr((tuple(cflags), tuple(ldflags), sys.version_info[:2], sys.platform,
                   sysconfig.get_config_var("EXT_SUFFIX"))).encode())
    return h.hexdigest()[:16]


def _compiler() -> Optional[str]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    first = shlex.split(cc)[0] if cc.strip() else "cc"
    return shutil.which(first)


def _check_toolchain() -> None:
    if _compiler() is None:
        cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
        raise CBackendUnavailable(
            f"C backend: no C compiler found (looked for {cc!r}, from $CC or Python's build "
            "configuration). The extension is compiled on first use: install a C compiler "
            "(Debian/Ubuntu: apt-get install gcc python3-dev) or use the numpy backend.")
    include = sysconfig.get_paths().get("include", "")
    if not os.path.isfile(os.path.join(include, "Python.h")):
        raise CBackendUnavailable(
            f"C backend: Python.h not found in {include}; install the Python development "
            "headers (Debian/Ubuntu: apt-get install python3-dev) or use the numpy backend.")


def _load_module(name: str, path: Path):
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load_extension(extra_cflags: Sequence[str] = (), extra_ldflags: Sequence[str] = (),
                   verbose: bool = False):
    """The compiled cffi module (with ``.ffi`` and ``.lib``), built if needed.

    ``extra_cflags`` / ``extra_ldflags`` add to the default ``-std=c99 -O3 -fno-wrapv`` (e.g. the
    benchmark's ``-O3 -march=native``), after any in ``$FTERVIT_CFLAGS`` /
    ``$FTERVIT_LDFLAGS`` (e.g. sanitizers for a whole test run); each distinct set
    is its own cached build.  Raises CBackendUnavailable with the reason when the
    extension cannot be built.
    """
    cflags = list(DEFAULT_CFLAGS) + shlex.split(os.environ.get("FTERVIT_CFLAGS", ""))
    cflags += list(extra_cflags)
    ldflags = shlex.split(os.environ.get("FTERVIT_LDFLAGS", "")) + list(extra_ldflags)
    key = (tuple(cflags), tuple(ldflags))
    if key in _loaded:  # sources are hashed once per process and flag set
        return _loaded[key]
    folder = native_dir()
    sources = core_sources(folder)
    digest = _digest(folder, sources, cflags, ldflags)
    name = f"_ftv_c_{digest}"
    out_dir = cache_root() / "cbackend"
    target = out_dir / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    if not target.is_file():
        _build(name, folder, sources, cflags, ldflags, out_dir, target, verbose)
    module = _load_module(name, target)
    _loaded[key] = module
    return module


def _build(name, folder, sources, cflags, ldflags, out_dir, target, verbose) -> None:
    _check_toolchain()
    try:
        import cffi
    except ImportError:  # pragma: no cover - cffi is a dependency
        raise CBackendUnavailable("C backend: the cffi package is not installed "
                                  "(pip install cffi)") from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CBackendUnavailable(
            f"C backend: cannot create the build cache {out_dir} ({exc.strerror}); set "
            "FTERVIT_CACHE to a writable folder") from None
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(name, '#include "ftv.h"', sources=[str(p) for p in sources],
                   include_dirs=[str(folder)], extra_compile_args=cflags,
                   extra_link_args=ldflags)
    tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=out_dir)
    environ = dict(os.environ)  # setuptools sets PLAT (and more) in our process; put it back
    try:
        try:
            built = ffi.compile(tmpdir=tmp, verbose=verbose)
        except Exception as exc:  # cffi.VerificationError, distutils/setuptools errors
            raise CBackendUnavailable(
                f"C backend: compiling the kernels in {folder} failed: "
                f"{type(exc).__name__}: {exc}") from exc
        os.replace(built, target)
    finally:
        os.environ.clear()
        os.environ.update(environ)
        shutil.rmtree(tmp, ignore_errors=True)
