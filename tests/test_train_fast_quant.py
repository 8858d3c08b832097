"""The fused quantizers used for training equal the reference fake-quantizers."""
import pytest
import torch
import torch.nn as nn

import ftervit.models  # noqa: F401
from ftervit.layers import (TernaryBitConv2d, TernaryLinear, set_fast_quantizers,
                            set_quantizers)


def _run(model, x):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    y = model(x)
    (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("exact", [False, True])
def test_fast_path_equals_reference_on_a_whole_model(exact, monkeypatch):
    import timm

    import ftervit.layers.ternary_conv as ternary_conv
    # The fused path's patch embedding is one matrix product (tests/test_patch_linear.py):
    # another summation order, whose last-bit differences can flip a later quantizer's
    # code.  Here it runs as the convolution, so the quantizers alone are compared.
    monkeypatch.setattr(ternary_conv, "patch_linear",
                        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=w.shape[-2:]))
    model = timm.create_model("ftervit_micro_patch4_28").train().double()
    set_quantizers(model, exact=exact)
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    y_ref, g_ref = _run(model, x)
    set_fast_quantizers(model, True)
    y_fast, g_fast = _run(model, x)
    torch.testing.assert_close(y_fast, y_ref, atol=1e-12, rtol=1e-12)
    for name in g_ref:
        torch.testing.assert_close(g_fast[name], g_ref[name], atol=1e-10, rtol=1e-9, msg=name)


def test_fast_path_switches_back_to_reference():
    import timm
    model = timm.create_model("ftervit_nano_patch7_28").eval()
    x = torch.randn(2, 1, 28, 28)
    ref = model(x)
    set_fast_quantizers(model, True, int8_matmul=True)
    assert all(m.fast for m in model.modules() if hasattr(m, "quant_weight"))
    set_fast_quantizers(model, False)
    torch.testing.assert_close(model(x), ref, atol=0, rtol=0)


@pytest.mark.parametrize("shape", [(4, 50, 192), (37, 64)])
def test_int8_linear_is_the_exact_integer_product(shape):
    torch.manual_seed(0)
    lin = TernaryLinear.from_float(nn.Linear(shape[-1], 96))
    x = (torch.randn(*shape) * torch.logspace(-2, 1, shape[-1])).requires_grad_(True)
    g = torch.randn(*shape[:-1], 96)
    y_ref = lin(x)
    y_ref.backward(g)
    grads_ref = (x.grad.clone(), lin.weight.grad.clone(), lin.bias.grad.clone())
    x.grad = None
    lin.zero_grad(set_to_none=True)
    set_fast_quantizers(lin, True, int8_matmul=True)
    y = lin(x)
    y.backward(g)
    torch.testing.assert_close(y, y_ref, atol=2e-5, rtol=1e-5)
    for got, want in zip((x.grad, lin.weight.grad, lin.bias.grad), grads_ref):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_int8_product_accumulates_exactly():
    """codes_x @ codes_w^T in int32 equals the float product of the codes."""
    from ftervit.layers.quant import act_codes_per_token, ternary_codes, ternary_scale
    torch.manual_seed(3)
    x, w = torch.randn(64, 1536), torch.randn(384, 1536)
    cx, _ = act_codes_per_token(x)
    cw = ternary_codes(w, ternary_scale(w))
    exact = torch._int_mm(cx.to(torch.int8), cw.to(torch.int8).t())
    assert torch.equal(exact.double(), cx.double() @ cw.double().t())


def test_int8_path_falls_back_for_shapes_it_cannot_take():
    lin = TernaryLinear.from_float(nn.Linear(20, 6))  # K, N not multiples of 8
    x = torch.randn(3, 20)
    ref = lin(x)
    set_fast_quantizers(lin, True, int8_matmul=True)
    torch.testing.assert_close(lin(x), ref, atol=1e-6, rtol=1e-6)


def test_fast_conv_equals_reference():
    conv = TernaryBitConv2d.from_float(nn.Conv2d(3, 16, 4, stride=4), input_scale=0.02)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    y_ref = conv(x)
    y_ref.sum().backward()
    g_ref = (x.grad.clone(), conv.weight.grad.clone())
    x.grad = None
    conv.zero_grad(set_to_none=True)
    set_fast_quantizers(conv, True)
    y = conv(x)
    y.sum().backward()
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(x.grad, g_ref[0])
    torch.testing.assert_close(conv.weight.grad, g_ref[1])


@pytest.mark.parametrize("width", [384, 1024, 1536, 1500, 2048])
def test_chunked_row_maximum_equals_the_plain_one(width):
    from ftervit.layers.fast import row_absmax, ste_act_per_token
    from ftervit.layers.quant import act_codes_per_token
    torch.manual_seed(width)
    x = torch.randn(5, 7, width) * torch.logspace(-3, 2, width)
    x[0, 0, width - 1] = -1e4  # the extreme in the last chunk, negative
    assert torch.equal(row_absmax(x), x.abs().amax(dim=-1, keepdim=True))
    codes, scale = act_codes_per_token(x)
    torch.testing.assert_close(ste_act_per_token(x), codes * scale, atol=0, rtol=0)
