"""Whole-model runs of the C runtime bare-metal on qemu-system-xtensa (lx106).

Used by bench/bench_xtensa_model.py and tests/test_xtensa_model.py:

* make_ftv()         - a random FTerViT of a timm config, packed to a `.ftv`
                       (its golden vector: the numpy reference's logits)
* build_model_elf()  - every native_module/*.c (MicroPython binding files
                       excepted) + model_main.c + the `.ftv` linked into one
                       image, gcc -O2 -Wall -Wextra -Werror, operator calls
                       wrapped for the phase profile (model_profile.h)
* build_profiler()   - the QEMU plugin insn_profile.c
* run_model()        - runs the image under QEMU with the plugin: logits,
                       PASS/FAIL against the golden logits, executed
                       instructions per phase and function, the operator
                       call log with each matmul's plan, and optionally the
                       bytes loaded/stored per memory region and phase
* memory_regions()   - the buffers of a run (model file, image, ftv_forward's
                       activation buffers, matmul scratch) from its call log
* source_ranges()    - code cut by source function, inlined helpers apart

Memory: QEMU 7.2's sim machine with -cpu lx106 maps 64 MiB of system ROM at
0x50000000 and system RAM at 0x60000000 sized by -m (default 128 MiB).
model.ld puts code and every constant (the model file included) in the ROM
and data, heap (ftv_forward's scratch) and stack in 128 MiB of RAM: the
4.7 MB DeiT-III-S file and its 2.3 MB of scratch fit with room to spare.

Every tool is required: a missing one raises build.ToolMissing naming the
Debian package.
"""
from __future__ import annotations

import bisect
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import build as xbuild  # bench/xtensa/build.py (same directory)

HERE = xbuild.HERE
NATIVE = xbuild.NATIVE
XNM = xbuild.XNM
XOBJDUMP = "xtensa-lx106-elf-objdump"
XADDR2LINE = "xtensa-lx106-elf-addr2line"
for _tool in (XOBJDUMP, XADDR2LINE):
    xbuild.TOOL_PACKAGES.setdefault(_tool, "binutils-xtensa-lx106")
QEMU = xbuild.QEMU
RAM_MIB = 128                   # -m: the sim machine's system RAM (model.ld assumes it)

# Operators ftv_forward calls in other object files, wrapped by model_profile.c.
WRAPPED = ["ftv_matmul_tern2_lut", "ftv_matmul_tern3_lut",
           "ftv_requant_ref", "ftv_requant_fast", "ftv_requant_add_ref", "ftv_requant_add_fast",
           "ftv_layer_norm_quantize_ref", "ftv_layer_norm_quantize_fast",
           "ftv_quantize_rows_ref", "ftv_quantize_rows_fast", "ftv_gelu_ref", "ftv_gelu_fast",
           "ftv_attention_ref", "ftv_attention_fast", "ftv_patch_gather_ref",
           "ftv_unpack_ternary_ref"]


def _enum(prefix: str) -> list[str]:
    """The names of model_profile.h's enum whose members start with prefix_."""
    text = re.sub(r"/\*.*?\*/", "", (HERE / "model_profile.h").read_text(), flags=re.S)
    for body in re.findall(r"enum\s*\{(.*?)\}", text, flags=re.S):
        names = [n.strip() for n in body.split(",") if n.strip()]
        if names and names[0].startswith(prefix + "_"):
            return [n[len(prefix) + 1:] for n in names]
    raise RuntimeError(f"model_profile.h: no enum of {prefix}_ names")


PHASES = [p for p in _enum("PH") if p != "COUNT"]
OPS = _enum("OP")


def require_tools() -> None:
    """Raise build.ToolMissing (naming the Debian package) unless every tool is here."""
    for tool in (xbuild.XCC, XNM, XOBJDUMP, XADDR2LINE, QEMU, xbuild.HOST_CC):
        xbuild.require(tool)


# ------------------------------------------------------------------ models

