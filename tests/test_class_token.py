"""The last block computed for the class token only: same logits, gradients and keys."""
import copy

import pytest
import timm
import torch
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import Block, VisionTransformer

import ftervit.models  # noqa: F401  (registers the test architectures)
from ftervit.layers import set_fast_quantizers, set_quantizers
from ftervit.layers.class_token import ClassTokenBlock, class_token_output, tokens_read

SMALL = dict(img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=2, num_heads=2,
             num_classes=10)


def _pair(model):
    torch.manual_seed(0)
    model = model.double().train()
    return model, class_token_output(copy.deepcopy(model))


def _assert_same_training_step(full, short, rtol=1e-10):
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    torch.manual_seed(1)
    out_full = full(x)
    torch.manual_seed(1)
    out_short = short(x)
    torch.testing.assert_close(out_short, out_full, rtol=rtol, atol=1e-12)
    out_full.square().sum().backward()
    out_short.square().sum().backward()
    for (name, p_full), p_short in zip(full.named_parameters(), short.parameters()):
        torch.testing.assert_close(p_short.grad, p_full.grad, rtol=rtol, atol=1e-12, msg=name)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("exact", [False, True])
def test_ternary_student_keeps_its_logits_and_gradients(fast, exact):
    model = timm.create_model("ftervit_nano_patch7_28")
    set_fast_quantizers(model, fast)
    set_quantizers(model, exact=exact)
    full, short = _pair(model)
    assert type(short.blocks[-1]) is ClassTokenBlock and short.blocks[-1].keep == 1
    assert type(short.blocks[0]) is not ClassTokenBlock
    assert list(short.state_dict()) == list(full.state_dict())
    _assert_same_training_step(full, short)


@pytest.mark.parametrize("fused_attn", [False, True])
def test_float_vit_keeps_its_logits_and_gradients(fused_attn):
    model = VisionTransformer(**SMALL)
    for block in model.blocks:
        block.attn.fused_attn = fused_attn
    _assert_same_training_step(*_pair(model))


def test_distilled_deit_keeps_both_prefix_tokens():
    model = VisionTransformerDistilled(**SMALL).eval()  # eval: the two heads' mean
    full, short = _pair(model)
    assert short.blocks[-1].keep == 2
    _assert_same_training_step(full.eval(), short.eval())


def test_register_tokens_are_kept_too():
    model = VisionTransformer(**SMALL, reg_tokens=3)
    assert tokens_read(model) == 4
    _assert_same_training_step(*_pair(model))


def test_models_reading_every_token_are_left_alone():
    avg = VisionTransformer(**dict(SMALL, global_pool="avg", class_token=False))
    assert tokens_read(avg) is None
    assert type(class_token_output(avg).blocks[-1]) is Block
    cnn = timm.create_model("resnet18_micro")
    assert class_token_output(cnn) is cnn


def test_undo_restores_the_plain_block():
    model = class_token_output(timm.create_model("deit_nano_patch7_28"))
    last = model.blocks[-1]
    class_token_output(model, False)
    assert type(model.blocks[-1]) is Block and not hasattr(model.blocks[-1], "keep")
    assert model.blocks[-1].attn is last.attn  # the same modules, nothing copied
    assert class_token_output(class_token_output(model)).blocks[-1].keep == 1  # idempotent

