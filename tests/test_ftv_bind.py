"""ftv_bind (native_module/ftv_bind.c), the one walk from `.ftv` bytes to ftv_model_t:

* on thousands of mutants (tests/ftv_mutants.py) it accepts exactly the files the
  Python reader accepts, refuses the others naming the field the reader's message
  names, and points every tensor where the reader finds it;
* under ASan/UBSan it reads nothing outside the buffer, and every model it binds runs
  (tests/ftv_bind_fuzz.py in a child Python with a sanitized extension);
* the C backend refuses what the runtime cannot run, with the reader's messages.
"""
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from c_backend_util import c_ops
from ftv_mutants import base_files, mutants

from ftervit.cbackend.bind import RUNTIME_CODES, aligned_bytes, bind_field, bind_file, code_name
from ftervit.ftv import FtvFormatError, read_ftv

TESTS = Path(__file__).resolve().parent
MUTANTS = 3000
SAN_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
# reader field prefix -> member of ftv_model_t / ftv_block_t
MEMBERS = {"patch_embed.proj": "patch_embed", "attn.qkv": "qkv", "attn.proj": "proj",
           "mlp.fc1": "fc1", "mlp.fc2": "fc2", "norm1": "norm1", "norm2": "norm2",
           "norm": "norm", "head": "head"}
SINGLE = {"patch_embed.input_lut": ("input_lut", None), "cls_token": ("cls_token", "cls_frac"),
          "pos_embed": ("pos_embed", "pos_frac")}


@pytest.fixture(scope="module")
def module():
    c_ops()
    from ftervit.cbackend import load_extension
    return load_extension()


def _check_bound_like_reader(module, bound, buf, ftv):
    """Every pointer of the bound model at the reader's offset, every value its value."""
    ffi = module.ffi
    base = buf.ctypes.data
    m = bound.model
    at = lambda p: int(ffi.cast("uintptr_t", p)) - base  # noqa: E731
    for name, record in ftv.tensors.items():
        if name in SINGLE:
            ptr, frac = SINGLE[name]
            assert at(getattr(m, ptr)) == record.offset, name
            assert frac is None or getattr(m, frac) == record.frac_bits, name
            continue
        owner = m
        if name.startswith("blocks."):
            _, i, name = name.split(".", 2)
            owner = bound.blocks[int(i)]
        prefix, part = name.rsplit(".", 1)
        layer = getattr(owner, MEMBERS[prefix])
        assert at(getattr(layer, part)) == record.offset, (name, part)
        if part == "bias" and hasattr(layer, "bias_frac"):
            assert layer.bias_frac == record.frac_bits, name
    g = m.geometry
    for key, value in ftv.config.items():
        if hasattr(g, key):
            assert getattr(g, key) == value, key
    assert g.layout == {"tern2": 2, "tern3": 3}[ftv.layout]
    labels = bytes(ffi.buffer(bound.labels, bound.labels_len)) if bound.labels else None
    assert labels == ("\n".join(ftv.labels).encode() if ftv.labels is not None else None)
    if ftv.golden is None:
        assert bound.golden_logits == ffi.NULL
        return
    logits = np.frombuffer(ffi.buffer(bound.golden_logits, 4 * g.num_classes), "<i4")
    assert np.array_equal(logits, ftv.golden.logits)
    if ftv.golden.image is not None:
        n = g.img_size * g.img_size * g.in_chans
        image = np.frombuffer(ffi.buffer(bound.golden_image, n), np.uint8)
        assert np.array_equal(image, ftv.golden.image.reshape(-1))
    else:
        assert bound.golden_image == ffi.NULL and bound.golden_seed == ftv.golden.seed


