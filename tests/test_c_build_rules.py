"""The operator, model and binder sources (ftv_ops_*.c, ftv_model.c, ftv_bind.c)
compile warning-free as strict C99 with the host gcc and with no floating point, and on Xtensa
lx106 call nothing but memset/memcpy/memmove, the library's own ftv_*
functions and libgcc's 64-bit multiply (no division, no soft float)."""
import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[1] / "native_module"
OURS = ["ftv_ops_ref.c", "ftv_ops_fast.c", "ftv_model.c", "ftv_bind.c"]
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c"]
ALLOWED = {"memset", "memcpy", "memmove", "__muldi3"}


def _cc(compiler, args, src, obj):
    res = subprocess.run([compiler, *args, str(src), "-o", str(obj)], capture_output=True,
                         text=True, cwd=NATIVE)
    assert res.returncode == 0, f"{compiler} {src.name}:\n{res.stderr}"


@pytest.mark.parametrize("defines", [[], ["-DFTV_OPS_REF_ONLY", "-DFTV_FORCE_REF"]])
def test_host_gcc_strict_and_float_free(tmp_path, defines):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    machine = subprocess.run([gcc, "-dumpmachine"], capture_output=True, text=True).stdout
    nofloat = ["-mgeneral-regs-only"] if machine.startswith(("x86_64", "i686", "aarch64")) else []
    for name in OURS:
        _cc(gcc, WARN + nofloat + defines, NATIVE / name, tmp_path / (name + ".o"))


def test_xtensa_objects_call_only_what_the_rules_allow(tmp_path):
    xcc, xnm = shutil.which("xtensa-lx106-elf-gcc"), shutil.which("xtensa-lx106-elf-nm")
    if xcc is None or xnm is None:
        pytest.skip("no xtensa-lx106-elf toolchain (scripts/install_test_deps.sh)")
    problems = []
    for name in OURS:
        obj = tmp_path / (name + ".o")
        _cc(xcc, WARN + ["-mtext-section-literals"], NATIVE / name, obj)
        for line in subprocess.run([xnm, str(obj)], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            kind, sym = line.split()[-2:]
            if kind == "U" and sym not in ALLOWED and not sym.startswith("ftv_"):
                problems.append(f"{name}: calls {sym}")
            if kind in "DdBbCG":
                problems.append(f"{name}: writable data {sym}")
    assert not problems, "\n".join(problems)
