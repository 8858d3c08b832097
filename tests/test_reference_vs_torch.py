"""The integer reference runtime tracks the PyTorch FTerViT it was packed from."""
import numpy as np
import pytest
import timm
import torch

import ftervit.models  # noqa: F401
from ftervit import ternarize
from ftervit.faithfulness import torch_logits
from ftervit.integerize import NotPackableError, integerize
from ftervit.reference import forward, logits_to_float, topk
from ftervit.reference.model import check_image


def _torch_logits(model, image):
    norm = model.ftervit_norm
    return torch_logits(model, image[None], norm["mean"], norm["std"])[0]


def _deit3_tiny():
    model = timm.create_model("deit3_small_patch16_224", img_size=32, patch_size=8, depth=2,
                              embed_dim=96, num_heads=3, num_classes=7, init_values=0.5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
            if "gamma" in name:
                p.mul_(torch.rand_like(p) * 2)
    return ternarize(model).eval()


@pytest.mark.parametrize("build", [lambda: timm.create_model("ftervit_micro_patch4_28").eval(),
                                   _deit3_tiny], ids=["deit-cls-pos", "deit3-layerscale"])
def test_integer_logits_track_torch(build):
    model = build()
    imodel = integerize(model)
    g = imodel.geometry
    rng = np.random.default_rng(1)
    for _ in range(3):
        image = rng.integers(0, 256, (g.img_size, g.img_size, g.in_chans), dtype=np.uint8)
        ours = logits_to_float(forward(imodel, image))
        ref = _torch_logits(model, image)
        assert np.abs(ours - ref).max() < 0.05 * max(1.0, np.abs(ref).max())


def test_topk_orders_by_value_then_index():
    assert topk(np.array([3, 7, 7, -1, 5]), k=3) == [1, 2, 4]


def test_bad_images_are_refused_with_the_expected_shape():
    model = integerize(timm.create_model("ftervit_micro_patch4_28").eval())
    with pytest.raises(ValueError, match=r"\(28, 28, 1\)"):
        check_image(model.geometry, np.zeros((32, 32, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        forward(model, np.zeros((28, 28, 1), np.float32))


def test_only_full_ternary_models_pack():
    with pytest.raises(NotPackableError, match="full-ternary"):
        integerize(timm.create_model("ftervit_micro_patch4_28", mode="encoder"))
    with pytest.raises(NotPackableError, match="full-ternary"):
        integerize(timm.create_model("deit_micro_patch4_28"))
