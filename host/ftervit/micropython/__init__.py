"""Building the `_ftervit` MicroPython module on the host (no torch).

xtensa_llvm: C -> Xtensa object with LLVM; mpy_fixups: the object edits mpy_ld.py
needs; tree: the MicroPython source tree; natmod / unix_port: the builds.
"""
