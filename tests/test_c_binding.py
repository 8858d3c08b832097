"""The C backend's binding refuses bad input with TypeError/ValueError naming the
argument (nothing bad reaches C), the C library answers impossible sizes with
error codes, and the build explains itself when it cannot compile."""
import shutil

import numpy as np
import pytest
import timm
import torch
from c_backend_util import c_ops

import ftervit.models  # noqa: F401
from ftervit import ternarize
from ftervit.cbackend import CBackendUnavailable, CModel, build, load
from ftervit.deploy_plan import plan_tensors
from ftervit.ftv.ternary_pack import pack_ternary
from ftervit.integerize import integerize


@pytest.fixture(scope="module")
def cops():
    return c_ops()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = ternarize(timm.create_model(
        "deit_tiny_patch16_224", img_size=8, patch_size=4, in_chans=3, embed_dim=12, depth=1,
        num_heads=2, mlp_ratio=2, num_classes=3)).eval()
    return integerize(model)


def _raises(exc, name, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert str(info.value).startswith(name) or name in str(info.value), str(info.value)


I32 = np.int32


def test_ops_name_the_bad_argument(cops):
    x = np.ones((2, 3), I32)
    _raises(TypeError, "x", cops.quantize_rows, x.astype(np.float32))
    _raises(TypeError, "x", cops.quantize_rows, b"\x00\x01")
    _raises(TypeError, "x", cops.quantize_rows, "abc")
    _raises(ValueError, "x", cops.quantize_rows, np.ones(3, I32))
    _raises(ValueError, "x", cops.quantize_rows, np.array([[1 << 40]]))
    _raises(ValueError, "impl", cops.quantize_rows, x, impl="turbo")
    _raises(ValueError, "mult", cops.requant, x, np.ones(2, I32), np.zeros(3, np.int16), 0)
    _raises(ValueError, "bias", cops.requant, x, np.ones(1, I32), np.zeros(4, np.int16), 0)
    _raises(TypeError, "bias_frac", cops.requant, x, [1], None, 1.5)
    _raises(ValueError, "row_a", cops.requant, x, [1], None, 0, row_a=np.ones(2, I32))
    _raises(ValueError, "row_sh", cops.requant, x, [1], None, 0, np.ones(2, I32),
            np.ones(3, I32))
    _raises(ValueError, "x", cops.requant_add, np.ones((3, 3), I32), x, [1], None, 0)
    _raises(ValueError, "y", cops.add_sat, x, np.ones((3, 2), I32))
    _raises(ValueError, "gamma", cops.layer_norm, x, [1, 0], [1, 0, 1], [1, 2])
    _raises(ValueError, "mult2", cops.layer_norm, x, [1, 0, 1], [1, 0, 1], [1, 2, 3])
    _raises(ValueError, "x", cops.layer_norm, np.ones((2, 0), I32), [], [], [1, 2])
    _raises(ValueError, "x", cops.layer_norm, np.ones((1, 70000), I32), [0] * 70000,
            [0] * 70000, [1, 2])
    _raises(ValueError, "scores", cops.softmax_row, np.ones(0, I32))
    _raises(ValueError, "qkv", cops.attention, np.ones((4, 10), I32), 2, 1 << 8)
    _raises(ValueError, "num_heads", cops.attention, np.ones((4, 12), I32), 0, 1 << 8)
    _raises(TypeError, "num_heads", cops.attention, np.ones((4, 12), I32), True, 1 << 8)
    _raises(ValueError, "logit_mult", cops.attention, np.ones((4, 12), I32), 2, 1 << 40)
    img = np.zeros((8, 8, 3), np.uint8)
    lut = np.zeros((3, 256), np.int8)
    _raises(ValueError, "image", cops.patch_gather, np.zeros((8, 6, 3), np.uint8), lut, 2)
    _raises(ValueError, "patch", cops.patch_gather, img, lut, 3)
    _raises(ValueError, "patch", cops.patch_gather, img, lut, 0)
    _raises(ValueError, "input_lut", cops.patch_gather, img, lut[:2], 2)
    _raises(ValueError, "image", cops.patch_gather, img.astype(np.int16) - 1, lut, 2)
    _raises(ValueError, "packed", cops.unpack_ternary, b"\x00", 5, 2)
    _raises(ValueError, "layout", cops.unpack_ternary, b"\x00", 4, 4)
    _raises(TypeError, "packed", cops.unpack_ternary, [0], 4, 2)
    codes = np.zeros((2, 7), np.int8)
    _raises(ValueError, "packed", cops.matmul, codes, b"\x00" * 5, 3, 3)
    _raises(TypeError, "codes", cops.matmul, codes.astype(float), b"\x00" * 6, 3, 3)
    _raises(ValueError, "codes", cops.matmul, np.zeros((1, 70000), np.int8), b"", 0, 3)
    _raises(TypeError, "v", cops.isqrt64, 2.0)
    _raises(ValueError, "v", cops.isqrt64, -1)


def test_c_returns_error_codes_on_impossible_sizes(cops):
    from ftervit.cbackend import load_extension
    m = load_extension()
    ffi, lib = m.ffi, m.lib
    buf = ffi.new("int32_t[16]")
    codes = ffi.new("int8_t[16]")
    null = ffi.NULL
    assert lib.ftv_quantize_rows_ref(codes, buf, buf, buf, -1, 2, 2) == lib.FTV_ERR_ARG
    assert lib.ftv_quantize_rows_fast(codes, buf, buf, buf, 1, 3, 2) == lib.FTV_ERR_ARG
    assert lib.ftv_quantize_rows_fast(null, buf, buf, buf, 1, 3, 3) == lib.FTV_ERR_ARG
    assert lib.ftv_requant_fast(buf, buf, buf, null, 1, 1, buf, 0, null, 0) == lib.FTV_ERR_ARG
    assert lib.ftv_layer_norm_ref(buf, buf, 1, 0, codes, codes, buf) == lib.FTV_ERR_ARG
    assert lib.ftv_layer_norm_ref(buf, buf, 1, 70000, codes, codes, buf) == lib.FTV_ERR_ARG
    assert lib.ftv_softmax_row_ref(buf, buf, 0) == lib.FTV_ERR_ARG
    assert lib.ftv_softmax_row_ref(buf, buf, lib.FTV_MAX_TOKENS + 1) == lib.FTV_ERR_ARG
    need = lib.ftv_attention_scratch_bytes(2, 2)
    scratch = ffi.new("uint8_t[]", need)
    assert lib.ftv_attention_ref(buf, buf, 2, 1, 2, 256, scratch, need - 1) == lib.FTV_ERR_ARG
    assert lib.ftv_attention_ref(buf, buf, 2, 1, 2, 256, scratch, need) == lib.FTV_OK
    assert lib.ftv_attention_scratch_bytes(0, 4) == 0
    assert lib.ftv_patch_gather_ref(codes, ffi.new("uint8_t[]", 12), ffi.new("int8_t[]", 256),
                                    4, 1, 3) == lib.FTV_ERR_ARG
    assert lib.ftv_unpack_ternary_ref(codes, ffi.new("uint8_t[]", 4), 4, 5) == lib.FTV_ERR_ARG


def _geometry(lib, ffi, **change):
    g = ffi.new("ftv_geometry_t *")
    fields = dict(img_size=8, patch_size=4, in_chans=3, embed_dim=12, depth=1, num_heads=2,
                  mlp_dim=24, num_classes=3, cls_pos=1, layerscale=0, layout=3,
                  attn_logit_mult=1 << 8)
    fields.update(change)
    for k, v in fields.items():
        setattr(g, k, v)
    return g


@pytest.mark.parametrize("change", [dict(patch_size=3), dict(num_heads=5), dict(layout=4),
                                    dict(embed_dim=0), dict(depth=-1), dict(cls_pos=2),
                                    dict(mlp_dim=70000), dict(img_size=1024, patch_size=1),
                                    dict(embed_dim=65536 * 2, num_heads=2)])
def test_bad_geometry_is_refused_by_c(cops, change):
    from ftervit.cbackend import load_extension
    m = load_extension()
    g = _geometry(m.lib, m.ffi, **change)
    assert m.lib.ftv_check_geometry(g) == m.lib.FTV_ERR_GEOMETRY
    assert m.lib.ftv_scratch_bytes(g) == 0
    model = m.ffi.new("ftv_model_t *")
    model.geometry = g[0]
    assert m.lib.ftv_forward(model, m.ffi.new("uint8_t[]", 192), m.ffi.new("int32_t[]", 3),
                             m.ffi.new("uint8_t[]", 16), 16) == m.lib.FTV_ERR_GEOMETRY


def test_forward_error_codes(cops, tiny):
    from ftervit.cbackend import load_extension
    m = load_extension()
    ffi, lib = m.ffi, m.lib
    cmodel = CModel.from_integer_model(tiny, "tern3")
    image = ffi.new("uint8_t[]", 8 * 8 * 3)
    logits = ffi.new("int32_t[]", [7, 7, 7])
    least = lib.ftv_scratch_bytes_for(cmodel._geometry_c, 1)
    assert 0 < least <= lib.ftv_scratch_bytes(cmodel._geometry_c) <= cmodel.scratch_bytes
    scratch = ffi.new("uint8_t[]", least)
    assert lib.ftv_forward(cmodel._model, image, logits, scratch, least - 1) == \
        lib.FTV_ERR_SCRATCH
    assert list(logits) == [7, 7, 7]
    assert lib.ftv_forward(ffi.NULL, image, logits, scratch, least) == lib.FTV_ERR_ARG
    assert lib.ftv_forward(cmodel._model, ffi.NULL, logits, scratch, least) == lib.FTV_ERR_ARG
    assert lib.ftv_forward(cmodel._model, image, ffi.NULL, scratch, least) == lib.FTV_ERR_ARG
    assert lib.ftv_forward(cmodel._model, image, logits, ffi.NULL, least) == lib.FTV_ERR_ARG
    broken = ffi.new("ftv_model_t *", cmodel._model[0])
    broken.blocks = ffi.NULL
    assert lib.ftv_forward(broken, image, logits, scratch, least) == lib.FTV_ERR_ARG
    assert list(logits) == [7, 7, 7]
    # one byte past the fixed buffers, unaligned: still exact
    raw = ffi.new("uint8_t[]", least + 1)
    assert lib.ftv_forward(cmodel._model, image, logits, raw + 1, least) == lib.FTV_OK
    assert list(logits) == list(cmodel.forward(np.zeros((8, 8, 3), np.uint8)))
    assert "scratch" in ffi.string(lib.ftv_strerror(lib.FTV_ERR_SCRATCH)).decode()


def test_model_refuses_bad_images(cops, tiny):
    cmodel = load(tiny)
    with pytest.raises(ValueError, match=r"\(8, 8, 3\)"):
        cmodel.forward(np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        cmodel.forward(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        cmodel.forward([[0] * 3] * 64)
    view = np.zeros((8, 16, 3), np.uint8)[:, ::2]  # not contiguous: copied, still right
    assert np.array_equal(cmodel.forward(view), cmodel.forward(np.zeros((8, 8, 3), np.uint8)))


def test_model_refuses_bad_tensors(cops, tiny):
    tensors = dict(tiny.tensors)
    packed = {t.name: pack_ternary(tensors[t.name], 3) for t in plan_tensors(tiny.geometry)
              if t.kind == "tern"}

    def build_with(**change):
        t = dict(tensors)
        t.update(packed)
        t.update(change)
        return CModel(tiny.geometry, "tern3", tiny.attn_logit_mult, t, tiny.frac_bits)

    build_with()  # the unchanged tensors are fine
    _raises(ValueError, "blocks.0.attn.qkv.weight", build_with,
            **{"blocks.0.attn.qkv.weight": packed["blocks.0.attn.qkv.weight"][:-1]})
    _raises(TypeError, "head.weight", build_with, **{"head.weight": tensors["head.weight"]})
    _raises(ValueError, "pos_embed", build_with, pos_embed=tensors["pos_embed"][:-1])
    _raises(ValueError, "head.mult", build_with, **{"head.mult": np.array([1 << 40])})
    _raises(TypeError, "cls_token", build_with, cls_token=tensors["cls_token"].astype(float))
    _raises(ValueError, "norm.mult", build_with, **{"norm.mult": np.ones(3, np.int32)})
    with pytest.raises(ValueError, match="head.bias"):
        t = dict(tensors)
        t.update(packed)
        del t["head.bias"]
        CModel(tiny.geometry, "tern3", tiny.attn_logit_mult, t, tiny.frac_bits)
    with pytest.raises(ValueError, match="layout"):
        CModel.from_integer_model(tiny, "tern4")


def test_load_refuses_other_arithmetic_versions(cops, tiny, tmp_path):
    from ftervit.ftv import write_ftv
    from ftervit.pack import writer_tensors
    path = tmp_path / "v2.ftv"
    write_ftv(path, tiny.geometry, "tern3", tiny.attn_logit_mult, 12, writer_tensors(tiny),
              arith_version=2)
    with pytest.raises(ValueError, match="arith_version"):
        load(path)
    write_ftv(path, tiny.geometry, "tern2", tiny.attn_logit_mult, 12, writer_tensors(tiny))
    assert load(path).layout == "tern2"


def test_load_refuses_missing_and_corrupt_files(cops, tmp_path):
    from ftervit.ftv import FtvFormatError
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.ftv")
    bad = tmp_path / "bad.ftv"
    bad.write_bytes(b"FTVM" + bytes(100))
    with pytest.raises(FtvFormatError):
        load(bad)


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("FTERVIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "no-such-cc-ftervit")
    monkeypatch.setattr(build, "_loaded", {})
    with pytest.raises(CBackendUnavailable, match="no C compiler found"):
        build.load_extension()


def test_unwritable_cache_is_a_clear_error(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("FTERVIT_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(build, "_loaded", {})
    with pytest.raises(CBackendUnavailable, match="FTERVIT_CACHE"):
        build.load_extension(["-DFTV_UNWRITABLE_CACHE_TEST"])


def test_missing_sources_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("FTERVIT_NATIVE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "_loaded", {})
    with pytest.raises(CBackendUnavailable, match="no kernel sources"):
        build.load_extension()


def test_cache_key_follows_the_sources(monkeypatch, tmp_path):
    folder = tmp_path / "native_module"
    shutil.copytree(build.native_dir(), folder)
    sources = build.core_sources(folder)
    assert all(p.suffix == ".c" for p in sources) and sources
    (folder / "modftv_mpy.c").write_text('#include "py/dynruntime.h"\n')
    assert build.core_sources(folder) == sources  # MicroPython binding files are left out
    before = build._digest(folder, sources, ["-O2"], [])
    assert build._digest(folder, sources, ["-O3"], []) != before
    (folder / "ftv_ops.h").write_text((folder / "ftv_ops.h").read_text() + "\n")
    assert build._digest(folder, sources, ["-O2"], []) != before
