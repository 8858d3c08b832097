"""Building the `_ftervit` MicroPython module on the host (no torch).

xtensa_llvm: C -> Xtensa object with LLVM; mpy_fixups: the edits mpy_ld.py needs;
xtensa_cc: the gcc-like driver dynruntime.mk calls; build: the MicroPython tree and builds.
"""