def make_ftv(model_name: str, layout: str, path: Path, seed: int = 0, **kwargs):
    """Pack timm model `model_name` (random weights, `kwargs` to timm) to `path`;
    returns the file as read back (ftervit.ftv.FtvModel)."""
    import timm
    import torch

    import ftervit.models  # noqa: F401  (registers the ftervit_* models)
    from ftervit.pack import pack_model
    from ftervit.testing import perturb
    torch.manual_seed(seed)
    model = perturb(timm.create_model(model_name, **kwargs), seed + 1)
    return pack_model(model, path, layout)


# ------------------------------------------------------------------- build

def runtime_sources() -> list[Path]:
    """native_module/*.c except MicroPython binding files (those include py/ headers)."""
    out = []
    for src in sorted(NATIVE.glob("*.c")):
        if re.search(r'#\s*include\s*[<"]py/', src.read_text(errors="replace")):
            continue
        out.append(src)
    return out


def write_model_sources(ftv, ftv_path: Path, outdir: Path) -> list[Path]:
    """model_blob.S: the file (which model_main.c binds with ftv_bind), the golden
    input image and the golden logits."""
    if ftv.golden is None:
        raise ValueError(f"{ftv_path}: no golden vector to check against")
    image = np.ascontiguousarray(ftv.golden_input(), np.uint8)
    (outdir / "image.bin").write_bytes(image.tobytes())
    (outdir / "expect.bin").write_bytes(np.asarray(ftv.golden.logits, "<i4").tobytes())
    blob = f"""/* Generated by bench/xtensa/model_build.py: the model file, the golden
 * input image and the golden logits, as read-only data. */
    .section .rodata.bench_blob, "a"
    .balign 16
    .global bench_blob, bench_blob_end, bench_image, bench_image_end, bench_expect
bench_blob:
    .incbin "{Path(ftv_path).resolve()}"
bench_blob_end:
    .balign 16
bench_image:
    .incbin "{(outdir / 'image.bin').resolve()}"
bench_image_end:
    .balign 16
bench_expect:
    .incbin "{(outdir / 'expect.bin').resolve()}"
"""
    (outdir / "model_blob.S").write_text(blob)
    return [outdir / "model_blob.S"]


def build_model_elf(outdir: Path, ftv, ftv_path: Path, mm_scratch: int = 128 * 1024,
                    name: str = "model", debug: bool = False, wrap: bool = True) -> Path:
    """The bare-metal image of one model (see module doc).  debug: compile the
    runtime with -g as well, for source_ranges (gcc's Xtensa back end then
    emits slightly different code: compare counts before trusting them).
    wrap=False: no operator wrappers (the whole forward pass is one phase,
    CONTROL), to check that wrapping changes no count."""
    require_tools()
    outdir = Path(outdir) / name
    outdir.mkdir(parents=True, exist_ok=True)
    (blob_s,) = write_model_sources(ftv, Path(ftv_path), outdir)
    objs = []
    for src in runtime_sources():
        obj = outdir / (src.stem + ".o")
        xbuild.xtensa_compile(src, obj, ["-g"] if debug else [])
        objs.append(obj)
    extra = {
        HERE / "harness.c": ["-fno-builtin", "-fno-tree-loop-distribute-patterns"],
        HERE / "model_profile.c": ["-fno-ipa-icf"],
        HERE / "muldi3.c": [],
        HERE / "model_main.c": [f"-DBENCH_MM_SCRATCH={int(mm_scratch)}"],
    }
    for src, flags in extra.items():
        obj = outdir / (src.stem + ".o")
        xbuild.xtensa_compile(src, obj, flags)
        objs.append(obj)
    for src in (HERE / "crt0.S", blob_s):
        obj = outdir / (src.stem + ".o")
        xbuild.run_checked([xbuild.XCC, "-mtext-section-literals", "-c", src, "-o", obj])
        objs.append(obj)
    elf = outdir / f"{name}.elf"
    wraps = [f"-Wl,--wrap={w}" if wrap else f"-Wl,--defsym=__real_{w}={w}" for w in WRAPPED]
    xbuild.run_checked([xbuild.XCC, "-nostdlib", "-T", HERE / "model.ld"] + wraps + objs
                       + ["-lgcc", "-o", elf])
    return elf


