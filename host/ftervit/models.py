"""Named FTerViT configs, registered with timm so `timm.create_model('ftervit_...')` works.

Each `ftervit_*` builds its float twin through timm and converts it with
`ternarize`; pass `mode='encoder'` for the encoder-only baseline.  The
`deit_micro_*` float twins are small-image ViTs (28-32 px data) that timm
itself does not ship.
"""
import timm
from timm.models import register_model

from .convert import ternarize

# Small-image data (Fashion-MNIST, CIFAR) is normalised to [-1, 1]: (p - 0.5) / 0.5.
SMALL_IMAGE_MEAN_STD = (0.5, 0.5)


def _micro(img_size: int, in_chans: int, **kwargs):
    args = dict(img_size=img_size, patch_size=4, in_chans=in_chans, embed_dim=192, depth=6,
                num_heads=3, mlp_ratio=4, num_classes=10)
    args.update(kwargs)
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, **args)
    mean, std = SMALL_IMAGE_MEAN_STD
    model.pretrained_cfg = dict(model.pretrained_cfg, mean=(mean,) * in_chans,
                                std=(std,) * in_chans, input_size=(in_chans, img_size, img_size),
                                num_classes=args["num_classes"], crop_pct=1.0, url="", hf_hub_id="")
    return model


def _no_pretrained(name: str, pretrained: bool):
    if pretrained:
        raise ValueError(f"{name}: no pretrained weights are downloadable here; load a local "
                         "checkpoint (ftervit eval/distill --teacher-ckpt PATH) instead")


@register_model
def deit_micro_patch4_28(pretrained=False, **kwargs):
    """Float ViT for 28x28 grey images (Fashion-MNIST, MNIST): 6 blocks, 192 wide, 50 tokens."""
    _no_pretrained("deit_micro_patch4_28", pretrained)
    return _micro(kwargs.pop("img_size", 28), kwargs.pop("in_chans", 1), **kwargs)


@register_model
def deit_micro_patch4_32(pretrained=False, **kwargs):
    """Float ViT for 32x32 colour images (CIFAR-10): 6 blocks, 192 wide, 65 tokens."""
    _no_pretrained("deit_micro_patch4_32", pretrained)
    return _micro(kwargs.pop("img_size", 32), kwargs.pop("in_chans", 3), **kwargs)


@register_model
def deit_nano_patch7_28(pretrained=False, **kwargs):
    """Tiny float ViT for tests and quick checks: 28x28 grey, patch 7 (17 tokens), 2 blocks x 32."""
    _no_pretrained("deit_nano_patch7_28", pretrained)
    return _micro(kwargs.pop("img_size", 28), kwargs.pop("in_chans", 1),
                  **{**dict(patch_size=7, embed_dim=32, depth=2, num_heads=2), **kwargs})


def _ternary(float_name: str, pretrained: bool, mode: str, **kwargs):
    _no_pretrained(float_name, pretrained)
    return ternarize(timm.create_model(float_name, pretrained=False, **kwargs), mode=mode)


@register_model
def ftervit_tiny_patch16_224(pretrained=False, mode="full", **kwargs):
    """FTerViT of DeiT-Tiny @224 (5.7 M params)."""
    return _ternary("deit_tiny_patch16_224", pretrained, mode, **kwargs)


@register_model
def ftervit_small_patch16_224(pretrained=False, mode="full", **kwargs):
    """FTerViT of DeiT-III-Small @224 (22 M params; paper: 79.64 % top-1, 5.81 MB)."""
    return _ternary("deit3_small_patch16_224", pretrained, mode, **kwargs)


@register_model
def ftervit_small_patch16_384(pretrained=False, mode="full", **kwargs):
    """FTerViT of DeiT-III-Small @384 (paper: 82.43 % top-1, 6.09 MB)."""
    return _ternary("deit3_small_patch16_384", pretrained, mode, **kwargs)


@register_model
def ftervit_micro_patch4_28(pretrained=False, mode="full", **kwargs):
    """FTerViT for 28x28 grey images (the shipped Fashion-MNIST model)."""
    return _ternary("deit_micro_patch4_28", pretrained, mode, **kwargs)


@register_model
def ftervit_micro_patch4_32(pretrained=False, mode="full", **kwargs):
    """FTerViT for 32x32 colour images."""
    return _ternary("deit_micro_patch4_32", pretrained, mode, **kwargs)


@register_model
def ftervit_nano_patch7_28(pretrained=False, mode="full", **kwargs):
    """FTerViT of the tiny test config."""
    return _ternary("deit_nano_patch7_28", pretrained, mode, **kwargs)


FTERVIT_MODELS = ("ftervit_tiny_patch16_224", "ftervit_small_patch16_224",
                  "ftervit_small_patch16_384", "ftervit_micro_patch4_28", "ftervit_micro_patch4_32")


@register_model
def resnet18_micro(pretrained=False, num_classes=10, in_chans=1, **kwargs):
    """ResNet-18 for 28-32 px images: a 3x3 stride-1 stem without max-pool, so the four
    stages run at 28, 14, 7 and 4 px.  A CNN teacher for the small ViTs (DeiT trains its
    ViTs by distillation from a CNN); not ternarizable itself."""
    from timm.models.resnet import BasicBlock, ResNet
    import torch.nn as nn

    _no_pretrained("resnet18_micro", pretrained)
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, in_chans=in_chans,
                   **kwargs)
    model.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    mean, std = SMALL_IMAGE_MEAN_STD
    model.pretrained_cfg = dict(mean=(mean,) * in_chans, input_size=(in_chans, 28, 28),
                                std=(std,) * in_chans, num_classes=num_classes, crop_pct=1.0,
                                url="", hf_hub_id="")
    return model
