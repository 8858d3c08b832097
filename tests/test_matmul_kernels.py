"""The ternary matmul kernels (native_module/ftv_matmul_*.c), compiled with the
host gcc through the driver tests/c/test_matmul.c:

* every optimized kernel equals its `_ref` twin and a numpy computation of
  the semantics, exactly, on random and extreme inputs of odd, prime and
  degenerate sizes, both packed layouts, several scratch sizes;
* the same under -fsanitize=address,undefined, with no report;
* the FTV_FORCE_REF dispatch build gives the same numbers;
* every native_module/*.c cross-compiles for Xtensa (gcc lx106, and clang's
  ESP32 code generator) with -Wall -Wextra -Werror and keeps the
  freestanding rules; the kernels run bare-metal under qemu-system-xtensa
  with the instruction-count plugin and print the host's checksum.

Missing tools fail with the package to install (scripts/install_test_deps.sh).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "native_module"
DRIVER = REPO / "tests" / "c" / "test_matmul.c"
KERNELS = [NATIVE / "ftv_matmul_ref.c", NATIVE / "ftv_matmul_lut.c", NATIVE / "ftv_util.c"]

sys.path.insert(0, str(REPO / "bench" / "xtensa"))
import build as xbuild  # noqa: E402  (bench/xtensa/build.py)

WARN = ["-Wall", "-Wextra", "-Werror"]
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


def need(tool: str) -> str:
    try:
        return xbuild.require(tool)
    except xbuild.ToolMissing as e:
        pytest.fail(str(e))


# ---------------------------------------------------------------- packing

def pack_tern2(w: np.ndarray) -> np.ndarray:
    """(n_out, K) in {-1,0,1} -> rows of ceil(K/4) bytes, c_i in bits 2i."""
    n_out, K = w.shape
    nb = (K + 3) // 4
    c = np.ones((n_out, nb * 4), np.uint8)
    c[:, :K] = w + 1
    c = c.reshape(n_out, nb, 4)
    return (c[..., 0] | c[..., 1] << 2 | c[..., 2] << 4 | c[..., 3] << 6).astype(np.uint8)


def pack_tern3(w: np.ndarray) -> np.ndarray:
    """(n_out, K) in {-1,0,1} -> rows of ceil(K/5) bytes, sum c_i 3^i."""
    n_out, K = w.shape
    nb = (K + 4) // 5
    c = np.ones((n_out, nb * 5), np.int32)
    c[:, :K] = w + 1
    c = c.reshape(n_out, nb, 5)
    return (c * np.array([1, 3, 9, 27, 81])).sum(-1).astype(np.uint8)


def semantics(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """out[t, o] = sum_k x[t, k] * w[o, k], int32."""
    return (x.astype(np.int64) @ w.astype(np.int64).T).astype(np.int32)


# ---------------------------------------------------------------- cases

class Case:
    def __init__(self, x, w, scratch_rows=1, scratch_off=0, w_off=0, w2=None, w3=None):
        self.x = np.ascontiguousarray(x, np.int8)
        self.w = None if w is None else np.asarray(w, np.int8)
        self.n_tok, self.K = self.x.shape
        self.w2 = pack_tern2(self.w) if w2 is None else w2
        self.w3 = pack_tern3(self.w) if w3 is None else w3
        self.n_out = self.w2.shape[0]
        self.scratch_rows, self.scratch_off, self.w_off = scratch_rows, scratch_off, w_off

    def encode(self) -> bytes:
        hdr = np.array([self.n_tok, self.K, self.n_out, self.scratch_rows,
                        self.scratch_off, self.w_off, 0, 0], np.int32)
        return (hdr.tobytes() + self.x.tobytes() + np.ascontiguousarray(self.w2).tobytes()
                + np.ascontiguousarray(self.w3).tobytes())

    def __repr__(self):
        return (f"Case(n_tok={self.n_tok}, K={self.K}, n_out={self.n_out}, "
                f"scratch_rows={self.scratch_rows}, offs={self.scratch_off},{self.w_off})")


def random_weights(rng, n_out, K, p_zero=None):
    p0 = rng.uniform(0.0, 0.8) if p_zero is None else p_zero
    return rng.choice(np.array([-1, 0, 1], np.int8), (n_out, K), p=[(1 - p0) / 2, p0, (1 - p0) / 2])


SIZES = [  # (n_tok, K, n_out): degenerate, odd, prime, tile tails, K % 4 / K % 5 != 0
    (1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 1), (1, 5, 1), (1, 6, 1), (2, 1, 3), (3, 7, 2),
    (1, 9, 1), (8, 16, 5), (9, 17, 7), (7, 127, 13), (13, 131, 11), (17, 257, 19),
    (23, 641, 5), (5, 1021, 3), (11, 37, 97), (16, 128, 64), (4, 129, 33), (31, 53, 29),
    (1, 384, 67), (3, 4099, 2), (2, 160, 1), (8, 41, 8), (15, 199, 23), (1, 40, 2),
    (6, 45, 9), (24, 384, 12), (3, 11, 101), (20, 1500, 10), (33, 700, 17), (9, 333, 4),
    (1, 1531, 7), (1, 77, 13), (1, 4099, 3), (1, 21, 5),
]
SCRATCH_ROWS = [1, 2, -2, 3, 7, -1]  # whole rows per block; -1: 128 KB, -2: the least accepted
# (-3, one 2 KB table quad, only for single tokens; 0, too small: see the driver)


def make_cases() -> list[Case]:
    rng = np.random.default_rng(20260517)
    cases = []
    for i, (n_tok, K, n_out) in enumerate(SIZES):
        x = rng.integers(-128, 128, (n_tok, K), dtype=np.int16).astype(np.int8)
        w = random_weights(rng, n_out, K)
        cases.append(Case(x, w, SCRATCH_ROWS[i % len(SCRATCH_ROWS)], i % 4, (i // 4) % 4))
        if i % 3 == 0:   # whole matrix in one block
            cases.append(Case(x, w, n_out, 1, 3))
        if n_tok == 1:   # single-token path, one 2 KB table quad per slab
            cases.append(Case(x, w, -3, 2, 1))

    # extremes: saturate the 16-bit partial-sum lanes for many groups
    for n_tok, K, n_out in [(9, 1531, 3), (8, 640, 4), (3, 241, 2), (2, 65535, 2), (1, 65535, 2)]:
        for xv in (-128, 127):
            for wv in (-1, 1, 0):
                x = np.full((n_tok, K), xv, np.int8)
                w = np.full((n_out, K), wv, np.int8)
                cases.append(Case(x, w, -1 if K < 10000 else 1))
        x = rng.choice(np.array([-128, 127], np.int8), (n_tok, K))
        w = np.where(x[:1] < 0, -1, 1).repeat(n_out, 0).astype(np.int8)  # |sum| maximal
        cases.append(Case(x, w, 2))
    # mixed rows: some all-zero, all +1, all -1 weights; zero activations
    x = rng.integers(-128, 128, (10, 203), dtype=np.int16).astype(np.int8)
    x[3] = 0
    w = random_weights(rng, 6, 203)
    w[0], w[1], w[2] = 0, 1, -1
    cases.append(Case(x, w, 4))
    return cases


def write_cases(path: Path, cases) -> None:
    path.write_bytes(b"".join(c.encode() for c in cases))


def read_results(path: Path, cases):
    data = np.fromfile(path, np.int32)
    at, res = 0, []
    for c in cases:
        st = data[at:at + 8]
        at += 8
        n = c.n_tok * c.n_out
        outs = [data[at + i * n: at + (i + 1) * n].reshape(c.n_tok, c.n_out) for i in range(4)]
        at += 4 * n
        res.append((st, outs))
    assert at == data.size, "driver output length does not match the cases"
    return res


# ---------------------------------------------------------------- builds

def compile_driver(out: Path, extra=()) -> Path:
    cc = need("gcc")
    cmd = [cc, "-std=c99"] + WARN + ["-I", str(NATIVE)] + list(extra) + \
          [str(DRIVER)] + [str(k) for k in KERNELS] + ["-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"compile failed: {' '.join(cmd)}\n{res.stderr}"
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("matmul")


@pytest.fixture(scope="module")
def cases(workdir):
    cs = make_cases()
    write_cases(workdir / "cases.bin", cs)
    return cs


def run_driver(exe: Path, workdir: Path, tag: str, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    out = workdir / f"out_{tag}.bin"
    res = subprocess.run([str(exe), "run", str(workdir / "cases.bin"), str(out)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, f"{tag}: driver failed ({res.returncode})\n{res.stdout}\n{res.stderr}"
    assert "runtime error" not in res.stderr and "Sanitizer" not in res.stderr, res.stderr
    return out


def check_results(cases, results, dispatch_is_ref: bool) -> None:
    for c, (st, (r2, r3, o2, o3)) in zip(cases, results):
        assert st[4] == 1, f"{c}: write outside out, or dispatch != direct call"
        assert st[5] == 1, f"{c}: a call that failed wrote into out"
        if c.scratch_rows == 0 or (c.scratch_rows == -3 and c.n_tok > 1):
            assert (st[0], st[1]) == (-1, -1), f"{c}: too-small scratch accepted"
            assert (st[2], st[3]) == ((0, 0) if dispatch_is_ref else (-1, -1)), c
            continue
        assert list(st[:4]) == [0, 0, 0, 0], f"{c}: rc {st[:4]}"
        want = semantics(c.x, c.w)
        np.testing.assert_array_equal(r2, want, err_msg=f"{c}: tern2_ref != numpy")
        np.testing.assert_array_equal(r3, want, err_msg=f"{c}: tern3_ref != numpy")
        np.testing.assert_array_equal(o2, r2, err_msg=f"{c}: tern2 optimized != ref")
        np.testing.assert_array_equal(o3, r3, err_msg=f"{c}: tern3 optimized != ref")


# ---------------------------------------------------------------- tests

def test_packing_matches_the_documented_layout():
    w = np.array([[-1, 0, 1, 1, -1, 0, 0]], np.int8)
    assert pack_tern2(w).tolist() == [[0 | 1 << 2 | 2 << 4 | 2 << 6, 0 | 1 << 2 | 1 << 4 | 1 << 6]]
    assert pack_tern3(w).tolist() == [[0 + 3 + 18 + 54 + 0, 1 + 3 + 9 + 27 + 81]]


def test_optimized_equals_ref_and_numpy(workdir, cases):
    exe = compile_driver(workdir / "tm_O2", ["-O2"])
    check_results(cases, read_results(run_driver(exe, workdir, "O2"), cases), False)


def test_sanitizers_clean(workdir, cases):
    exe = compile_driver(workdir / "tm_san", ["-O1", "-g"] + SAN)
    check_results(cases, read_results(run_driver(exe, workdir, "san", SAN_ENV), cases), False)


def test_force_ref_dispatch(workdir, cases):
    exe = compile_driver(workdir / "tm_ref", ["-O2", "-DFTV_FORCE_REF"])
    check_results(cases, read_results(run_driver(exe, workdir, "ref"), cases), True)


def test_too_small_scratch_and_invalid_codes(workdir):
    """Too-small scratch: -1, nothing written.  Invalid codes (tern2 code 3,
    tern3 bytes 243..255): unspecified values, but in bounds and no crash."""
    rng = np.random.default_rng(7)
    cs = [Case(rng.integers(-128, 128, (9, 77), dtype=np.int16).astype(np.int8),
               random_weights(rng, 5, 77), scratch_rows=0)]
    for n_tok, K, n_out in [(9, 77, 5), (1, 3, 2), (17, 300, 9)]:
        x = rng.integers(-128, 128, (n_tok, K), dtype=np.int16).astype(np.int8)
        w2 = rng.integers(0, 256, (n_out, (K + 3) // 4), dtype=np.int16).astype(np.uint8)
        w3 = rng.integers(0, 256, (n_out, (K + 4) // 5), dtype=np.int16).astype(np.uint8)
        cs.append(Case(x, None, 1, w2=w2, w3=w3))
    write_cases(workdir / "cases.bin.bad", cs)
    exe = compile_driver(workdir / "tm_bad", ["-O1", "-g"] + SAN)
    out = workdir / "out_bad.bin"
    res = subprocess.run([str(exe), "run", str(workdir / "cases.bin.bad"), str(out)],
                         capture_output=True, text=True, env=dict(os.environ, **SAN_ENV),
                         timeout=60)
    assert res.returncode == 0 and "Sanitizer" not in res.stderr, res.stderr
    results = read_results(out, cs)
    st, _ = results[0]
    assert list(st[:4]) == [-1, -1, -1, -1] and st[5] == 1, st
    for c, (st, _) in zip(cs[1:], results[1:]):
        assert list(st[:4]) == [0, 0, 0, 0] and st[4] == 1, (c, st)


def test_sizing_helpers_and_argument_checks(workdir):
    exe = compile_driver(workdir / "tm_api", ["-O1", "-g"] + SAN)
    res = subprocess.run([str(exe), "api"], capture_output=True, text=True,
                         env=dict(os.environ, **SAN_ENV), timeout=60)
    assert res.returncode == 0 and res.stdout.strip().endswith("api ok"), res.stdout + res.stderr


# ------------------------------------------------- Xtensa cross-compile and QEMU

def native_sources() -> list[Path]:
    """Every C file of native_module/ but the MicroPython binding ones."""
    return sorted(p for p in NATIVE.glob("*.c")
                  if "binding" not in p.name and not p.name.startswith("mod"))


OWN = {"ftv_matmul_ref.c", "ftv_matmul_lut.c", "ftv_util.c"}
LIBC_ALLOWED = {"memcpy", "memset", "memmove"}


def test_xtensa_cross_compile_every_native_source(tmp_path):
    """gcc lx106 -Wall -Wextra -Werror; then the freestanding rules on the
    objects: no writable static data, no soft-float calls, and for the
    matmul files no library call but memcpy/memset/memmove."""
    need(xbuild.XCC)
    nm = need(xbuild.XNM)
    srcs = native_sources()
    assert {p.name for p in srcs} >= OWN
    problems = []
    for src in srcs:
        obj = tmp_path / (src.stem + ".o")
        try:
            xbuild.xtensa_compile(src, obj)
        except RuntimeError as e:
            problems.append(f"{src.name}: {e}")
            continue
        syms = [ln.split() for ln in subprocess.run([nm, str(obj)], capture_output=True,
                                                      text=True, check=True).stdout.splitlines()]
        for s in syms:
            kind, name = s[-2], s[-1]
            if kind in "DdBbCG" or (kind in "Ss" and name.startswith((".data", ".bss"))):
                problems.append(f"{src.name}: writable data symbol {name} ({kind})")
            if kind == "U" and name.startswith("__") and ("sf" in name or "df" in name):
                problems.append(f"{src.name}: floating point helper {name}")
            if (kind == "U" and src.name in OWN and name not in LIBC_ALLOWED
                    and not name.startswith("ftv_")):
                problems.append(f"{src.name}: calls {name}")
        sections = subprocess.run([need("xtensa-lx106-elf-objdump"), "-h", str(obj)],
                                  capture_output=True, text=True, check=True).stdout
        for ln in sections.splitlines():
            f = ln.split()
            if len(f) >= 3 and f[1].startswith((".data", ".bss")) and int(f[2], 16) != 0:
                problems.append(f"{src.name}: non-empty {f[1]} section")
    assert not problems, "\n".join(problems)


def test_clang_esp32_compile_check(tmp_path):
    """clang-22 front end (-Wall -Wextra -Werror) and LLVM's ESP32 code
    generator (windowed ABI) accept every native source."""
    need(xbuild.CLANG)
    need(xbuild.LLC)
    problems = []
    for src in native_sources():
        try:
            xbuild.clang_esp32_check(src, tmp_path / (src.stem + ".s"))
        except RuntimeError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_qemu_instruction_count_small_shape(tmp_path):
    """Bare-metal lx106 run: every kernel's checksum equals the host build's,
    instruction counts are positive and identical on a second run."""
    need(xbuild.QEMU)
    shape = dict(BENCH_N_TOK=11, BENCH_K=203, BENCH_N_OUT=37, BENCH_SCRATCH=44000)
    plugin = xbuild.build_plugin(tmp_path)
    elf = xbuild.build_image(tmp_path, shape)
    host = xbuild.run_host(xbuild.build_host(tmp_path, shape))
    runs = [xbuild.run_image(elf, plugin, timeout=60) for _ in range(2)]
    names = ["tern2_lut", "tern3_lut", "tern2_ref", "tern3_ref", "i8_ref"]
    sums = {host["kernels"][n]["checksum"] for n in names}
    assert len(sums) == 1, f"host kernels disagree: {host['kernels']}"
    for n in names:
        k0, k1 = runs[0]["kernels"][n], runs[1]["kernels"][n]
        assert k0["checksum"] == host["kernels"][n]["checksum"], (n, k0, host["kernels"][n])
        assert k0["rc"] == 0 and k0["insns"] > 0, (n, k0)
        assert k0["insns"] == k1["insns"], (n, k0["insns"], k1["insns"])
    assert runs[0]["lut"] == host["lut"]
    macs = 11 * 203 * 37
    assert runs[0]["kernels"]["tern2_lut"]["insns"] < runs[0]["kernels"]["i8_ref"]["insns"], \
        "the lookup-table kernel should beat the dense baseline even on a small shape"
    assert runs[0]["kernels"]["tern2_ref"]["insns"] > 2 * macs
