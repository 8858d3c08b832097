"""C source -> Xtensa (ESP32, windowed ABI) object file with LLVM, no Espressif gcc.

clang-22's driver refuses ``-mcpu=esp32`` for ``--target=xtensa`` although its
backend knows the CPU, and LLVM's integrated Xtensa object writer fails on
literal fix-ups ("fixup value must be 4-byte aligned").  So the compile runs in
three steps, each a separate tool:

  clang-22 --target=xtensa -emit-llvm   C -> LLVM IR (freestanding, picolibc headers)
  llc-22 -mtriple=xtensa -mcpu=esp32    IR -> assembly (static relocation model:
                                        the Xtensa backend has no PIC)
  llvm-mc-22 -triple=xtensa             assembly -> ELF relocatable object

The object is a plain ELF relocatable: MicroPython's ``mpy_ld.py`` needs a few
more edits to accept it (see ``mpy_fixups.py``); a bare-metal link takes it as is.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterable

CLANG = "clang-22"
LLC = "llc-22"
LLVM_MC = "llvm-mc-22"
# Debian's package of each tool, for the message when one is missing.
TOOL_PACKAGES = {CLANG: "clang-22", LLC: "llvm-22", LLVM_MC: "llvm-22", "llvm-link-22": "llvm-22"}
# C library headers for a freestanding Xtensa build (string.h for memcpy & co):
# /usr/include's would describe the host.  Searched after clang's own headers.
PICOLIBC_INCLUDE = "/usr/lib/xtensa-lx106-elf/include"
PICOLIBC_PACKAGE = "picolibc-xtensa-lx106-elf"
DEFAULT_CPU = "esp32"


class ToolMissing(RuntimeError):
    """An LLVM tool (or the freestanding C headers) the Xtensa build needs is absent."""


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"{tool} not found: install Debian package "
                          f"{TOOL_PACKAGES.get(tool, tool)} (scripts/install_test_deps.sh does)")
    return path


def _run(cmd: list) -> None:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}")


def clang_args(include_dirs: Iterable = (), defines: Iterable[str] = (),
               cflags: Iterable[str] = ("-std=c99", "-Os")) -> list:
    """The clang front-end arguments (before the source) for an Xtensa IR compile."""
    if not Path(PICOLIBC_INCLUDE, "string.h").is_file():
        raise ToolMissing(f"{PICOLIBC_INCLUDE}/string.h not found: install Debian package "
                          f"{PICOLIBC_PACKAGE} (scripts/install_test_deps.sh does)")
    args = ["--target=xtensa", "-ffreestanding", "-nostdlibinc", "-idirafter", PICOLIBC_INCLUDE]
    args += list(cflags)
    args += [f"-I{d}" for d in include_dirs]
    args += [f"-D{d}" for d in defines]
    return args


def compile_c_to_object(source, obj, *, include_dirs: Iterable = (),
                        defines: Iterable[str] = (),
                        cflags: Iterable[str] = ("-std=c99", "-Os"),
                        cpu: str = DEFAULT_CPU, llc_flags: Iterable[str] = ()) -> Path:
    """Compile one C file to an Xtensa ELF object at ``obj``; returns ``obj``.

    ``defines`` are ``NAME`` or ``NAME=VALUE``; ``cflags`` go to clang (language,
    optimisation, warnings); ``llc_flags`` to llc (e.g. ``-mattr=-mul32high`` for
    cores without MULUH/MULSH).  The IR (``obj`` + ``.ll``) and the assembly
    (``obj`` + ``.s``) stay beside the object for inspection.  Raises ToolMissing
    naming the Debian package when a tool is absent, RuntimeError with the tool's
    output when a step fails.
    """
    source, obj = Path(source), Path(obj)
    ir, asm = Path(str(obj) + ".ll"), Path(str(obj) + ".s")
    _run([require(CLANG)] + clang_args(include_dirs, defines, cflags)
         + ["-S", "-emit-llvm", source, "-o", ir])
    _run([require(LLC), "-mtriple=xtensa", f"-mcpu={cpu}", "-relocation-model=static", "-O2"]
         + list(llc_flags) + ["-filetype=asm", ir, "-o", asm])
    _run([require(LLVM_MC), "-triple=xtensa", f"-mcpu={cpu}", "-filetype=obj", asm, "-o", obj])
    return obj
