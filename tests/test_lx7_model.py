"""The LX7 proxy (bench/xtensa/lx7_*): the C runtime built with the LLVM
pipeline of the xtensawin `.mpy` (clang-22 IR, llc-22 -mcpu=esp32, windowed
ABI, llvm-mc-22) runs bare-metal on qemu-system-xtensa -cpu de233_fpu, with
MULUH/MULSH emulated in the exception handler.

* the emulated MULUH/MULSH give Python's high words on edge operands;
* the instruction count of a recursion deep enough to spill the register
  window equals the count worked out from its code, so the accounting of
  window exceptions (probe loads in the handlers) is exact;
* two small models (both ternary layouts): logits equal the numpy
  reference's, the count is the same on a second run and with or without
  the profiling wrappers.

Missing tools fail with the package to install (scripts/install_test_deps.sh).
"""
from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench" / "xtensa"))
import build as xbuild  # noqa: E402  (bench/xtensa/build.py)
import lx7_build as lb  # noqa: E402  (bench/xtensa/lx7_build.py)
import lx7_link  # noqa: E402
import model_build as mb  # noqa: E402

from ftervit.micropython.xtensa_llvm import ToolMissing  # noqa: E402
from ftervit.micropython.xtensa_llvm import require as require_llvm  # noqa: E402
from ftervit.pack import integer_model  # noqa: E402
from ftervit.reference import forward  # noqa: E402

OPERANDS = [0, 1, 2, 3, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0x8000FFFF, 0xFFFF0000,
            0xFFFFFFFF, 0x12345678, 0xDEADBEEF]

MUL_C = r"""
#include "harness.h"
static const uint32_t V[] = {%s};
__attribute__((noinline)) static uint32_t hi_u(uint32_t a, uint32_t b)
{ return (uint32_t)(((uint64_t)a * b) >> 32); }
__attribute__((noinline)) static int32_t hi_s(int32_t a, int32_t b)
{ return (int32_t)(((int64_t)a * b) >> 32); }
int main(void)
{
    for (unsigned i = 0; i < sizeof V / sizeof V[0]; i++)
        for (unsigned j = 0; j < sizeof V / sizeof V[0]; j++) {
            hs_put_hex(hi_u(V[i], V[j]));
            hs_puts(" ");
            hs_put_hex((uint32_t)hi_s((int32_t)V[i], (int32_t)V[j]));
            hs_puts("\n");
        }
    return 0;
}
"""

# fib's recursion (depth 17) spills the 32-register window about 700 times.
FIB_C = r"""
#include "harness.h"
__attribute__((noinline)) static unsigned fib(unsigned n)
{ return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__attribute__((noinline)) void prof_phase_0(void) { __asm__ volatile("nop"); }
__attribute__((noinline)) void prof_dump(void) { __asm__ volatile("nop"); }
int main(void)
{
    prof_phase_0();
    unsigned f = fib(FIB_N);
    prof_dump();
    return f == FIB_WANT ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    try:
        for tool in (mb.QEMU, mb.XNM, xbuild.HOST_CC):
            xbuild.require(tool)
        for tool in ("clang-22", "llc-22", "llvm-mc-22"):
            require_llvm(tool)
    except (xbuild.ToolMissing, ToolMissing) as e:
        pytest.fail(str(e))
    return mb.build_profiler(tmp_path_factory.mktemp("plugin"))


def _image(tmp_path: Path, source: str, name: str, cflags=()) -> Path:
    """One C file + harness + start code -> an LX7 image."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    objs = [tmp_path / f"{name}.o", tmp_path / "harness.o", tmp_path / "lx7_crt0.o"]
    lb.compile_c(src, objs[0], list(cflags))
    lb.compile_c(lb.HERE / "harness.c", objs[1], ["-fno-builtin"])
    lb.assemble_cpp(lb.HERE / "lx7_crt0.S", objs[2])
    elf = tmp_path / f"{name}.elf"
    lx7_link.link(objs, elf, lb.ROM_BASE, lb.RAM_BASE, lb.RAM_TOP)
    return elf


