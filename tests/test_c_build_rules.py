"""The operator, model, frame and binder sources (ftv_ops_*.c, ftv_model.c,
ftv_frame.c, ftv_bind.c) compile warning-free as strict C99 with the host gcc and
with no floating point, and on Xtensa lx106 call nothing but memset/memcpy/memmove,
the library's own ftv_* functions and libgcc's 64-bit multiply (no division, no
soft float); the frame kernel and the binder also build for the ESP32 (xtensawin)
through LLVM with no writable data, as the natmod linker requires."""
import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parents[1] / "native_module"
OURS = ["ftv_ops_ref.c", "ftv_ops_fast.c", "ftv_model.c", "ftv_frame.c", "ftv_bind.c"]
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


def _llvm_tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"no {name} (scripts/install_test_deps.sh installs clang-22 and llvm-22)")
    return path


ESP32_SOURCES = {  # source -> functions it must define
    "ftv_frame.c": ("ftv_frame_to_image", "ftv_frame_to_image_ref", "ftv_frame_to_image_fast"),
    "ftv_bind.c": ("ftv_bind", "ftv_bind_strerror", "ftv_bind_tensor_name", "ftv_crc32",
                    "ftv_xorshift32_fill"),
}


@pytest.mark.parametrize("source", list(ESP32_SOURCES))
@pytest.mark.parametrize("defines", [[], ["-DFTV_FORCE_REF"]])
def test_kernel_builds_for_xtensawin_through_llvm(tmp_path, defines, source):
    clang, llc = _llvm_tool("clang-22"), _llvm_tool("llc-22")
    mc, nm = _llvm_tool("llvm-mc-22"), _llvm_tool("llvm-nm-22")
    ir, asm, obj = tmp_path / "f.ll", tmp_path / "f.s", tmp_path / "f.o"
    _cc(clang, ["--target=xtensa", "-nostdlibinc", "-isystem", "/usr/lib/xtensa-lx106-elf/include",
                "-std=c99", "-O2", "-ffreestanding", "-Wall", "-Wextra", "-Werror", "-S",
                "-emit-llvm"] + defines, NATIVE / source, ir)
    _cc(llc, ["-mtriple=xtensa", "-mcpu=esp32", "-relocation-model=static", "-O2",
              "-filetype=asm"], ir, asm)
    _cc(mc, ["-triple=xtensa", "-mcpu=esp32", "-filetype=obj"], asm, obj)
    problems = []
    for line in subprocess.run([nm, str(obj)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        kind, sym = line.split()[-2:]
        if kind == "U" and sym not in ALLOWED and not sym.startswith("ftv_"):
            problems.append(f"calls {sym}")
        if kind in "DdBbCG":
            problems.append(f"writable data {sym}")
    assert not problems, "\n".join(problems)
    defined = subprocess.run([nm, "--defined-only", str(obj)], capture_output=True, text=True,
                             check=True).stdout
    for name in ESP32_SOURCES[source]:
        assert f" T {name}\n" in defined
