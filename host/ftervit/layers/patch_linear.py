"""The patch embedding as one matrix product, for training speed.

A convolution whose stride equals its kernel and which has no padding reads
every pixel once: cutting the image into patches and multiplying by the
flattened kernel gives the same result (up to float summation order). For a
ViT's 16 x 16 patch convolution in bf16, cuDNN's kernels are slow on an H100
(about 1 ms for a batch of 256 with `cudnn.benchmark`, 1.65 ms without, see
docs/results.md); the patch reshuffle plus one matrix product is a fraction of
that, in the forward pass and in the backward pass.

`PatchLinearConv2d` is an `nn.Conv2d` (same parameters, same state-dict keys)
computing this way; `use_patch_linear(model)` swaps it in for every patch
convolution of a model, e.g. a frozen teacher.  `TernaryBitConv2d`'s fused
training path uses `patch_linear` directly.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .retype import retyped


def is_patch_conv(conv: nn.Module) -> bool:
    """A plain 2-D convolution with stride == kernel, no padding, no dilation, one group."""
    return (isinstance(conv, nn.Conv2d) and conv.groups == 1 and conv.dilation == (1, 1)
            and conv.padding in ((0, 0), "valid") and conv.stride == conv.kernel_size
            and conv.padding_mode == "zeros")


def patch_linear(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """`F.conv2d(x, weight, bias, stride=kernel)` as a matrix product; NCHW in, NCHW out
    (a permuted view whose (N, H*W, C) flattening, as timm's PatchEmbed does, is free)."""
    batch, chans, height, width = x.shape
    out_chans, _, kh, kw = weight.shape
    gh, gw = height // kh, width // kw
    x = x[:, :, :gh * kh, :gw * kw]  # like the convolution, drop what no whole patch covers
    patches = (x.reshape(batch, chans, gh, kh, gw, kw).permute(0, 2, 4, 1, 3, 5)
               .reshape(batch * gh * gw, chans * kh * kw))
    y = F.linear(patches, weight.reshape(out_chans, -1), bias)
    return y.reshape(batch, gh, gw, out_chans).permute(0, 3, 1, 2)


class PatchLinearConv2d(nn.Conv2d):
    """An `nn.Conv2d` with stride == kernel and no padding, computed by `patch_linear`."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "PatchLinearConv2d":
        if not is_patch_conv(conv):
            raise ValueError(f"not a patch convolution (stride == kernel, no padding): {conv}")
        return retyped(conv, cls)  # the same Parameter objects

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return patch_linear(x, self.weight, self.bias)


def use_patch_linear(model: nn.Module) -> nn.Module:
    """Swap every plain patch convolution of `model` for `PatchLinearConv2d`, in place
    (parameters shared, state-dict keys kept); returns the model."""
    for name, child in model.named_children():
        if type(child) is nn.Conv2d and is_patch_conv(child):
            setattr(model, name, PatchLinearConv2d.from_conv(child))
        else:
            use_patch_linear(child)
    return model
