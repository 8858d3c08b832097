"""Build and run the bare-metal Xtensa (lx106) benchmark images.

Used by bench/bench_xtensa_matmul.py and tests/test_matmul_kernels.py:

* build_plugin()  - the QEMU TCG plugin insn_count.c (host gcc, shared object)
* build_image()   - bench_main.c + the kernels for one shape, for the
                    qemu-system-xtensa sim machine (lx106, call0 ABI)
* build_host()    - the same program for the host, for reference checksums
  (both take main= and sources= for another program: frame_main.c with
  FRAME_SOURCES counts the camera-frame kernel)
* run_image()     - runs an image under QEMU with the plugin; returns the
                    parsed report with the instruction count of each kernel

Every tool is required: a missing one raises ToolMissing naming the
Debian package (scripts/install_test_deps.sh installs them all).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NATIVE = REPO / "native_module"

XCC = "xtensa-lx106-elf-gcc"
XNM = "xtensa-lx106-elf-nm"
QEMU = "qemu-system-xtensa"
HOST_CC = "gcc"
CLANG = "clang-22"
LLC = "llc-22"
PICOLIBC_INCLUDE = "/usr/lib/xtensa-lx106-elf/include"   # string.h for the clang check

TOOL_PACKAGES = {
    XCC: "gcc-xtensa-lx106", XNM: "binutils-xtensa-lx106",
    QEMU: "qemu-system-misc", HOST_CC: "gcc", CLANG: "clang-22", LLC: "llvm-22",
    "xtensa-lx106-elf-objdump": "binutils-xtensa-lx106",
}

WARN = ["-Wall", "-Wextra", "-Werror"]
XTENSA_CFLAGS = ["-std=c99", "-O2", "-mtext-section-literals", "-ffreestanding"] + WARN
# clang-22's driver rejects -mcpu=esp32 for --target=xtensa (its backend
# knows the CPU), so the ESP32 check is: clang front end -> LLVM IR ->
# llc -mcpu=esp32 (windowed ABI) -> assembly.  (LLVM's integrated Xtensa
# assembler still fails on literal fixups, so no object file.)
CLANG_XTENSA_FLAGS = ["--target=xtensa", "-nostdlibinc", "-isystem", PICOLIBC_INCLUDE,
                      "-std=c99", "-O2", "-ffreestanding"] + WARN
KERNEL_SOURCES = ["ftv_matmul_ref.c", "ftv_matmul_lut.c", "ftv_util.c"]
# lx106's libgcc lacks __muldi3, which the frame kernel's reciprocal divide needs
FRAME_SOURCES = ["ftv_frame.c", "ftv_util.c", HERE / "muldi3.c"]


def _source_paths(sources) -> list:
    """Names are native_module/ files; Paths are taken as they are."""
    return [s if isinstance(s, Path) else NATIVE / s for s in sources]


class ToolMissing(RuntimeError):
    pass


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(
            f"{tool} not found: install Debian package {TOOL_PACKAGES.get(tool, tool)} "
            f"(scripts/install_test_deps.sh does)")
    return path


def run_checked(cmd, **kw) -> subprocess.CompletedProcess:
    """Run `cmd`, capturing its output; a failure raises with the command and the
    output's last 4,000 characters of each stream."""
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def _defines(shape: dict) -> list[str]:
    return [f"-D{k}={v}" for k, v in shape.items()]


def build_plugin(outdir: Path) -> Path:
    require(HOST_CC)
    so = Path(outdir) / "insn_count.so"
    run_checked([HOST_CC, "-O2", "-shared", "-fPIC"] + WARN + ["-o", so, HERE / "insn_count.c"])
    return so


def xtensa_compile(src: Path, obj: Path, extra=()) -> None:
    require(XCC)
    run_checked([XCC] + XTENSA_CFLAGS + ["-I", NATIVE, "-I", HERE] + list(extra)
                + ["-c", src, "-o", obj])


