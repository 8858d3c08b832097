"""The MicroPython source tree, and the builds of `_ftervit` against it (no torch).

* micropython_tree()  - $MPY_DIR, else MicroPython v1.28.0 extracted once from
                        shared/micropython/ into the cache ($FTERVIT_CACHE/micropython)
* build_natmod()      - the dynamic native module _ftervit.mpy, ARCH x64 or
                        xtensawin (LLVM: native_module/micropython/llvm-xtensa-gcc)
* build_mpy_cross()   - the tree's mpy-cross (bytecode compiler for frozen code)
* build_unix_port()   - MicroPython's unix port with _ftervit compiled in
                        (USER_C_MODULES) and the device package frozen in
                        (device/manifest.py): the firmware build, run on the host
* cached_natmod(), cached_unix_port(), cached_mpy_cross()
                      - the same builds kept in the cache ($FTERVIT_CACHE/micropython),
                        keyed by a digest of the sources and the tree: built once
* mpy_header()        - version and architecture of a .mpy file

Every build runs `make` in its own output folder (nothing is written into the
source tree) and raises BuildError with the tool's output when it fails.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..cbackend.build import cache_root, native_dir
from ..resources import resource_dir

MPY_DIR_ENV = "MPY_DIR"
TARBALL_ENV = "FTERVIT_MICROPYTHON_SRC"
TARBALL = "micropython-1.28.0-src.tar.gz"
# The unix port with what the tests need; the options off need git submodules
# (btree, mbedtls, libffi, nimble) that the source archive does not carry.
UNIX_PORT_OPTIONS = ("VARIANT=standard", "MICROPY_PY_BTREE=0",
                     "MICROPY_PY_SSL=0", "MICROPY_SSL_AXTLS=0", "MICROPY_PY_FFI=0",
                     "MICROPY_PY_BLUETOOTH=0")
# py/persistentcode.h: MP_NATIVE_ARCH_*
MPY_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
_HOST_PACKAGE_DIR = Path(__file__).resolve().parents[2]   # host/, holds ftervit/


class BuildError(RuntimeError):
    """A MicroPython tree is missing, or a build of the module failed."""


def binding_dir() -> Path:
    """native_module/micropython: _ftervit.c and its build files."""
    return native_dir() / "micropython"


# ------------------------------------------------------------------ the tree

def find_tarball() -> Path:
    """$FTERVIT_MICROPYTHON_SRC, else shared/micropython/<TARBALL> in the repository's
    folder or one above it (where the project keeps it next to the checkout)."""
    env = os.environ.get(TARBALL_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise BuildError(f"{TARBALL_ENV}: no file at {path}")
        return path
    repo = native_dir().resolve().parent
    for folder in (repo, *repo.parents):
        path = folder / "shared" / "micropython" / TARBALL
        if path.is_file():
            return path
    raise BuildError(f"MicroPython source: {TARBALL} not found under shared/micropython/ "
                     f"beside {repo} or above it; set {MPY_DIR_ENV} to a MicroPython "
                     f"checkout (v1.23 or newer) or {TARBALL_ENV} to the archive")


def _check_tree(path: Path, origin: str) -> Path:
    if not (path / "py" / "dynruntime.mk").is_file():
        raise BuildError(f"{origin}: {path} is not a MicroPython source tree "
                         "(expected py/dynruntime.mk there)")
    return path


def micropython_tree() -> Path:
    """The MicroPython source tree to build against: $MPY_DIR if set, else the
    v1.28.0 archive extracted once into the cache (atomically: concurrent
    callers never see half a tree)."""
    env = os.environ.get(MPY_DIR_ENV)
    if env:
        return _check_tree(Path(env).resolve(), MPY_DIR_ENV)
    tarball = find_tarball()
    dest = cache_root() / "micropython" / tarball.name[:-len(".tar.gz")]
    if (dest / "py" / "dynruntime.mk").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        roots = [p for p in tmp.iterdir() if p.is_dir()]
        if len(roots) != 1:
            raise BuildError(f"{tarball}: expected one top folder, found {len(roots)}")
        _check_tree(roots[0], str(tarball))
        try:
            os.replace(roots[0], dest)
        except OSError:
            if not (dest / "py" / "dynruntime.mk").is_file():   # lost no race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ------------------------------------------------------------------ builds

@dataclass
class NatmodBuild:
    mpy: Path
    arch: str
    seconds: float
    text_bytes: int      # executable code (on the ESP32-S3: internal RAM)
    rodata_bytes: int    # 0 where the architecture keeps rodata in the text
    bss_bytes: int
    got_entries: int


def _run_make(args: list, cwd: Path, env: dict, timeout: int,
              progress: Optional[Callable[[str], None]] = None) -> str:
    """make's output; `progress`, if given, sees each line of it as make prints it."""
    try:
        proc = subprocess.Popen(["make"] + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise BuildError(f"make: cannot run it ({exc}); install make") from None
    timed_out = []

    def kill():
        timed_out.append(True)
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if progress is not None:
                progress(line.rstrip("\n"))
        returncode = proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
    log = "".join(lines)
    if timed_out:
        raise BuildError(f"make timed out after {timeout} s: {' '.join(args)}")
    if returncode != 0:
        raise BuildError(f"make failed ({returncode}) in {cwd}: {' '.join(args)}\n"
                         f"{log[-6000:]}")
    return log


def _size(log: str, label: str) -> int:
    m = re.search(rf"^{label}:\s+(\d+)", log, re.M)
    return int(m.group(1)) if m else 0


def build_natmod(arch: str, out_dir, tree: Optional[Path] = None,
                 timeout: int = 600, progress=None) -> NatmodBuild:
    """Build _ftervit.mpy for `arch` ('x64', 'xtensawin', ...) in out_dir.  For
    xtensawin without Espressif's xtensa-esp32-elf-gcc on PATH, LLVM compiles it."""
    tree = tree or micropython_tree()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_HOST_PACKAGE_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHON"] = sys.executable
    args = ["-f", str(binding_dir() / "Makefile"), f"ARCH={arch}", f"MPY_DIR={tree}",
            f"PYTHON={sys.executable}", "V=1"]
    if arch == "xtensawin" and shutil.which("xtensa-esp32-elf-gcc") is None:
        args.append(f"CROSS={binding_dir() / 'llvm-xtensa-'}")
    start = time.perf_counter()
    log = _run_make(args, out_dir, env, timeout, progress)
    seconds = time.perf_counter() - start
    mpy = out_dir / "_ftervit.mpy"
    if not mpy.is_file():
        raise BuildError(f"make succeeded but wrote no {mpy}")
    return NatmodBuild(mpy, arch, seconds, _size(log, "text size"), _size(log, "rodata size"),
                       _size(log, "bss size"), _size(log, "GOT entries"))


def build_mpy_cross(out_dir, tree: Optional[Path] = None, jobs: int = 2,
                    timeout: int = 600, progress=None) -> Path:
    """The tree's mpy-cross, its objects under out_dir."""
    tree = tree or micropython_tree()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    _run_make(["-C", str(tree / "mpy-cross"), f"-j{jobs}", f"BUILD={out_dir}",
               "PROG=mpy-cross", f"PYTHON={sys.executable}"],      # PROG: under BUILD
              out_dir, dict(os.environ), timeout, progress)
    prog = out_dir / "mpy-cross"
    if not prog.is_file():
        raise BuildError(f"make succeeded but wrote no {prog}")
    return prog


def device_manifest() -> Path:
    """device/manifest.py: what a firmware freezes of the device package."""
    return resource_dir("device") / "manifest.py"


def build_unix_port(out_dir, tree: Optional[Path] = None, jobs: int = 2,
                    timeout: int = 600, progress=None) -> tuple:
    """(micropython executable, seconds): the unix port with _ftervit compiled in and
    the device package frozen in, as a board firmware would have them; its objects
    under out_dir.  The frozen package is imported where ".frozen" is on sys.path
    (the port's default path; a MICROPYPATH without it uses the files instead)."""
    tree = tree or micropython_tree()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    mpy_cross = build_mpy_cross(out_dir / "mpy-cross", tree, jobs, timeout, progress)
    # the manifest tools insist on a micropython-lib checkout; nothing is taken from it
    no_lib = out_dir / "no-micropython-lib"
    no_lib.mkdir(exist_ok=True)
    (no_lib / "README.md").write_text("device/manifest.py freezes nothing from micropython-lib\n")
    args = ["-C", str(tree / "ports" / "unix"), f"-j{jobs}", *UNIX_PORT_OPTIONS,
            f"FROZEN_MANIFEST={device_manifest()}", f"MPY_LIB_DIR={no_lib}",
            f"MICROPY_MPYCROSS={mpy_cross}", f"USER_C_MODULES={native_dir().resolve()}",
            f"BUILD={out_dir}", "PROG=micropython-ftervit", f"PYTHON={sys.executable}"]
    _run_make(args, out_dir, dict(os.environ), timeout, progress)
    prog = out_dir / "micropython-ftervit"
    if not prog.is_file():
        raise BuildError(f"make succeeded but wrote no {prog}")
    return prog, time.perf_counter() - start


# ------------------------------------------------------------------ cached builds

@dataclass
class CachedBuild:
    path: Path           # the .mpy, or the micropython executable
    built: bool          # False: found in the cache
    seconds: float       # of the build (0 when found in the cache)


def build_key(tree: Path, *extra) -> str:
    """A digest of everything a build reads from this project (the C core and the
    binding's folder), the MicroPython tree's path and `extra`."""
    h = hashlib.sha256()
    core = native_dir()
    files = sorted(p for p in core.iterdir() if p.is_file() and p.suffix in (".c", ".h"))
    files += sorted(p for p in binding_dir().iterdir() if p.is_file())
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(repr((str(Path(tree).resolve()), extra)).encode())
    return h.hexdigest()[:16]


def builds_dir() -> Path:
    """Where cached_natmod() and cached_unix_port() keep their results."""
    return cache_root() / "micropython" / "builds"


def _cached(name: str, product: str, build) -> CachedBuild:
    """The file `product` of the folder builds_dir()/name, made by build(tmp) in a
    temporary folder first and kept alone (no objects): concurrent callers never see
    half a build, and a second call finds it."""
    dest = builds_dir() / name
    if (dest / product).is_file():
        return CachedBuild(dest / product, False, 0.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        start = time.perf_counter()
        built = Path(build(tmp / "work"))
        seconds = time.perf_counter() - start
        keep = tmp / "result"
        keep.mkdir()
        shutil.copy2(built, keep / product)
        try:
            os.replace(keep, dest)
        except OSError:
            if not (dest / product).is_file():   # lost no race: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CachedBuild(dest / product, True, seconds)


def _natmod_name(arch: str, tree: Path) -> str:
    cross = arch == "xtensawin" and shutil.which("xtensa-esp32-elf-gcc") is None
    return f"natmod-{arch}-{build_key(tree, 'natmod', arch, cross)}"


def _unix_port_name(tree: Path) -> str:
    frozen = sorted(device_manifest().parent.joinpath("ftervit").glob("*.py"))
    frozen_digest = hashlib.sha256(b"".join(p.name.encode() + b"\0" + p.read_bytes()
                                            for p in [device_manifest(), *frozen])).hexdigest()
    return f"unix-port-{build_key(tree, 'unix', UNIX_PORT_OPTIONS, frozen_digest)}"


def natmod_cache_dir(arch: str = "x64", tree: Optional[Path] = None) -> Path:
    """The folder cached_natmod(arch) keeps its _ftervit.mpy in (it may not exist yet)."""
    return builds_dir() / _natmod_name(arch, tree or micropython_tree())


def unix_port_cache_dir(tree: Optional[Path] = None) -> Path:
    """The folder cached_unix_port() keeps its executable in (it may not exist yet)."""
    return builds_dir() / _unix_port_name(tree or micropython_tree())


def cached_natmod(arch: str = "x64", tree: Optional[Path] = None, progress=None,
                  timeout: int = 600) -> CachedBuild:
    """_ftervit.mpy for `arch`, from the cache or built into it."""
    tree = tree or micropython_tree()
    return _cached(_natmod_name(arch, tree), "_ftervit.mpy",
                   lambda out: build_natmod(arch, out, tree, timeout, progress).mpy)


def cached_unix_port(tree: Optional[Path] = None, jobs: int = 2, progress=None,
                     timeout: int = 600) -> CachedBuild:
    """The unix port with _ftervit compiled in, from the cache or built into it."""
    tree = tree or micropython_tree()
    return _cached(_unix_port_name(tree), "micropython-ftervit",
                   lambda out: build_unix_port(out, tree, jobs, timeout, progress)[0])


def mpy_header(path) -> dict:
    """The 4-byte header of a .mpy: {'version', 'sub_version', 'arch', 'small_int_bits'}."""
    head = Path(path).read_bytes()[:4]
    if len(head) < 4 or head[0:1] != b"M":
        raise BuildError(f"{path}: not a .mpy file (expected b'M' first, got {head[:1]!r})")
    arch_code = head[2] >> 2
    return {"version": head[1], "sub_version": head[2] & 3,
            "arch": MPY_ARCHS[arch_code] if arch_code < len(MPY_ARCHS) else arch_code,
            "small_int_bits": head[3]}
