"""Whole-model runs of the C runtime on an LX7 proxy: qemu-system-xtensa -M sim
-cpu de233_fpu (LX7.1.3, windowed registers, 32 physical AR, zero-overhead
loops, MAC16, no MUL32_HIGH), built as the ESP32 `.mpy` code is built:

    clang-22 -> LLVM IR -> llc-22 -mtriple=xtensa -mcpu=esp32 (windowed ABI)
    -> assembly -> llvm-mc-22 -mcpu=esp32 -> object

Every object (runtime, harness, profile wrappers, model data) is built this
way, through ftervit.micropython.xtensa_llvm (the function that builds the
`.mpy`'s objects, with its -Os); lx7_link.py links them (Debian's lx106
linker cannot relocate windowed calls); lx7_crt0.S brings the reset jump,
the window and alloca vectors and emulates MULUH / MULSH, so the code that
runs is what llc emits for the ESP32.

Memory (de233_fpu under -M sim): system RAM 128 MiB at 0, system ROM
32 MiB at 0xfe000000, where the core starts (its reset vector).  Code,
literals, constants and the model file go to ROM; data, heap and stack to
RAM from 0x00100000.

Counts: the profile (insn_profile.c, per_insn=1) counts every executed
instruction by code range.  An instruction that raises a window (or alloca)
exception runs again after the handler; the handler's probe load of EPC1
takes the second count back from that instruction's range (probes=), so
the counts are the program's own.  The window and alloca handlers'
instructions are reported apart (run.window_insns: the ESP32-S3 has 64
physical AR, so it spills less than this 32-register core); the MULUH/MULSH
handler is not counted: on the ESP32-S3 the instruction executes once, and
it is counted once where it trapped (run.traps: how many).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

import build as xbuild          # bench/xtensa/build.py
import lx7_link
import model_build as mb
from ftervit.micropython.xtensa_llvm import compile_c_to_object

HERE = xbuild.HERE
NATIVE = xbuild.NATIVE
CLANG, LLC, LLVM_MC = "clang-22", "llc-22", "llvm-mc-22"
xbuild.TOOL_PACKAGES.setdefault(LLVM_MC, "llvm-22")
CPU = "de233_fpu"
ROM_BASE, RAM_BASE, RAM_TOP = 0xFE000000, 0x00100000, 0x08000000
# window handler symbol -> its instruction count (lx7_crt0.S)
WINDOW_HANDLERS = {"lx7_window_of4": 7, "lx7_window_uf4": 7, "lx7_window_of8": 12,
                   "lx7_window_uf8": 12, "lx7_window_of12": 16, "lx7_window_uf12": 16}
PROBES = tuple("lx7_probe_" + h[len("lx7_window_"):] for h in WINDOW_HANDLERS)
# user-vector pieces counted apart (lx7_crt0.S): every user exception runs
# lx7_user_vector (4), all but alloca ones lx7_user_other (2) too
VECTOR_PARTS = ("lx7_user_vector", "lx7_user_other", "lx7_alloca")
PROFILED = ("model_profile.o",)


# clang flags of the xtensawin build (ftervit.micropython.xtensa_llvm's defaults)
# plus the project's warnings; llc and llvm-mc get that module's ESP32 flags.
CFLAGS = ["-std=c99", "-Os", "-fno-common"] + xbuild.WARN


def compile_c(src: Path, obj: Path, extra=()) -> None:
    """C -> object with the ESP32 pipeline of the xtensawin `.mpy`."""
    compile_c_to_object(src, obj, include_dirs=[NATIVE, HERE], cflags=CFLAGS + list(extra))


def assemble(asm: Path, obj: Path) -> None:
    xbuild.run_checked([xbuild.require(LLVM_MC), "-triple=xtensa", "-mcpu=esp32",
                        "-filetype=obj", asm, "-o", obj])


def assemble_cpp(src: Path, obj: Path) -> None:
    pre = Path(str(obj) + ".s")
    xbuild.run_checked([xbuild.require(CLANG), "--target=xtensa", "-E", "-P",
                        "-x", "assembler-with-cpp", src, "-o", pre])
    assemble(pre, obj)


def build_model_elf(outdir: Path, ftv, ftv_path: Path, mm_scratch: int = 128 * 1024,
                    name: str = "model_lx7", wrap: bool = True, opt: str = "-Os") -> Path:
    """The LX7 image of one model (model_build.write_model_sources' data).
    opt: clang's optimisation level for the runtime (-Os: the `.mpy`'s)."""
    outdir = Path(outdir) / name
    outdir.mkdir(parents=True, exist_ok=True)
    (blob_s,) = mb.write_model_sources(ftv, Path(ftv_path), outdir)
    objs = []
    for src in mb.runtime_sources():
        obj = outdir / (src.stem + ".o")
        compile_c(src, obj, [opt])
        objs.append(obj)
    extra = {
        HERE / "harness.c": ["-fno-builtin"],
        HERE / "model_profile.c": [],
        HERE / "model_main.c": [f"-DBENCH_MM_SCRATCH={int(mm_scratch)}"],
    }
    for src, flags in extra.items():
        obj = outdir / (src.stem + ".o")
        compile_c(src, obj, flags)
        objs.append(obj)
    for src in (HERE / "lx7_crt0.S", blob_s):
        obj = outdir / (src.stem + ".o")
        assemble_cpp(src, obj)
        objs.append(obj)
    elf = outdir / f"{name}.elf"
    lx7_link.link(objs, elf, ROM_BASE, RAM_BASE, RAM_TOP, profiled=PROFILED,
                  wrap=tuple(mb.WRAPPED) if wrap else ())
    return elf


def vector_ranges(funcs: list, addr: dict) -> None:
    """Fit the start code's ranges to the profile (in place): the MULUH/MULSH
    emulation (lx7_trap_start..lx7_trap_end) is not counted (on the ESP32-S3
    the instruction is one instruction, counted once where it trapped), and
    each probe label joins the range of the window handler it is in."""
    lo, hi = addr["lx7_trap_start"], addr["lx7_trap_end"]
    for f in funcs:
        if lo <= f.lo < hi:
            f.profiler = True
    # a probe label is inside its window handler: one range
    for i in range(len(funcs) - 1, 0, -1):
        if funcs[i].name in PROBES:
            funcs[i - 1].hi = funcs[i].hi
            del funcs[i]


def qemu_command(elf: Path, plugin_args: str, log: Path) -> list:
    return [xbuild.require(mb.QEMU), "-M", "sim", "-cpu", CPU, "-m", "128M",
            "-semihosting", "-nographic", "-monitor", "none", "-kernel", str(elf),
            "-plugin", plugin_args, "-d", "plugin", "-D", str(log)]


def run_model(elf: Path, plugin: Path, timeout: float = 600) -> mb.ModelRun:
    """Run an image on de233_fpu under the profile (one count per executed
    instruction, per_insn=1).  run.insns per phase are the program's exact
    counts: the instructions re-executed after a window exception are
    removed, and the exception handling is apart:
      run.window_insns[phase]       spill/refill handlers, alloca handler
      run.window_exceptions[phase]  overflow + underflow exceptions
      run.allocas[phase]            alloca (MOVSP) exceptions among them
      run.traps[phase]              MULUH/MULSH executed (emulated, not in
                                    window_insns; each counted once in insns)"""
    elf = Path(elf)
    funcs, addr = mb.function_table(elf)
    vector_ranges(funcs, addr)
    work = elf.parent
    (work / "funcs.txt").write_text("".join(f"{f.lo:#x} {f.hi:#x}\n" for f in funcs))
    (work / "phases.txt").write_text("".join(f"{addr[f'prof_phase_{i}']:#x}\n"
                                             for i in range(len(mb.PHASES))))
    (work / "probes.txt").write_text("".join(f"{addr[p]:#x}\n" for p in PROBES))
    args = f"{plugin},funcs={work / 'funcs.txt'},phases={work / 'phases.txt'}," \
           f"dump={addr['prof_dump']:#x},per_insn=1,probes={work / 'probes.txt'}"
    log = work / "plugin.log"
    res = subprocess.run(qemu_command(elf, args, log), capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{elf.name} exited {res.returncode}\n{res.stdout[-4000:]}\n"
                           f"{res.stderr[-4000:]}")
    rep = mb.parse_stdout(res.stdout)
    if rep.get("result") is None or "end" not in res.stdout.split():
        raise RuntimeError(f"{elf.name}: incomplete output\n{res.stdout[-4000:]}")
    names = [f.name for f in funcs] + ["(outside any symbol)"]
    excluded = [f.profiler for f in funcs] + [False]
    zero = lambda: {p: 0 for p in mb.PHASES}        # noqa: E731
    insns, window, exceptions, traps, allocas = zero(), zero(), zero(), zero(), zero()
    vector = {name: zero() for name in VECTOR_PARTS}
    by_fn: dict = {p: {} for p in mb.PHASES}
    prof = 0
    split = None
    for line in log.read_text().splitlines():
        f = line.split()
        if f and f[0] == "split_blocks":
            split = int(f[1])
        if not f or f[0] != "fn":
            continue
        ph, fn, n = mb.PHASES[int(f[1])], int(f[2]), int(f[3])
        name = names[fn]
        if name in WINDOW_HANDLERS:
            window[ph] += n
            exceptions[ph] += n // WINDOW_HANDLERS[name]
        elif name in VECTOR_PARTS:
            vector[name][ph] += n
        elif excluded[fn]:
            prof += n
        else:
            insns[ph] += n
            by_fn[ph][name] = by_fn[ph].get(name, 0) + n
    if split is None:
        raise RuntimeError(f"{elf.name}: the plugin printed no profile")
    for ph in mb.PHASES:
        traps[ph] = vector["lx7_user_other"][ph] // 2
        allocas[ph] = vector["lx7_user_vector"][ph] // 4 - traps[ph]
        window[ph] += 4 * allocas[ph] + vector["lx7_alloca"][ph]
    run = mb.ModelRun(stdout=res.stdout,
                      logits=np.array(rep["logits"], np.int64).astype(np.int32),
                      passed=rep["result"] == "PASS", rc=rep["rc"], blob=rep["blob"],
                      image=rep["image"], scratch=rep["scratch"], calls=rep["calls"],
                      plans=rep["plans"], insns=insns, by_function=by_fn,
                      profiler_insns=prof, split_blocks=split)
    run.window_insns, run.window_exceptions = window, exceptions
    run.traps, run.allocas = traps, allocas
    return run


def muluh_sites(elf_dir: Path) -> int:
    """MULUH/MULSH instructions in the runtime's assembly (what the handler emulates)."""
    n = 0
    for src in mb.runtime_sources():
        asm = Path(elf_dir) / (src.stem + ".o.s")
        if asm.exists():
            n += sum(1 for line in asm.read_text().splitlines()
                     if line.strip().startswith(("muluh", "mulsh")))
    return n