def _compare(module, data, check_codes: bool, counts: Counter):
    lib = module.lib
    flags = lib.FTV_BIND_CHECK_ALL if check_codes else lib.FTV_BIND_CHECK_CRC
    buf = aligned_bytes(data)
    rc, bound = bind_file(module, buf, flags)
    name = code_name(lib, rc) if rc else "OK"
    counts[name] += 1
    try:
        ftv = read_ftv(data, check_codes=check_codes)
    except FtvFormatError as exc:
        assert rc != lib.FTV_OK and name not in RUNTIME_CODES, (
            f"the reader refuses ({exc}) but ftv_bind returned {name}")
        field = bind_field(module, rc, bound.error_index, data)
        message = str(exc)
        assert message.startswith(field) and message[len(field)] in ": ", (
            f"ftv_bind: {name} at {bound.error_index} -> {field!r}; the reader: {message}")
        return
    assert rc == lib.FTV_OK or name in RUNTIME_CODES, (
        f"the reader accepts the file, ftv_bind refuses it: {name} at {bound.error_index}")
    if rc == lib.FTV_OK:
        _check_bound_like_reader(module, bound, buf, ftv)


def test_base_files_bind_where_the_reader_reads_them(module):
    for data in base_files():
        _compare(module, data, True, Counter())
        rc, bound = bind_file(module, aligned_bytes(data), module.lib.FTV_BIND_CHECK_ALL)
        assert rc == 0 and bound.scratch_bytes == module.lib.ftv_scratch_bytes(
            module.ffi.addressof(bound.model, "geometry"))


def test_bind_agrees_with_the_reader_on_every_mutant(module):
    counts = Counter()
    for i, (_, data) in enumerate(mutants(MUTANTS, seed=7)):
        _compare(module, data, True, counts)
        if i % 4 == 0:                      # without the ternary code pass, as read_ftv can
            _compare(module, data, False, counts)
    # the mutants reach the checks of every stage of the walk
    reached = set(counts)
    for stage in [{"MAGIC", "VERSION", "VERSION_NEWER", "CONFIG_COUNT"},
                  {"TRUNCATED", "TRAILING", "SHORT"}, {"HEAD_CRC"}, {"PAYLOAD_CRC"},
                  {"CONFIG_RANGE"}, {"CONFIG_DIVISOR"}, {"TENSOR_COUNT"}, {"NAME"}, {"DTYPE"},
                  {"SHAPE"}, {"FRAC_BITS"}, {"LENGTH"}, {"MISALIGNED"}, {"OVERLAP"},
                  {"PAST_END"}, {"PADDING"}, {"SECTION_LENGTH"},
                  {"LABELS_UTF8", "LABELS_COUNT"},
                  {"GOLDEN_KIND", "GOLDEN_LOGITS", "GOLDEN_INPUT", "GOLDEN_SEED"},
                  {"TERN_CODE"}, {"TERN_PADDING"}, {"ARITH_VERSION", "RESIDUAL_FRAC"}, {"OK"}]:
        assert stage & reached, f"no mutant reached {stage}: {dict(counts)}"


def test_bind_refuses_bad_arguments(module):
    ffi, lib = module.ffi, module.lib
    data = base_files()[0]
    buf = np.zeros(len(data) + 4, np.uint8)
    buf[1:1 + len(data)] = np.frombuffer(data, np.uint8)
    bound = ffi.new("ftv_bound_t *")
    shifted = ffi.cast("uint8_t *", buf.ctypes.data + 1)
    assert lib.ftv_bind(bound, shifted, len(data), 0) == lib.FTV_BIND_ERR_ARG
    assert lib.ftv_bind(bound, ffi.NULL, 0, 0) == lib.FTV_BIND_ERR_ARG
    assert lib.ftv_bind(ffi.NULL, shifted, len(data), 0) == lib.FTV_BIND_ERR_ARG
    for code in range(-138, -99):
        assert ffi.string(lib.ftv_bind_strerror(code)) != b"unknown ftv_bind error code"


