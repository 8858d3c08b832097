"""A static linker for the Xtensa objects llvm-mc-22 writes (bench/xtensa LX7 images).

Debian's only Xtensa linker is xtensa-lx106-elf-ld, configured for the
lx106 core: it cannot decode windowed-ABI call instructions and stops at the
first CALL8 relocation ("dangerous relocation: unexpected relocation").
The objects of the windowed build use two relocation types only, so this
module links them itself:

* R_XTENSA_32        a 32-bit word = S + A
* R_XTENSA_SLOT0_OP  the PC-relative operand of the instruction at the
                     offset: CALL0/4/8/12, J (18-bit offsets), L32R
                     (16-bit negative word offset to a literal), and the
                     branches to global labels of the start code (12- and
                     8-bit offsets)

Layout (link()): ROM from rom_base: .reset (the core's reset vector),
.vectors (1 KB aligned, VECBASE), every
.literal* section (L32R reaches only backwards), the .text* sections (the
profiled group last, between __prof_text_start and __prof_text_end), then
.rodata*; RAM from ram_base: .data*, .bss*, then __heap_start; the stack
grows down from __stack_top.  `wrap` implements GNU ld's --wrap=NAME for
undefined references: NAME -> __wrap_NAME; __real_NAME is NAME, wrapped or not
(the lx106 build's --defsym=__real_NAME=NAME when it does not wrap).

The output is a minimal ELF executable (program headers for QEMU's loader,
a symbol table for nm) with the input symbols' sizes and types.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS = 1, 2, 3, 4, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_SECTION = 3
R_XTENSA_NONE, R_XTENSA_32, R_XTENSA_SLOT0_OP = 0, 1, 20
EM_XTENSA = 94


class LinkError(RuntimeError):
    pass


@dataclass
class Section:
    obj: "Object"
    index: int
    name: str
    kind: int
    flags: int
    align: int
    data: bytearray
    size: int
    relocs: list = field(default_factory=list)     # (offset, type, symbol index, addend)
    addr: int | None = None


@dataclass
class Symbol:
    name: str
    value: int
    size: int
    info: int
    shndx: int

    @property
    def bind(self) -> int:
        return self.info >> 4

    @property
    def type(self) -> int:
        return self.info & 15


@dataclass
class Object:
    path: Path
    sections: dict
    symbols: list


def _cstr(blob: bytes, off: int) -> str:
    return blob[off:blob.index(b"\0", off)].decode()


def read_object(path: Path) -> Object:
    """Parse an ELF32 little-endian Xtensa relocatable object."""
    b = Path(path).read_bytes()
    if b[:4] != b"\x7fELF" or b[4] != 1 or b[5] != 1:
        raise LinkError(f"{path}: not a 32-bit little-endian ELF file")
    e_type, e_machine = struct.unpack_from("<HH", b, 16)
    if e_type != 1 or e_machine != EM_XTENSA:
        raise LinkError(f"{path}: not an Xtensa relocatable object (type {e_type}, "
                        f"machine {e_machine})")
    shoff, = struct.unpack_from("<I", b, 32)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 46)
    heads = [struct.unpack_from("<IIIIIIIIII", b, shoff + i * shentsize) for i in range(shnum)]
    names = heads[shstrndx]
    shstr = b[names[4]:names[4] + names[5]]
    obj = Object(Path(path), {}, [])
    symtab = None
    for i, h in enumerate(heads):
        name, kind, flags, _addr, off, size, link, info, align, _ent = h
        sname = _cstr(shstr, name)
        if kind == SHT_SYMTAB:
            symtab = (off, size, link)
        elif flags & SHF_ALLOC and kind in (SHT_PROGBITS, SHT_NOBITS):
            data = bytearray(b[off:off + size]) if kind == SHT_PROGBITS else bytearray()
            obj.sections[i] = Section(obj, i, sname, kind, flags, max(align, 1), data, size)
    if symtab is None:
        raise LinkError(f"{path}: no symbol table")
    off, size, link = symtab
    strtab = b[heads[link][4]:heads[link][4] + heads[link][5]]
    for j in range(size // 16):
        st_name, value, ssize, info, _other, shndx = struct.unpack_from("<IIIBBH", b, off + 16 * j)
        obj.symbols.append(Symbol(_cstr(strtab, st_name), value, ssize, info, shndx))
    for h in heads:
        name, kind, flags, _addr, off, size, link, info, align, ent = h
        if kind != SHT_RELA or info not in obj.sections:
            continue
        sec = obj.sections[info]
        for k in range(size // 12):
            r_off, r_info, r_add = struct.unpack_from("<IIi", b, off + 12 * k)
            sec.relocs.append((r_off, r_info & 0xFF, r_info >> 8, r_add))
    return obj


# ------------------------------------------------------------ relocation

def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def patch_slot0(data: bytearray, off: int, pc: int, target: int, where: str) -> None:
    """Write target into the PC-relative operand of the instruction at data[off]."""
    word = data[off] | data[off + 1] << 8 | data[off + 2] << 16
    op0 = word & 0xF
    if op0 == 5:                                     # CALL0/4/8/12: offset18 words
        if target & 3:
            raise LinkError(f"{where}: call target {target:#x} not word aligned")
        delta = (target - ((pc & ~3) + 4)) >> 2
        if not -(1 << 17) <= delta < (1 << 17):
            raise LinkError(f"{where}: call target {target:#x} out of range")
        word = (word & 0x3F) | ((delta & 0x3FFFF) << 6)
    elif op0 == 6 and (word >> 4) & 3 == 0:          # J: offset18 bytes
        delta = target - (pc + 4)
        if not -(1 << 17) <= delta < (1 << 17):
            raise LinkError(f"{where}: jump target {target:#x} out of range")
        word = (word & 0x3F) | ((delta & 0x3FFFF) << 6)
    elif op0 == 6 and (word >> 4) & 3 == 1:          # BEQZ/BNEZ/BLTZ/BGEZ: imm12 bytes
        delta = target - (pc + 4)
        if not -(1 << 11) <= delta < (1 << 11):
            raise LinkError(f"{where}: branch target {target:#x} out of range")
        word = (word & 0xFFF) | ((delta & 0xFFF) << 12)
    elif op0 == 7 or (op0 == 6 and (word >> 4) & 3 >= 2):   # RRI8 / BRI8 branches: imm8
        delta = target - (pc + 4)
        if not -(1 << 7) <= delta < (1 << 7):
            raise LinkError(f"{where}: branch target {target:#x} out of range")
        word = (word & 0xFFFF) | ((delta & 0xFF) << 16)
    elif op0 == 1:                                   # L32R: imm16, a negative word offset
        if target & 3:
            raise LinkError(f"{where}: literal {target:#x} not word aligned")
        delta = (target - ((pc + 3) & ~3)) >> 2
        if not -(1 << 16) <= delta < 0:
            raise LinkError(f"{where}: literal {target:#x} not within 256 KB before {pc:#x}")
        word = (word & 0xFF) | ((delta & 0xFFFF) << 8)
    else:
        raise LinkError(f"{where}: SLOT0_OP relocation on an instruction this linker "
                        f"does not handle (word {word:#08x})")
    data[off:off + 3] = bytes((word & 0xFF, (word >> 8) & 0xFF, word >> 16))


# ----------------------------------------------------------------- layout

def _order(name: str, profiled: bool) -> int | None:
    """Output group of an input section: 0 reset vector and vectors, 1
    literals, 2 text, 3 profiled text, 4 rodata, 5 data, 6 bss; None: not
    loaded."""
    if name in (".reset", ".vectors"):
        return 0
    if name.startswith(".literal") or name.endswith(".literal"):
        return 1                    # llvm-mc names a pool met in .rodata ".rodata.literal"
    if name.startswith(".text"):
        return 3 if profiled else 2
    if name.startswith(".rodata"):
        return 4
    if name.startswith((".data", ".sdata")):
        return 5
    if name.startswith((".bss", ".sbss")):
        return 6
    return None


def _align(v: int, a: int) -> int:
    return (v + a - 1) // a * a


def link(objects: list, out: Path, rom_base: int, ram_base: int, ram_top: int,
         profiled: tuple = (), wrap: tuple = (), entry: str = "_start") -> dict:
    """Link `objects` (paths) into the ELF executable `out`; returns the
    global symbol table {name: address}.  profiled: object file names
    whose code goes between __prof_text_start and __prof_text_end."""
    objs = [read_object(p) for p in objects]
    groups: dict = {g: [] for g in range(7)}
    for o in objs:
        for s in o.sections.values():
            g = _order(s.name, o.path.name in profiled)
            if g is None:
                raise LinkError(f"{o.path}: section {s.name} has no place in the layout")
            groups[g].append(s)
    groups[0].sort(key=lambda s: s.name != ".reset")      # the reset vector at rom_base
    marks = {}
    addr = rom_base
    for g in range(5):
        if g == 3:
            addr = _align(addr, 16)
            marks["__prof_text_start"] = addr
        for s in groups[g]:
            align = 1024 if s.name == ".vectors" else max(s.align, 4)
            addr = _align(addr, align)
            s.addr = addr
            addr += s.size
        if g == 3:
            addr = _align(addr, 16)
            marks["__prof_text_end"] = addr
    rom_end = addr
    addr = ram_base
    for g in (5, 6):
        if g == 6:
            marks["__bss_start"] = addr = _align(addr, 16)
        for s in groups[g]:
            addr = _align(addr, max(s.align, 4))
            s.addr = addr
            addr += s.size
    marks["__bss_end"] = _align(addr, 16)
    marks["__heap_start"] = marks["__bss_end"]
    marks["__stack_top"] = ram_top

    # global symbols
    glob: dict = dict(marks)
    sym_of: dict = {}
    for o in objs:
        for sym in o.symbols:
            if sym.bind == STB_LOCAL or sym.shndx == SHN_UNDEF or not sym.name:
                continue
            if sym.shndx == SHN_COMMON:
                raise LinkError(f"{o.path}: common symbol {sym.name} (build with -fno-common)")
            a = sym.value if sym.shndx == SHN_ABS else o.sections[sym.shndx].addr + sym.value
            if sym.name in glob and sym.bind != STB_WEAK:
                if sym_of.get(sym.name, (None, None))[1] != STB_WEAK:
                    raise LinkError(f"{sym.name} defined twice ({o.path.name}, "
                                    f"{sym_of.get(sym.name, ('?',))[0]})")
            elif sym.name in glob:
                continue
            glob[sym.name] = a
            sym_of[sym.name] = (o.path.name, sym.bind, sym)

    def resolve(o: Object, idx: int, where: str) -> int:
        sym = o.symbols[idx]
        if sym.type == STT_SECTION or (sym.bind == STB_LOCAL and sym.shndx != SHN_UNDEF):
            if sym.shndx == SHN_ABS:
                return sym.value
            if sym.shndx not in o.sections:
                raise LinkError(f"{where}: relocation against a section not loaded")
            return o.sections[sym.shndx].addr + sym.value
        name = sym.name
        if sym.shndx == SHN_UNDEF:
            if name in wrap:
                name = "__wrap_" + name
            elif name.startswith("__real_"):      # wrapped or not: the real function
                name = name[7:]
        if name not in glob:
            raise LinkError(f"{where}: undefined symbol {name}")
        return glob[name]

    for o in objs:
        for s in o.sections.values():
            for off, kind, idx, add in s.relocs:
                where = f"{o.path.name}:{s.name}+{off:#x}"
                if kind == R_XTENSA_NONE:
                    continue
                target = resolve(o, idx, where) + add
                if kind == R_XTENSA_32:
                    struct.pack_into("<I", s.data, off, target & 0xFFFFFFFF)
                elif kind == R_XTENSA_SLOT0_OP:
                    patch_slot0(s.data, off, s.addr + off, target, where)
                else:
                    raise LinkError(f"{where}: relocation type {kind} not handled")
    if entry not in glob:
        raise LinkError(f"entry symbol {entry} not defined")
    rom = bytearray(rom_end - rom_base)
    for g in range(5):
        for s in groups[g]:
            rom[s.addr - rom_base:s.addr - rom_base + s.size] = s.data
    data_secs = groups[5]
    data_end = max((s.addr + s.size for s in data_secs), default=ram_base)
    ram = bytearray(data_end - ram_base)
    for s in data_secs:
        ram[s.addr - ram_base:s.addr - ram_base + s.size] = s.data
    symbols = []
    for name, a in sorted(glob.items(), key=lambda kv: kv[1]):
        info = sym_of.get(name)
        size, stype = (info[2].size, info[2].type) if info else (0, 0)
        symbols.append((name, a, size, stype))
    # local function symbols too (static functions), for the profile's ranges
    for o in objs:
        for sym in o.symbols:
            if sym.bind == STB_LOCAL and sym.type == 2 and sym.name and sym.shndx in o.sections:
                symbols.append((sym.name, o.sections[sym.shndx].addr + sym.value, sym.size, 2))
    _write_elf(Path(out), glob[entry], rom_base, bytes(rom), ram_base, bytes(ram),
               marks["__bss_end"] - data_end, symbols)
    return glob


# ------------------------------------------------------------ ELF writer

def _write_elf(out: Path, entry: int, rom_base: int, rom: bytes, ram_base: int, ram: bytes,
               bss: int, symbols: list) -> None:
    """Sections: 1 .text (ROM, the whole image's read-only part), 2 .data,
    3 .bss, 4 .symtab, 5 .strtab, 6 .shstrtab; two PT_LOAD segments."""
    shstr = b"\0.text\0.data\0.bss\0.symtab\0.strtab\0.shstrtab\0"
    def sh_name(n): return shstr.index(n.encode() + b"\0")
    strtab = bytearray(b"\0")
    symtab = bytearray(16)
    for name, a, size, stype in symbols:
        if rom_base <= a < rom_base + len(rom) or (stype == 2 and a == rom_base + len(rom)):
            shndx = 1
        elif ram_base <= a < ram_base + len(ram):
            shndx = 2
        elif ram_base + len(ram) <= a < ram_base + len(ram) + bss:
            shndx = 3
        else:
            shndx = SHN_ABS
        symtab += struct.pack("<IIIBBH", len(strtab), a, size, (STB_GLOBAL << 4) | stype, 0,
                              shndx)
        strtab += name.encode() + b"\0"
    ehsize, phsize, shsize = 52, 32, 40
    off = ehsize + 2 * phsize
    rom_off = _align(off, 16)
    ram_off = _align(rom_off + len(rom), 16)
    sym_off = _align(ram_off + len(ram), 4)
    str_off = sym_off + len(symtab)
    shs_off = str_off + len(strtab)
    sh_off = _align(shs_off + len(shstr), 4)
    ident = b"\x7fELF\x01\x01\x01" + bytes(9)
    head = ident + struct.pack("<HHIIIIIHHHHHH", 2, EM_XTENSA, 1, entry, ehsize, sh_off, 0,
                               ehsize, phsize, 2, shsize, 7, 6)
    ph = struct.pack("<IIIIIIII", 1, rom_off, rom_base, rom_base, len(rom), len(rom), 5, 4)
    ph += struct.pack("<IIIIIIII", 1, ram_off, ram_base, ram_base, len(ram), len(ram) + bss,
                      6, 4)
    sh = bytes(shsize)
    sh += struct.pack("<IIIIIIIIII", sh_name(".text"), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR,
                      rom_base, rom_off, len(rom), 0, 0, 4, 0)
    sh += struct.pack("<IIIIIIIIII", sh_name(".data"), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE,
                      ram_base, ram_off, len(ram), 0, 0, 4, 0)
    sh += struct.pack("<IIIIIIIIII", sh_name(".bss"), SHT_NOBITS, SHF_ALLOC | SHF_WRITE,
                      ram_base + len(ram), ram_off + len(ram), bss, 0, 0, 16, 0)
    sh += struct.pack("<IIIIIIIIII", sh_name(".symtab"), SHT_SYMTAB, 0, 0, sym_off,
                      len(symtab), 5, 1, 4, 16)
    sh += struct.pack("<IIIIIIIIII", sh_name(".strtab"), SHT_STRTAB, 0, 0, str_off,
                      len(strtab), 0, 0, 1, 0)
    sh += struct.pack("<IIIIIIIIII", sh_name(".shstrtab"), SHT_STRTAB, 0, 0, shs_off,
                      len(shstr), 0, 0, 1, 0)
    img = bytearray(sh_off + len(sh))
    img[0:len(head)] = head
    img[ehsize:ehsize + len(ph)] = ph
    img[rom_off:rom_off + len(rom)] = rom
    img[ram_off:ram_off + len(ram)] = ram
    img[sym_off:sym_off + len(symtab)] = symtab
    img[str_off:str_off + len(strtab)] = strtab
    img[shs_off:shs_off + len(shstr)] = shstr
    img[sh_off:] = sh
    out.write_bytes(bytes(img))