def _qemu(elf: Path, plugin_args: str | None = None, log: Path | None = None):
    cmd = [mb.QEMU, "-M", "sim", "-cpu", lb.CPU, "-m", "128M", "-semihosting", "-nographic",
           "-monitor", "none", "-kernel", str(elf)]
    if plugin_args:
        cmd += ["-plugin", plugin_args, "-d", "plugin", "-D", str(log)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_muluh_mulsh_emulation_matches_python(tmp_path):
    elf = _image(tmp_path, MUL_C % ", ".join(f"{v:#x}u" for v in OPERANDS), "mul")
    asm = (tmp_path / "mul.o.s").read_text()
    assert "muluh" in asm and "mulsh" in asm, "llc no longer emits MULUH/MULSH here"
    res = _qemu(elf)
    assert res.returncode == 0, res.stdout + res.stderr

    def signed(v):
        return v - (1 << 32) if v >> 31 else v
    want = [f"{(a * b) >> 32:08x} {((signed(a) * signed(b)) >> 32) & 0xFFFFFFFF:08x}"
            for a in OPERANDS for b in OPERANDS]
    assert res.stdout.splitlines() == want


@lru_cache(None)
def _fib_insns(n: int) -> int:
    """Instructions of fib(n) as llc compiles it: entry, or, movi, bltui, then
    for n < 2 add, retw.n (6); for n >= 2 also l32r, movi, floor(n/2) turns of
    the five-instruction loop calling fib(n-1), fib(n-3), ..., add, retw.n."""
    if n < 2:
        return 6
    turns = n // 2
    return 8 + 5 * turns + sum(_fib_insns(n - 1 - 2 * j) for j in range(turns))


def test_window_exceptions_leave_the_count_exact(tmp_path, plugin):
    n = 17
    elf = _image(tmp_path, FIB_C, "fib", [f"-DFIB_N={n}", "-DFIB_WANT=1597"])
    asm = (tmp_path / "fib.o.s").read_text()
    body = asm[asm.index("fib:"):asm.index(".Lfunc_end", asm.index("fib:"))]
    ops = [ln.split()[0] for ln in body.splitlines()
           if ln.strip() and not ln.strip().startswith(("#", "."))
           and not ln.split()[0].endswith(":")]
    assert ops == ["entry", "or", "movi", "bltui", "l32r", "movi", "addi", "callx8", "add",
                   "addi", "bltu", "add", "retw.n"], f"fib's code changed: {ops}"
    funcs, addr = mb.function_table(elf)
    lb.vector_ranges(funcs, addr)
    (tmp_path / "funcs.txt").write_text("".join(f"{f.lo:#x} {f.hi:#x}\n" for f in funcs))
    (tmp_path / "phases.txt").write_text(f"{addr['prof_phase_0']:#x}\n")
    (tmp_path / "probes.txt").write_text("".join(f"{addr[p]:#x}\n" for p in lb.PROBES))
    base = f"{plugin},funcs={tmp_path / 'funcs.txt'},phases={tmp_path / 'phases.txt'}," \
           f"dump={addr['prof_dump']:#x},per_insn=1"
    names = [f.name for f in funcs] + ["other"]

    def counts(args):
        log = tmp_path / "plugin.log"
        res = _qemu(elf, args, log)
        assert res.returncode == 0, res.stdout + res.stderr
        out = {}
        for line in log.read_text().splitlines():
            f = line.split()
            if f and f[0] == "fn":
                out[names[int(f[2])]] = out.get(names[int(f[2])], 0) + int(f[3])
        return out

    exact = counts(base + f",probes={tmp_path / 'probes.txt'}")
    raw = counts(base)
    spills = exact.get("lx7_window_of8", 0) // lb.WINDOW_HANDLERS["lx7_window_of8"]
    assert spills > 100, "the recursion no longer overflows the register window"
    assert raw["fib"] > _fib_insns(n), "window exceptions no longer re-execute an instruction"
    assert exact["fib"] == _fib_insns(n)


# (timm model, layout, timm arguments): the Fashion-MNIST shape cut to one
# block (class-token position row, no LayerScale, 1 channel), and a DeiT-III
# geometry (no class position row, LayerScale, 3 channels, 7 classes).
MODELS = {
    "micro-depth1-tern3": ("ftervit_micro_patch4_28", "tern3", dict(depth=1)),
    "deit3-32px-tern2": ("ftervit_small_patch16_224", "tern2",
                         dict(img_size=32, patch_size=8, depth=1, embed_dim=96, num_heads=3,
                              num_classes=7)),
}


@pytest.mark.parametrize("key", list(MODELS))
def test_small_model_logits_and_stable_count(key, plugin, tmp_path):
    name, layout, kwargs = MODELS[key]
    path = tmp_path / f"{key}.ftv"
    ftv = mb.make_ftv(name, layout, path, **kwargs)
    want = forward(integer_model(ftv), ftv.golden_input()).astype(np.int32)
    assert np.array_equal(want, ftv.golden.logits) and np.any(want != 0)

    elf = lb.build_model_elf(tmp_path, ftv, path, name=key)
    asm = "".join(p.read_text() for p in (tmp_path / key).glob("ftv_*.o.s"))
    assert "muluh" in asm or "mulsh" in asm, "the runtime no longer uses MUL32_HIGH"
    run = lb.run_model(elf, plugin)
    assert run.rc == 0
    assert np.array_equal(run.logits, want), (
        f"LX7 logits {run.logits.tolist()} != numpy reference {want.tolist()}")
    assert run.passed
    assert run.insns["UNEXPECTED"] == 0
    assert all(run.insns[p] > 0 for p in ("MM_QKV", "MM_FC1", "ATTN", "LN_BLOCK", "GELU"))
    assert sum(run.traps.values()) > 0, "no MULUH/MULSH executed"
    assert sum(run.window_exceptions.values()) > 0, "no window spill in a whole forward pass"

    again = lb.run_model(elf, plugin)
    assert again.insns == run.insns, "instruction counts differ between two identical runs"
    plain = lb.run_model(lb.build_model_elf(tmp_path, ftv, path, name=key + "_plain",
                                            wrap=False), plugin)
    assert np.array_equal(plain.logits, want)
    assert plain.total == run.total, (
        f"wrappers changed the runtime's count: {plain.total} != {run.total}")
