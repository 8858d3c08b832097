"""ternarize(): any timm DeiT / DeiT-III / ViT, state-dict keys kept, clear errors."""
import copy

import pytest
import timm
import torch
import torch.nn as nn
from timm.layers import LayerScale

import ftervit.models  # noqa: F401  (registers the ftervit_* configs)
from ftervit import UnsupportedModelError, ternarize
from ftervit.layers import TernaryBitConv2d, TernaryLayerNorm, TernaryLinear, set_quantizers
from ftervit.layers.quant import act_codes_per_token

TERNARY = (TernaryLinear, TernaryBitConv2d, TernaryLayerNorm)


def test_quantizers_off_equals_float_deit3_small():
    float_model = timm.create_model("deit3_small_patch16_224").eval()
    student = ternarize(copy.deepcopy(float_model), weights=False, acts=False).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(student(x), float_model(x))


@pytest.mark.parametrize("name", ["deit_tiny_patch16_224", "deit3_small_patch16_224",
                                  "vit_small_patch16_224"])
def test_state_dict_keys_are_kept_and_float_checkpoints_load(name):
    float_model = timm.create_model(name, img_size=64, num_classes=5)
    keys = list(float_model.state_dict())
    student = ternarize(timm.create_model(name, img_size=64, num_classes=5))
    assert list(student.state_dict()) == keys
    student.load_state_dict(float_model.state_dict(), strict=True)
    for (k, a), b in zip(float_model.state_dict().items(), student.state_dict().values()):
        assert torch.equal(a, b), k


def _weight_holders(model):
    """(path, module) for every module owning parameters directly."""
    for path, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            yield path, module


def test_full_mode_leaves_no_float_weight_layer():
    model = timm.create_model("ftervit_small_patch16_224", img_size=64)
    for path, module in _weight_holders(model):
        if path == "":  # class token and position embedding: int16 in the model file
            assert {n for n, _ in module.named_parameters(recurse=False)} == {"cls_token",
                                                                             "pos_embed"}
        elif isinstance(module, LayerScale):  # folded into the ternary projection's scales
            assert path.endswith((".ls1", ".ls2"))
        else:
            assert isinstance(module, TERNARY), f"{path} is float {type(module).__name__}"


def test_encoder_mode_keeps_patch_embed_norms_and_head_float():
    model = timm.create_model("ftervit_small_patch16_224", img_size=64, mode="encoder")
    assert type(model.patch_embed.proj) is nn.Conv2d
    assert type(model.head) is nn.Linear
    for norm in [model.norm] + [n for b in model.blocks for n in (b.norm1, b.norm2)]:
        assert isinstance(norm, nn.LayerNorm) and not isinstance(norm, TernaryLayerNorm)
    for blk in model.blocks:
        for lin in (blk.attn.qkv, blk.attn.proj, blk.mlp.fc1, blk.mlp.fc2):
            assert isinstance(lin, TernaryLinear)


def test_full_mode_activation_codes_are_int8():
    model = timm.create_model("ftervit_micro_patch4_28").eval()
    seen = []
    for module in model.modules():
        if isinstance(module, TernaryLinear):
            module.register_forward_pre_hook(
                lambda m, args: seen.append(act_codes_per_token(args[0])[0]))
    model(torch.randn(2, 1, 28, 28))
    assert len(seen) == 6 * 4 + 1
    for codes in seen:
        assert codes.min() >= -128 and codes.max() <= 127


def test_gradients_reach_every_parameter_through_the_ternary_model():
    model = timm.create_model("ftervit_micro_patch4_28", depth=2)
    model(torch.randn(2, 1, 28, 28)).logsumexp(-1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


@pytest.mark.parametrize("name", ["ftervit_tiny_patch16_224", "ftervit_small_patch16_224",
                                  "ftervit_small_patch16_384", "ftervit_micro_patch4_28",
                                  "ftervit_micro_patch4_32"])
def test_named_configs_build_through_timm(name):
    model = timm.create_model(name)
    assert model.ftervit_mode == "full"
    size = model.patch_embed.img_size
    out = model.eval()(torch.randn(1, model.patch_embed.proj.in_channels, *size)) \
        if size[0] <= 32 else None
    if out is not None:
        assert out.shape == (1, model.num_classes) and torch.isfinite(out).all()


def test_named_configs_refuse_pretrained_downloads():
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("ftervit_micro_patch4_28", pretrained=True)


@pytest.mark.parametrize("build, message", [
    (lambda: timm.create_model("resnet18"), "ResNet is not a timm VisionTransformer"),
    (lambda: timm.create_model("deit_tiny_distilled_patch16_224"), "distilled"),
    (lambda: timm.create_model("vit_tiny_patch16_224", global_pool="avg"), "global_pool='avg'"),
    (lambda: timm.create_model("vit_tiny_patch16_224", reg_tokens=4), "register tokens"),
    (lambda: timm.create_model("vit_tiny_patch16_224", qk_norm=True), "qk_norm"),
    (lambda: timm.create_model("vit_tiny_patch16_224", qkv_bias=False), "bias"),
    (lambda: timm.create_model("vit_tiny_patch16_224", num_classes=0), "head"),
    (lambda: nn.Linear(3, 3), "Linear is not a timm VisionTransformer"),
])
def test_unsupported_models_get_a_clear_error(build, message):
    with pytest.raises((UnsupportedModelError, ValueError), match=message):
        ternarize(build())


def test_ternarize_twice_and_bad_mode_are_refused():
    model = timm.create_model("deit_micro_patch4_28")
    with pytest.raises(ValueError, match="mode must be one of"):
        ternarize(model, mode="half")
    ternarize(model)
    with pytest.raises(UnsupportedModelError, match="already ternarized"):
        ternarize(model)


def test_wrong_image_size_is_reported_by_shape():
    model = timm.create_model("ftervit_micro_patch4_28")
    with pytest.raises(AssertionError, match="doesn't match model"):
        model(torch.randn(1, 1, 32, 32))


def test_set_quantizers_switches_every_module():
    model = timm.create_model("ftervit_micro_patch4_28")
    set_quantizers(model, weights=False, acts=False, exact=True)
    from ftervit.layers import quantizer_state
    assert quantizer_state(model) == {"weights": [False], "acts": [False], "exact": [True]}


def _tiny_vit(**kwargs):
    from timm.models.vision_transformer import VisionTransformer
    options = dict(img_size=28, patch_size=4, in_chans=1, embed_dim=24, depth=1, num_heads=2,
                   num_classes=3)
    options.update(kwargs)
    return VisionTransformer(**options)


@pytest.mark.parametrize("kwargs, message", [
    (dict(img_size=30), "image size 30 is not a multiple of the patch size 4"),
    (dict(img_size=(28, 32)), "non-square images"),
    (dict(patch_size=(4, 7)), "non-square patches"),
    (dict(qk_norm=True), "qk_norm"),
])
def test_models_that_cannot_be_packed_are_refused_at_ternarize_time(kwargs, message):
    """Refused with the documented error before any training, not by the packer after it."""
    with pytest.raises(UnsupportedModelError, match=message):
        ternarize(_tiny_vit(**kwargs))