def build_profiler(outdir: Path) -> Path:
    xbuild.require(xbuild.HOST_CC)
    so = Path(outdir) / "insn_profile.so"
    xbuild.run_checked([xbuild.HOST_CC, "-O2", "-shared", "-fPIC"] + xbuild.WARN
                       + ["-o", so, HERE / "insn_profile.c"])
    return so


def unwrapped_calls(elf_dir: Path) -> list[str]:
    """ftv_* functions ftv_model.o calls that no wrapper covers (their time lands
    in the control phase): should be only helpers such as ftv_udiv64."""
    out = xbuild.run_checked([xbuild.require(XNM), "-u", Path(elf_dir) / "ftv_model.o"]).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith("ftv_") and n not in WRAPPED]


# --------------------------------------------------------------------- run

@dataclass
class Function:
    lo: int
    hi: int
    name: str
    profiler: bool      # part of model_profile.o (wrappers, markers): not counted


def function_table(elf: Path) -> tuple[list[Function], dict]:
    """Text symbols as disjoint, sorted ranges, and every symbol's address."""
    out = xbuild.run_checked([xbuild.require(XNM), "-S", "-n", "--defined-only", elf]).stdout
    syms, addr = [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            a, size, kind, name = int(f[0], 16), int(f[1], 16), f[2], f[3]
        elif len(f) == 3:
            a, size, kind, name = int(f[0], 16), None, f[1], f[2]
        else:
            continue
        addr[name] = a
        if kind in "TtWw":
            syms.append((a, size, name))
    lo_p, hi_p = addr["__prof_text_start"], addr["__prof_text_end"]
    syms.sort(key=lambda s: (s[0], -(s[1] or 0)))
    funcs: list[Function] = []
    for i, (a, size, name) in enumerate(syms):
        if funcs and funcs[-1].lo == a:
            continue                                    # an alias
        nxt = next((s[0] for s in syms[i + 1:] if s[0] > a), a + (size or 4))
        hi = min(a + size, nxt) if size else nxt
        funcs.append(Function(a, max(hi, a + 1), name, lo_p <= a < hi_p))
    return funcs, addr


def source_ranges(elf: Path, funcs: list[Function], addr: dict) -> list[Function]:
    """Functions cut into runs of instructions by the source function they come
    from: "f" for f's own code, "f/g" for code of g inlined into f (g the
    outermost inlined call; an image built with debug=True has the line
    tables this needs)."""
    start, stop = min(f.lo for f in funcs), addr["__prof_text_start"]
    dis = xbuild.run_checked([xbuild.require(XOBJDUMP), "-d", "--no-show-raw-insn",
                              f"--start-address={start:#x}", f"--stop-address={stop:#x}",
                              elf]).stdout
    pcs = [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\t", dis, re.M)]
    out = xbuild.run_checked([xbuild.require(XADDR2LINE), "-e", elf, "-a", "-f", "-i"],
                             input="".join(f"{pc:#x}\n" for pc in pcs)).stdout.splitlines()
    chains, i = {}, 0
    while i < len(out):
        pc, i = int(out[i], 16), i + 1
        chain = []
        while i < len(out) and not out[i].startswith("0x"):
            chain.append(out[i])
            i += 2                                      # name, file:line
        chains[pc] = chain
    def label(f: Function, pc: int) -> str:
        chain = [c for c in chains.get(pc, []) if c != "??"]
        return f"{f.name}/{chain[-2]}" if len(chain) >= 2 and chain[-1] == f.name else f.name

    pcs.sort()
    ranges: list[Function] = []
    for f in funcs:
        if f.profiler or f.lo >= stop:
            ranges.append(f)
            continue
        inside = pcs[bisect.bisect_left(pcs, f.lo):bisect.bisect_left(pcs, f.hi)] or [f.lo]
        lo, cur = f.lo, label(f, inside[0])
        for pc in inside[1:]:
            lab = label(f, pc)
            if lab != cur:
                ranges.append(Function(lo, pc, cur, False))
                lo, cur = pc, lab
        ranges.append(Function(lo, f.hi, cur, False))
    return ranges


@dataclass
class ModelRun:
    stdout: str
    logits: np.ndarray
    passed: bool
    rc: int
    blob: tuple
    image: tuple
    scratch: dict
    calls: list
    plans: dict                                     # call index -> plan dict
    insns: dict                                     # phase -> instructions
    by_function: dict                               # phase -> {function: instructions}
    profiler_insns: int                             # wrapper/marker instructions (excluded)
    split_blocks: int
    mem: dict = field(default_factory=dict)         # (phase, region) -> (load, store) bytes

    @property
    def total(self) -> int:
        return sum(v for p, v in self.insns.items() if p != "OUTSIDE")


def _hex(s: str) -> int:
    return int(s, 16)


def _signed(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def parse_stdout(stdout: str) -> dict:
    rep = {"logits": [], "calls": [], "plans": {}, "result": None}
    for line in stdout.splitlines():
        f = line.split()
        if not f:
            continue
        tag, vals = f[0], f[1:]
        if tag in ("blob", "image"):
            rep[tag] = tuple(_hex(v) for v in vals)
        elif tag == "scratch":
            a, n, fixed, mm, default = (_hex(v) for v in vals)
            rep["scratch"] = dict(addr=a, bytes=n, fixed=fixed, matmul=mm, default=default)
        elif tag == "bind":
            rep["bind"] = (_signed(_hex(vals[0])), _signed(_hex(vals[1])))
        elif tag == "rc":
            rep["rc"] = _signed(_hex(vals[0]))
        elif tag == "l":
            rep["logits"].append(_signed(_hex(vals[0])))
        elif tag == "result":
            rep["result"] = vals[0]
        elif tag == "call":
            v = [_hex(x) for x in vals]
            rep["calls"].append(dict(phase=PHASES[v[0]] if v[0] < len(PHASES) else str(v[0]),
                                     op=OPS[v[1]], n=[_signed(x) for x in v[2:5]], p=v[5:10]))
        elif tag == "ncalls":
            rep["ncalls"] = _hex(vals[0])
        elif tag == "plan":
            v = [_hex(x) for x in vals]
            rep["plans"][v[0]] = dict(rc=_signed(v[1]), path=v[2], rows_per_block=v[3],
                                      blocks=v[4], chunks_per_slab=v[5], slabs=v[6],
                                      scratch_used=v[7], w_bytes=v[8], x_bytes=v[9],
                                      out_read_bytes=v[10])
            last = v[0]
        elif tag == "planw":
            rep["plans"][last]["out_write_bytes"] = _hex(vals[0])
    return rep


def run_model(elf: Path, plugin: Path, regions: list | None = None,
              by_source: bool = False, timeout: float = 3600) -> ModelRun:
    """Run an image; regions: [(name, lo, hi)] to count memory traffic in (slow);
    by_source: count per source function, inlined ones apart (source_ranges)
    rather than per symbol."""
    require_tools()
    elf = Path(elf)
    funcs, addr = function_table(elf)
    if by_source:
        funcs = source_ranges(elf, funcs, addr)
    work = elf.parent
    (work / "funcs.txt").write_text("".join(f"{f.lo:#x} {f.hi:#x}\n" for f in funcs))
    (work / "phases.txt").write_text("".join(f"{addr[f'prof_phase_{i}']:#x}\n"
                                             for i in range(len(PHASES))))
    args = f"{plugin},funcs={work / 'funcs.txt'},phases={work / 'phases.txt'}," \
           f"dump={addr['prof_dump']:#x}"
    if regions is not None:
        (work / "regions.txt").write_text("".join(f"{lo:#x} {hi:#x}\n"
                                                  for _, lo, hi in regions))
        args += f",regions={work / 'regions.txt'}"
    log = work / "plugin.log"
    res = subprocess.run(
        [xbuild.require(QEMU), "-M", "sim", "-cpu", "lx106", "-m", f"{RAM_MIB}M",
         "-semihosting", "-nographic", "-monitor", "none", "-kernel", str(elf),
         "-plugin", args, "-d", "plugin", "-D", str(log)],
        capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"{elf.name} exited {res.returncode}\n{res.stdout[-4000:]}\n"
                           f"{res.stderr[-4000:]}\n{tail}")
    rep = parse_stdout(res.stdout)
    if rep.get("result") is None or "end" not in res.stdout.split():
        raise RuntimeError(f"{elf.name}: incomplete output\n{res.stdout[-4000:]}")
    insns = {p: 0 for p in PHASES}
    by_fn: dict = {p: {} for p in PHASES}
    prof = 0
    mem = {}
    split = None
    names = [f.name for f in funcs] + ["(outside any symbol)"]
    profiler = [f.profiler for f in funcs] + [False]
    for line in log.read_text().splitlines():
        f = line.split()
        if f and f[0] == "fn":
            ph, fn, n = PHASES[int(f[1])], int(f[2]), int(f[3])
            if profiler[fn]:
                prof += n
                continue
            insns[ph] += n
            by_fn[ph][names[fn]] = by_fn[ph].get(names[fn], 0) + n
        elif f and f[0] == "mem":
            ph, r = PHASES[int(f[1])], int(f[2])
            rname = regions[r][0] if regions is not None and r < len(regions) else "other"
            mem[(ph, rname)] = (int(f[3]), int(f[4]))
        elif f and f[0] == "split_blocks":
            split = int(f[1])
    if split is None:
        raise RuntimeError(f"{elf.name}: the plugin printed no profile\n{log.read_text()[-2000:]}")
    if rep["ncalls"] > len(rep["calls"]):
        raise RuntimeError(f"{elf.name}: call log truncated ({rep['ncalls']} calls)")
    return ModelRun(stdout=res.stdout, logits=np.array(rep["logits"], np.int64).astype(np.int32),
                    passed=rep["result"] == "PASS", rc=rep["rc"], blob=rep["blob"],
                    image=rep["image"], scratch=rep["scratch"], calls=rep["calls"],
                    plans=rep["plans"], insns=insns, by_function=by_fn, profiler_insns=prof,
                    split_blocks=split, mem=mem)


def memory_regions(run: ModelRun) -> list:
    """The buffers of a finished run as (name, lo, hi), from its call log: the model
    file, the image, ftv_forward's fixed buffers and the matmul scratch."""
    calls = run.calls
    first = {}
    for c in calls:
        first.setdefault((c["op"], c["phase"]), c)
    ln = first[("LN_QUANT", "LN_BLOCK")]
    x, codes, row_a = ln["p"][1], ln["p"][0], ln["p"][2]
    wide = first[("MATMUL", "MM_QKV")]["p"][2]
    narrow = first[("ATTENTION", "ATTN")]["p"][0]
    mm = first[("MATMUL", "MM_QKV")]["p"][3]
    mm_end = mm + first[("MATMUL", "MM_QKV")]["p"][4]
    if not x < wide < narrow < codes < row_a < mm:
        raise RuntimeError("ftv_forward's scratch layout is not the one assumed here "
                           f"(x {x:#x}, wide {wide:#x}, narrow {narrow:#x}, codes {codes:#x}, "
                           f"row scales {row_a:#x}, matmul {mm:#x})")
    b, nb = run.blob
    i, ni = run.image
    s = run.scratch
    return [("weights", b, b + nb), ("image", i, i + ni),
            ("x", x, wide), ("wide", wide, narrow), ("narrow", narrow, codes),
            ("codes", codes, row_a), ("small", row_a, mm), ("mm_scratch", mm, mm_end),
            ("scratch_rest", mm_end, s["addr"] + s["bytes"])]
