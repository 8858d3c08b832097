"""Whole-model logits of the C runtime (ftv_forward through cffi) are identical
to the numpy reference for random models of several shapes, both ternary
layouts, built from an IntegerModel and from a written `.ftv` file."""
import numpy as np
import pytest
import timm
import torch
from c_backend_util import c_ops

import ftervit.models  # noqa: F401
from ftervit import ternarize
from ftervit.cli import main as cli_main
from ftervit.integerize import integerize
from ftervit.pack import pack_model
from ftervit.reference import forward
from ftervit.testing import perturb


def _micro():
    return timm.create_model("ftervit_micro_patch4_28")


def _deit3_layerscale():
    return ternarize(timm.create_model(
        "deit3_small_patch16_224", img_size=32, patch_size=8, depth=2, embed_dim=96,
        num_heads=3, num_classes=7, init_values=0.5))


def _odd_deit():
    """embed 36, 3 heads of 12, mlp 100, 5 classes, 15 px images of 5 px patches, 3 channels."""
    return ternarize(timm.create_model(
        "deit_tiny_patch16_224", img_size=15, patch_size=5, in_chans=3, embed_dim=36, depth=2,
        num_heads=3, mlp_ratio=100 / 36 + 1e-6, num_classes=5))


def _deit3_grey():
    """DeiT-III (no class position, LayerScale) on 1 channel, 7 heads of 4, mlp 57."""
    return ternarize(timm.create_model(
        "deit3_small_patch16_224", img_size=12, patch_size=3, in_chans=1, embed_dim=28,
        depth=3, num_heads=7, mlp_ratio=57 / 28 + 1e-6, num_classes=3, init_values=0.1))


MODELS = {"deit-cls-pos-1ch": _micro, "deit3-layerscale-3ch": _deit3_layerscale,
          "odd-dims-3ch": _odd_deit, "deit3-1ch-7heads": _deit3_grey}


@pytest.fixture(scope="module")
def cbackend():
    c_ops()
    from ftervit import cbackend
    return cbackend


@pytest.fixture(scope="module", params=list(MODELS))
def imodel(request):
    torch.manual_seed(0)
    model = perturb(MODELS[request.param](), seed=len(request.param))
    return integerize(model)


def test_odd_config_has_the_shape_it_claims(imodel):
    g = imodel.geometry
    if g.embed_dim == 36:
        assert (g.num_heads, g.mlp_dim, g.num_classes, g.in_chans) == (3, 100, 5, 3)


@pytest.mark.parametrize("layout", ["tern2", "tern3"])
def test_logits_identical_to_reference(cbackend, imodel, layout):
    g = imodel.geometry
    rng = np.random.default_rng(g.embed_dim + g.depth)
    cmodel = cbackend.load(imodel, layout=layout)
    # the least scratch (1 weight row per matmul block) or a small odd block
    rows = 1 if g.embed_dim < 100 else 7
    small = cbackend.CModel.from_integer_model(imodel, layout, matmul_rows=rows)
    images = [rng.integers(0, 256, (g.img_size, g.img_size, g.in_chans), dtype=np.uint8)
              for _ in range(2)]
    images.append(np.full((g.img_size, g.img_size, g.in_chans), 255, np.uint8))
    for image in images:
        want = forward(imodel, image)
        got = cmodel.forward(image)
        assert got.dtype == np.int32 and got.shape == (g.num_classes,)
        assert np.array_equal(got.astype(np.int64), want), (got, want)
        assert np.array_equal(small.forward(image), got)


def test_ftv_file_runs_bit_exact_and_passes_its_golden_vector(cbackend, tmp_path, capsys):
    torch.manual_seed(0)
    model = perturb(_odd_deit(), seed=3)
    for layout in ("tern2", "tern3"):
        path = tmp_path / f"odd-{layout}.ftv"
        ftv = pack_model(model, path, layout=layout)
        cmodel = cbackend.load(str(path))
        image = ftv.golden_input()
        assert np.array_equal(cmodel.forward(image), ftv.golden.logits)
        assert np.array_equal(cbackend.load(ftv).forward(image), ftv.golden.logits)
        assert cli_main(["run", str(path), "--selftest", "--backend", "c"]) == 0
        assert "PASS" in capsys.readouterr().out