def test_bind_sized_uses_only_the_room_it_is_given(module):
    """ftv_bind_sized into FTV_BOUND_BYTES(room) bytes: the same model as ftv_bind when
    the blocks fit, FTV_BIND_ERR_DEPTH when they do not, and never a byte past its room
    (guard bytes stay as they were)."""
    from ftv_bind_fuzz import bound_bytes, pointers
    ffi, lib = module.ffi, module.lib
    data = base_files()[0]                   # a 2-block model
    buf = np.frombuffer(data, np.uint8).copy()
    file = ffi.cast("uint8_t *", buf.ctypes.data)
    full = ffi.new("ftv_bound_t *")
    assert lib.ftv_bind(full, file, len(data), lib.FTV_BIND_CHECK_ALL) == lib.FTV_OK
    depth = full.model.geometry.depth
    guard = 64
    for room, want in [(depth, lib.FTV_OK), (depth + 1, lib.FTV_OK),
                       (depth - 1, lib.FTV_BIND_ERR_DEPTH), (0, lib.FTV_BIND_ERR_DEPTH)]:
        mem = np.full(bound_bytes(ffi, room) + guard, 0xA5, np.uint8)
        out = ffi.cast("ftv_bound_t *", mem.ctypes.data)
        rc = lib.ftv_bind_sized(out, bound_bytes(ffi, room), file, len(data),
                                lib.FTV_BIND_CHECK_ALL)
        assert rc == want, (room, rc)
        assert (mem[-guard:] == 0xA5).all(), f"room {room}: wrote past its bytes"
        if rc == lib.FTV_OK:
            assert pointers(ffi, out) == pointers(ffi, full)
            assert out.scratch_bytes == full.scratch_bytes
    short = ffi.new("char[]", bound_bytes(ffi, 0) - 1)
    assert lib.ftv_bind_sized(ffi.cast("ftv_bound_t *", short), len(short), file, len(data),
                              0) == lib.FTV_BIND_ERR_ARG


def test_c_backend_refusals(module, tmp_path):
    from ftervit.cbackend import CModel, load
    from ftervit.deploy_plan import Geometry
    from ftv_mutants import _tensors
    from ftervit.ftv import encode_ftv
    data = bytearray(base_files()[0])
    data[40 + 4 * 6] = 5                    # num_heads 5 does not divide embed_dim 6
    with pytest.raises(FtvFormatError) as info:
        CModel.from_bytes(bytes(data))
    with pytest.raises(FtvFormatError) as want:
        read_ftv(bytes(data))
    assert str(info.value) == str(want.value)  # the reader's own message
    deep = Geometry(img_size=4, patch_size=2, in_chans=1, embed_dim=2, depth=33, num_heads=1,
                    mlp_dim=1, num_classes=2, cls_pos=False, layerscale=False)
    path = tmp_path / "deep.ftv"
    path.write_bytes(encode_ftv(deep, "tern2", 1 << 8, 12,
                                _tensors(deep, np.random.default_rng(0))))
    read_ftv(path)                          # a well-formed file...
    with pytest.raises(ValueError, match=r"config.depth: .* at most 32 .* found 33"):
        load(path)                          # ...deeper than the binder takes
    residual = encode_ftv(Geometry(**{**deep.__dict__, "depth": 1}), "tern2", 1 << 8, 11,
                          _tensors(Geometry(**{**deep.__dict__, "depth": 1}),
                                   np.random.default_rng(0)))
    with pytest.raises(ValueError, match="config.residual_frac_bits: .* found 11"):
        load(residual)
    model = load(base_files()[0])
    assert model.labels == ["cat", "dög", "bird"] and model.layout == "tern3"
    assert model.geometry.cls_pos is True and model.geometry.depth == 2


def _runtime(name: str) -> str:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else ""


def test_fuzz_under_asan_and_ubsan(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this machine")
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    if not asan or not ubsan:
        pytest.skip("gcc has no ASan/UBSan runtime here")
    host = Path(__import__("ftervit").__file__).resolve().parents[1]
    env = dict(os.environ, LD_PRELOAD=f"{asan} {ubsan}", PYTHONMALLOC="malloc",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
               FTERVIT_CFLAGS=SAN_FLAGS, FTERVIT_LDFLAGS="-fsanitize=address,undefined",
               FTERVIT_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(host), str(TESTS)]))
    res = subprocess.run([sys.executable, str(TESTS / "ftv_bind_fuzz.py"), str(MUTANTS), "3"],
                         env=env, capture_output=True, text=True, timeout=600, cwd=TESTS.parent)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    for marker in ("runtime error:", "AddressSanitizer", "UndefinedBehaviorSanitizer"):
        assert marker not in out, out[-6000:]
    summary = [line for line in res.stdout.splitlines() if line.startswith("fuzz:")]
    assert summary, out[-2000:]
    n, bound, refused = (int(w) for w in re.findall(r"\d+", summary[0]))
    assert n == MUTANTS and bound > 100 and refused > 1000, summary[0]
