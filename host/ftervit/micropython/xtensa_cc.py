"""A gcc-like driver over LLVM for MicroPython's ``py/dynruntime.mk``, ARCH=xtensawin.

dynruntime.mk compiles with ``$(CROSS)gcc $(CFLAGS) -o OBJ -c SRC`` and asks
``$(CROSS)gcc -dumpmachine``; native_module/micropython/llvm-xtensa-gcc runs
this module, so ``make ARCH=xtensawin CROSS=.../llvm-xtensa-`` builds the
ESP32-S3 ``.mpy`` without Espressif's toolchain:

  clang (IR) -> llc -mcpu=esp32 (assembly) -> relocated .rodata renamed
  -> llvm-mc (object) -> literal addends moved (mpy_fixups.py)

Only the flags dynruntime.mk passes are understood; anything else is refused,
so a new flag is noticed rather than silently dropped.
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import mpy_fixups, xtensa_llvm

MACHINE = "xtensa-esp32-elf"
_KEPT_PREFIXES = ("-I", "-D", "-U", "-std=", "-O", "-W")
# PIC is what the GNU toolchain needs; LLVM's Xtensa backend has none and is
# run with the static relocation model (xtensa_llvm.py).
_DROPPED = {"-fpic", "-fPIC", "-fno-common"}


def parse(argv: list) -> tuple:
    """(source, object, clang flags) from a dynruntime.mk compile command."""
    source = obj = None
    flags = []
    args = iter(argv)
    for arg in args:
        if arg == "-c":
            source = next(args, None)
        elif arg == "-o":
            obj = next(args, None)
        elif arg in _DROPPED:
            continue
        elif arg.startswith(_KEPT_PREFIXES):
            flags.append(arg)
        else:
            raise SystemExit(f"llvm-xtensa-gcc: unsupported argument {arg!r}")
    if source is None or obj is None:
        raise SystemExit("llvm-xtensa-gcc: expected -c SOURCE -o OBJECT")
    return source, obj, flags


def compile_for_mpy(source, obj, flags) -> Path:
    """SOURCE -> OBJECT, an Xtensa object mpy_ld.py accepts."""
    obj = Path(obj)
    asm = Path(str(obj) + ".s")
    # -fdata-sections: one section per object, so only those with addresses are renamed.
    # dynruntime.mk's config header repeats two typedefs of py/mpconfig.h: C11, and
    # an error for clang at -std=c99 -Werror, which gcc lets pass.
    cflags = [f for f in flags if not f.startswith(("-I", "-D"))]
    cflags += ["-fdata-sections", "-Wno-typedef-redefinition"]
    includes = [f[2:] for f in flags if f.startswith("-I")]
    defines = [f[2:] for f in flags if f.startswith("-D")]
    xtensa_llvm.compile_c_to_asm(source, asm, include_dirs=includes, defines=defines,
                                 cflags=cflags)
    asm.write_text(mpy_fixups.rename_relocated_rodata(asm.read_text()))
    xtensa_llvm.assemble(asm, obj)
    mpy_fixups.move_literal_addends(obj)
    return obj


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["-dumpmachine"]:
        print(MACHINE)
        return 0
    source, obj, flags = parse(argv)
    try:
        compile_for_mpy(source, obj, flags)
    except (xtensa_llvm.ToolMissing, RuntimeError) as exc:
        print(f"llvm-xtensa-gcc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
