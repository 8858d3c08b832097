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
    return _micro(28, 1, **kwargs)


@register_model
def deit_micro_patch4_32(pretrained=False, **kwargs):
    """Float ViT for 32x32 colour images (CIFAR-10): 6 blocks, 192 wide, 65 tokens."""
    _no_pretrained("deit_micro_patch4_32", pretrained)
    return _micro(32, 3, **kwargs)


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


FTERVIT_MODELS = ("ftervit_tiny_patch16_224", "ftervit_small_patch16_224",
                  "ftervit_small_patch16_384", "ftervit_micro_patch4_28", "ftervit_micro_patch4_32")
