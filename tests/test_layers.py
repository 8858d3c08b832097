"""Quantization layers: ternary values, per-channel scales, int8 codes, STE gradients."""
import pytest
import torch
import torch.nn as nn

from ftervit.layers import (TernaryAttention, TernaryBitConv2d, TernaryLayerNorm, TernaryLinear,
                            set_quantizers)
from ftervit.layers.quant import act_codes_per_token, fake_act_per_token, ternary_scale


def _codes(values, scale):
    ratio = values / scale
    return torch.round(ratio), ratio


def test_linear_weights_are_ternary_times_one_scale():
    lin = TernaryLinear.from_float(nn.Linear(37, 11))
    w = lin.quantized_weight().detach()
    scale = ternary_scale(lin.weight.detach())
    codes, ratio = _codes(w, scale)
    torch.testing.assert_close(ratio, codes)
    assert set(codes.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert set(codes.unique().tolist()) == {-1.0, 0.0, 1.0}


def test_conv_has_one_scale_per_output_channel():
    conv = nn.Conv2d(3, 8, kernel_size=4, stride=4)
    with torch.no_grad():  # make channel magnitudes very different
        conv.weight.mul_(torch.arange(1, 9, dtype=torch.float32).view(8, 1, 1, 1) ** 2)
    tconv = TernaryBitConv2d.from_float(conv, input_scale=1 / 127)
    w = tconv.quantized_weight().detach()
    scales = conv.weight.detach().abs().mean(dim=(1, 2, 3))
    for o in range(8):
        nonzero = w[o][w[o] != 0].abs()
        torch.testing.assert_close(nonzero, torch.full_like(nonzero, scales[o].item()))
    assert len({round(s.item(), 6) for s in scales}) == 8


def test_conv_rejects_non_patch_convolutions():
    with pytest.raises(ValueError, match="patch-embedding"):
        TernaryBitConv2d.from_float(nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1))


def test_conv_input_codes_are_int8_with_the_fixed_step():
    step = 0.05
    tconv = TernaryBitConv2d.from_float(nn.Conv2d(1, 2, 2, stride=2), input_scale=step)
    seen = {}
    tconv.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    x = torch.randn(1, 1, 4, 4) * 10
    set_quantizers(tconv, weights=False)
    y = tconv(x)
    xq = torch.clamp(torch.round(x / step), -128, 127) * step
    torch.testing.assert_close(y, nn.functional.conv2d(xq, tconv.weight, tconv.bias, 2))


def test_activation_codes_in_int8_range_and_per_token():
    x = torch.randn(4, 9, 33) * torch.logspace(-3, 3, 9).view(1, 9, 1)
    codes, scale = act_codes_per_token(x)
    assert codes.min() >= -128 and codes.max() <= 127
    assert torch.equal(codes, torch.round(codes))
    # every token uses its own full range
    assert torch.all(codes.abs().amax(dim=-1) == 127)
    assert scale.shape == (4, 9, 1)


def test_layernorm_affine_is_ternary_with_own_scales():
    norm = nn.LayerNorm(24)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(24))
        norm.bias.copy_(torch.randn(24) * 0.1)
    tnorm = TernaryLayerNorm.from_float(norm)
    w, b = (t.detach() for t in tnorm.quantized_affine())
    for q, raw in ((w, norm.weight), (b, norm.bias)):
        scale = ternary_scale(raw.detach())
        codes, ratio = _codes(q, scale)
        torch.testing.assert_close(ratio, codes)
        assert set(codes.unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_layernorm_needs_affine_parameters():
    with pytest.raises(ValueError, match="affine"):
        TernaryLayerNorm.from_float(nn.LayerNorm(8, elementwise_affine=False))


@pytest.mark.parametrize("layer", ["linear", "conv", "norm"])
def test_gradients_reach_float_shadow_parameters(layer):
    if layer == "linear":
        module, x = TernaryLinear.from_float(nn.Linear(16, 8)), torch.randn(3, 5, 16)
    elif layer == "conv":
        module = TernaryBitConv2d.from_float(nn.Conv2d(3, 8, 4, stride=4), input_scale=0.02)
        x = torch.randn(2, 3, 8, 8)
    else:
        module, x = TernaryLayerNorm.from_float(nn.LayerNorm(16)), torch.randn(3, 16)
    x.requires_grad_(True)
    module(x).square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reached {name}"
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_switching_quantizers_off_restores_float_layers():
    lin = nn.Linear(10, 6)
    tlin = TernaryLinear.from_float(lin)
    x = torch.randn(4, 10)
    assert not torch.allclose(tlin(x), lin(x))
    set_quantizers(tlin, weights=False, acts=False)
    torch.testing.assert_close(tlin(x), lin(x))


def test_attention_rejects_unsupported_variants():
    from timm.layers import Attention
    with pytest.raises(ValueError, match="qk_norm"):
        TernaryAttention.from_float(Attention(16, num_heads=2, qk_norm=True,
                                              norm_layer=nn.LayerNorm))


def test_exact_attention_rounds_probabilities():
    from timm.layers import Attention
    attn = Attention(16, num_heads=2, qkv_bias=True).eval()
    tattn = TernaryAttention.from_float(attn)
    x = torch.randn(1, 7, 16)
    fused = tattn(x)
    set_quantizers(tattn, exact=True)
    exact = tattn(x)
    # both quantize q/k/v identically; the exact form differs only by 2**-15 probability steps
    torch.testing.assert_close(exact, fused, atol=2e-3, rtol=0)
    assert not torch.equal(exact, fused)


def test_inference_quantizes_the_weight_once_per_frozen_scope():
    from ftervit.layers import frozen_ternary_weights
    from ftervit.layers.quant import fake_ternary

    lin = TernaryLinear.from_float(nn.Linear(12, 5))
    x = torch.randn(3, 12)

    def expected():
        return nn.functional.linear(fake_act_per_token(x), fake_ternary(lin.weight), lin.bias)

    with_grad = lin(x).detach()
    with torch.no_grad():
        torch.testing.assert_close(lin(x), with_grad, rtol=0, atol=0)
        with frozen_ternary_weights(lin):
            first = lin._frozen_weight()
            assert lin._frozen_weight() is first          # reused inside the scope
            with frozen_ternary_weights(lin):             # a nested scope shares it
                assert lin._frozen_weight() is first
            assert lin._frozen_weight() is first          # the inner exit dropped nothing
        # outside any scope nothing is kept: an in-place update that leaves no trace
        # (fused AdamW keeps weight._version) is seen at the next forward
        version = lin.weight._version
        lin.weight.data.mul_(-1)
        assert lin.weight._version == version
        torch.testing.assert_close(lin(x), expected(), rtol=0, atol=0)
        assert lin._frozen_weight() is not first
        with frozen_ternary_weights(lin):
            torch.testing.assert_close(lin(x), expected(), rtol=0, atol=0)
    assert "_frozen_scope" not in lin.__dict__
