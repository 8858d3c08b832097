"""The patch embedding computed as one matrix product equals the convolution."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import ftervit.models  # noqa: F401
from ftervit.layers import PatchLinearConv2d, use_patch_linear
from ftervit.layers.class_token import ClassTokenBlock
from ftervit.layers.patch_linear import is_patch_conv, patch_linear


@pytest.mark.parametrize("shape, kernel, bias", [
    ((2, 3, 32, 32), (16, 16), True),
    ((3, 1, 28, 28), (4, 4), True),
    ((1, 3, 37, 29), (7, 5), False),  # sizes that leave a remainder, non-square patches
    ((2, 5, 9, 9), (3, 3), True),
])
def test_equals_the_convolution_forward_and_backward(shape, kernel, bias):
    torch.manual_seed(sum(shape))
    conv = nn.Conv2d(shape[1], 11, kernel, stride=kernel, bias=bias).double()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(conv(x))
    want = conv(x)
    want.backward(g)
    want_grads = [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
    x.grad = None
    conv.zero_grad()
    got = patch_linear(x, conv.weight, conv.bias)
    got.backward(g)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip([x.grad] + [p.grad for p in conv.parameters()], want_grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_flattening_like_timm_needs_no_copy():
    conv = nn.Conv2d(3, 8, 4, stride=4)
    y = patch_linear(torch.randn(2, 3, 16, 16), conv.weight, conv.bias)
    tokens = y.flatten(2).transpose(1, 2)
    assert tokens.shape == (2, 16, 8) and tokens.is_contiguous()


def test_swap_keeps_parameters_keys_and_outputs():
    import timm
    torch.manual_seed(0)
    model = timm.create_model("deit_micro_patch4_28", num_classes=10).eval()
    x = torch.randn(2, 1, 28, 28)
    want = model(x)
    keys = list(model.state_dict())
    weight = model.patch_embed.proj.weight
    use_patch_linear(model)
    assert type(model.patch_embed.proj) is PatchLinearConv2d
    assert model.patch_embed.proj.weight is weight  # the optimizer's tensors stay valid
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)


def test_other_convolutions_are_left_alone_and_refused():
    padded = nn.Conv2d(3, 8, 3, stride=1, padding=1)
    strided = nn.Conv2d(3, 8, 4, stride=2)
    model = nn.Sequential(padded, strided)
    use_patch_linear(model)
    assert type(model[0]) is nn.Conv2d and type(model[1]) is nn.Conv2d
    assert not is_patch_conv(padded) and not is_patch_conv(strided)
    with pytest.raises(ValueError, match="not a patch convolution"):
        PatchLinearConv2d.from_conv(padded)


def test_ternary_conv_fast_path_uses_it_with_equal_values():
    from ftervit.layers import TernaryBitConv2d, set_fast_quantizers
    torch.manual_seed(3)
    conv = TernaryBitConv2d.from_float(nn.Conv2d(3, 16, 8, stride=8), input_scale=0.02)
    x = torch.randn(2, 3, 40, 40)
    ref = conv(x)
    set_fast_quantizers(conv, True)
    torch.testing.assert_close(conv(x), ref, rtol=1e-5, atol=1e-5)


def test_teacher_runner_computes_the_patch_embedding_as_a_product_and_keeps_logits():
    import timm

    from ftervit.train.teacher import TeacherRunner
    torch.manual_seed(0)
    model = timm.create_model("deit_micro_patch4_28", num_classes=10).eval()
    x = torch.randn(3, 1, 28, 28)
    want = model(x)
    runner = TeacherRunner(model, "cpu", precision="fp32")
    assert type(runner.model.patch_embed.proj) is PatchLinearConv2d
    assert type(runner.model.blocks[-1]) is ClassTokenBlock  # its other speed-up
    assert not runner.copy_out
    torch.testing.assert_close(runner(x), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(runner.submit(x).result(), want, rtol=1e-5, atol=1e-5)


def test_teacher_logits_are_copied_out_of_cuda_graph_buffers():
    import timm

    from ftervit.train.teacher import TeacherRunner
    model = timm.create_model("deit_micro_patch4_28", num_classes=10)
    runner = TeacherRunner(model, "cpu", precision="fp32", compile_model=True,
                           compile_mode="reduce-overhead")
    assert runner.copy_out  # the next batch would overwrite the graph's output buffer