def clang_esp32_check(src: Path, asm_out: Path) -> None:
    """Compile src with clang-22 for Xtensa and generate ESP32 assembly."""
    ll = Path(str(asm_out) + ".ll")
    run_checked([require(CLANG)] + CLANG_XTENSA_FLAGS
                + ["-I", NATIVE, "-S", "-emit-llvm", src, "-o", ll])
    run_checked([require(LLC), "-mcpu=esp32", "-O2", "-filetype=asm", ll, "-o", asm_out])


def build_image(outdir: Path, shape: dict, name: str = "bench", main: str = "bench_main.c",
                sources=KERNEL_SOURCES) -> Path:
    """shape: BENCH_N_TOK, BENCH_K, BENCH_N_OUT, BENCH_SCRATCH (+ optional BENCH_SKIP_SLOW),
    or the -D values another main program takes."""
    outdir = Path(outdir) / name
    outdir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in _source_paths(sources):
        obj = outdir / (src.stem + ".o")
        xtensa_compile(src, obj)
        objs.append(obj)
    # The harness implements memcpy/memset itself: keep gcc from turning
    # those loops back into calls to themselves.
    obj = outdir / "harness.o"
    xtensa_compile(HERE / "harness.c", obj, ["-fno-builtin", "-fno-tree-loop-distribute-patterns"])
    objs.append(obj)
    obj = outdir / (Path(main).stem + ".o")
    xtensa_compile(HERE / main, obj, _defines(shape))
    objs.append(obj)
    crt0 = outdir / "crt0.o"
    run_checked([XCC, "-mtext-section-literals", "-c", HERE / "crt0.S", "-o", crt0])
    elf = outdir / f"{name}.elf"
    run_checked([XCC, "-nostdlib", "-T", HERE / "sim.ld", crt0] + objs + ["-lgcc", "-o", elf])
    return elf


def build_host(outdir: Path, shape: dict, name: str = "bench_host", main: str = "bench_main.c",
               sources=KERNEL_SOURCES) -> Path:
    require(HOST_CC)
    exe = Path(outdir) / name
    run_checked([HOST_CC, "-std=c99", "-O2"] + WARN + ["-I", NATIVE, "-I", HERE] + _defines(shape)
                + [HERE / main, HERE / "host_shim.c"]
                + _source_paths(sources) + ["-o", exe])
    return exe


def _symbol(elf: Path, name: str) -> str:
    out = run_checked([require(XNM), elf]).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return "0x" + parts[0]
    raise RuntimeError(f"{name} not in {elf}")


def parse_report(stdout: str, counts: list[int] | None = None) -> dict:
    """{'shape': (...), 'kernels': {name: {'rc', 'checksum', 'insns'}}, 'lut': {...}}.
    insns is the marked-region count minus the empty region's."""
    rep = {"kernels": {}, "lut": {}}
    names = []
    for line in stdout.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "shape":
            rep["shape"] = tuple(int(v) for v in f[1:])
        elif f[0] == "kernel":
            names.append(f[1])
            rep["kernels"][f[1]] = {"rc": int(f[3]), "checksum": f[5]}
        elif f[0] == "lut":
            rep["lut"][f[1]] = {f[i]: int(f[i + 1]) for i in range(2, len(f), 2)}
    if counts is not None:
        if len(counts) != len(names):
            raise RuntimeError(f"{len(counts)} counted regions for {len(names)} kernels")
        empty = counts[names.index("empty")]
        for name, c in zip(names, counts):
            rep["kernels"][name]["insns"] = c - empty
    return rep


def run_image(elf: Path, plugin: Path, timeout: float = 600) -> dict:
    require(QEMU)
    log = Path(str(elf) + ".plugin.log")
    start, stop = _symbol(elf, "bench_mark_start"), _symbol(elf, "bench_mark_stop")
    res = subprocess.run(
        [require(QEMU), "-M", "sim", "-cpu", "lx106", "-semihosting", "-nographic",
         "-monitor", "none", "-kernel", str(elf),
         "-plugin", f"{plugin},start={start},stop={stop}", "-d", "plugin", "-D", str(log)],
        capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{elf.name} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    counts = [int(line.split()[1]) for line in log.read_text().splitlines()
              if line.startswith("insn_count ")]
    return parse_report(res.stdout, counts)


def run_host(exe: Path) -> dict:
    return parse_report(run_checked([exe]).stdout)
