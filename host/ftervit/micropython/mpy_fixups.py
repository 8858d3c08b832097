"""The edits that let MicroPython's ``mpy_ld.py`` link LLVM's Xtensa output.

``mpy_ld.py`` was written against GNU as; LLVM's code differs in two ways that
trip its assertions (../shared/ENVIRONMENT.md lists the errors met):

* Constant data holding addresses (e.g. MicroPython's const function objects):
  without PIC, clang puts it in ``.rodata``; ``mpy_ld.py`` relocates only
  ``.data.rel.ro`` for xtensawin.  ``rename_relocated_rodata`` edits the
  assembly before it is assembled: each ``.rodata*`` section that stores a
  symbol's address becomes ``.data.rel.ro*``.  (Needs ``-fdata-sections``, so
  each object has its own section.)
* Literal-pool words pointing into a section at an offset: GNU as writes the
  offset into the literal word with a zero RELA addend, LLVM keeps the word 0
  and the offset in ``r_addend``.  ``move_literal_addends`` edits the object:
  the addend goes into the word, the RELA addend becomes 0 -- the same
  relocated value either way (S + A).
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

_SECTION = re.compile(r'^\s*\.section\s+(\.rodata[^\s,]*)(.*)$')
_OTHER_SECTION = re.compile(r'^\s*(\.section|\.text\b|\.data\b|\.bss\b)')
# a data directive whose operand starts with a symbol (an address), not a number
_ADDRESS_WORD = re.compile(r'^\s*\.(long|word|4byte)\s+[A-Za-z_.$]')


def rename_relocated_rodata(asm: str) -> str:
    """Assembly text with every ``.rodata*`` section that holds an address renamed
    ``.data.rel.ro*`` (flags "aw": the linker's writable-after-relocation data)."""
    lines = asm.splitlines(keepends=True)
    relocated, current = set(), None
    for line in lines:
        m = _SECTION.match(line)
        if m:
            current = m.group(1)
        elif _OTHER_SECTION.match(line):
            current = None
        elif current and _ADDRESS_WORD.match(line):
            relocated.add(current)
    out = []
    for line in lines:
        m = _SECTION.match(line)
        if m and m.group(1) in relocated:
            name = ".data.rel.ro" + m.group(1)[len(".rodata"):]
            line = f'\t.section\t{name},"aw",@progbits\n'
        out.append(line)
    return "".join(out)


def move_literal_addends(obj) -> int:
    """Move section-relative RELA addends of ``.literal*`` words into the words, in
    place (object size unchanged).  Returns the number of entries edited."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection

    path = Path(obj)
    data = bytearray(path.read_bytes())
    edited = 0
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        for rel in elf.iter_sections():
            if not isinstance(rel, RelocationSection) or not rel.is_RELA():
                continue
            target = elf.get_section(rel["sh_info"])
            if not target.name.startswith(".literal"):
                continue
            entry_size = rel["sh_entsize"]
            for i, r in enumerate(rel.iter_relocations()):
                sym = symtab.get_symbol(r["r_info_sym"])
                if sym["st_info"]["type"] != "STT_SECTION" or r["r_addend"] == 0:
                    continue
                word_at = target["sh_offset"] + r["r_offset"]
                word = struct.unpack_from("<I", data, word_at)[0]
                struct.pack_into("<I", data, word_at, (word + r["r_addend"]) & 0xFFFFFFFF)
                # Elf32_Rela: r_offset, r_info, r_addend (4 bytes each)
                struct.pack_into("<i", data, rel["sh_offset"] + i * entry_size + 8, 0)
                edited += 1
    path.write_bytes(bytes(data))
    return edited
