"""`ternarize(model)`: turn a timm DeiT / DeiT-III / ViT into FTerViT by a recursive module swap.

The swap replaces layers in place with their ternary twins, which keep the
same parameters and names, so a float checkpoint loads into the ternary model
unchanged and a teacher's weights initialise the student.
"""
from typing import Callable, Optional

import torch.nn as nn
from timm.layers import Attention, LayerScale, Mlp, PatchEmbed
from timm.models.vision_transformer import Block, VisionTransformer

from .deploy_plan import Geometry
from .layers import (TernaryAttention, TernaryBitConv2d, TernaryLayerNorm, TernaryLinear,
                     image_input_scale, set_quantizers)

MODES = ("full", "encoder")
DEFAULT_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class UnsupportedModelError(ValueError):
    """The model has a feature the FTerViT conversion or integer runtime cannot represent."""


def _fail(what: str):
    raise UnsupportedModelError(
        f"cannot ternarize: {what}. FTerViT supports timm VisionTransformer models of the "
        "DeiT / DeiT-III family (class token, absolute position embedding, pre-norm blocks, "
        "optional LayerScale, GELU MLP, 'token' pooling).")


def check_supported(model: nn.Module) -> None:
    """Raise UnsupportedModelError naming the first feature FTerViT cannot represent."""
    if not isinstance(model, VisionTransformer):
        _fail(f"{type(model).__name__} is not a timm VisionTransformer")
    if hasattr(model, "dist_token") or hasattr(model, "head_dist"):
        _fail("distilled DeiT models (distillation token, second head) are not supported")
    if model.cls_token is None or model.num_prefix_tokens != 1:
        _fail("the model needs exactly one class token and no register tokens")
    if model.global_pool != "token":
        _fail(f"global_pool={model.global_pool!r}; only 'token' pooling is supported")
    if model.pos_embed is None:
        _fail("the model has no absolute position embedding")
    if getattr(model, "dynamic_img_size", False):
        _fail("dynamic_img_size=True; the image size must be fixed")
    if not isinstance(model.norm_pre, nn.Identity) or not isinstance(model.fc_norm, nn.Identity):
        _fail("pre-norm or fc_norm layers are not supported")
    if getattr(model, "attn_pool", None) is not None:
        _fail("attention pooling is not supported")
    pe = model.patch_embed
    if type(pe) is not PatchEmbed or not isinstance(pe.proj, nn.Conv2d) \
            or not isinstance(pe.norm, nn.Identity):
        _fail("the patch embedding must be a plain PatchEmbed convolution without norm")
    _check_patch_grid(pe)
    if not isinstance(model.norm, nn.LayerNorm):
        _fail(f"final norm is {type(model.norm).__name__}, expected LayerNorm")
    if not isinstance(model.head, nn.Linear):
        _fail("the classifier head must be a Linear layer (num_classes > 0)")
    if model.head.bias is None or model.patch_embed.proj.bias is None:
        _fail("the head and the patch embedding need biases")
    for i, blk in enumerate(model.blocks):
        _check_block(i, blk)


def check_patch_grid(model: nn.Module) -> None:
    """For a model with a timm PatchEmbed (a float ViT about to be trained): refuse image and
    patch sizes that no ternary student of it could be packed with.  Other models pass."""
    pe = getattr(model, "patch_embed", None)
    if isinstance(pe, PatchEmbed):
        _check_patch_grid(pe)


def _check_patch_grid(pe: PatchEmbed) -> None:
    """The integer runtimes cut a square image into a whole number of square patches."""
    (ih, iw), (ph, pw) = tuple(pe.img_size), tuple(pe.patch_size)
    if ih != iw:
        _fail(f"non-square images ({ih}x{iw}); the image must be square")
    if ph != pw:
        _fail(f"non-square patches ({ph}x{pw}); patches must be square")
    if ih % ph:
        _fail(f"image size {ih} is not a multiple of the patch size {ph} (the last "
              f"{ih % ph} pixel rows and columns would be dropped)")
    if getattr(pe, "dynamic_img_pad", False):
        _fail("dynamic_img_pad=True; the image size must be fixed")


def _check_block(i: int, blk: nn.Module) -> None:
    if type(blk) is not Block:
        _fail(f"blocks[{i}] is {type(blk).__name__}, expected timm Block")
    if not isinstance(blk.norm1, nn.LayerNorm) or not isinstance(blk.norm2, nn.LayerNorm):
        _fail(f"blocks[{i}] norms must be LayerNorm")
    if type(blk.attn) not in (Attention, TernaryAttention):
        _fail(f"blocks[{i}].attn is {type(blk.attn).__name__}, expected timm Attention")
    unsupported = TernaryAttention.unsupported_features(blk.attn)
    if unsupported:
        _fail(f"blocks[{i}].attn uses {', '.join(unsupported)}, which the integer runtime "
              "does not implement")
    if type(blk.mlp) is not Mlp or not isinstance(blk.mlp.act, nn.GELU) \
            or not isinstance(blk.mlp.norm, nn.Identity):
        _fail(f"blocks[{i}].mlp must be a timm Mlp with GELU and no inner norm")
    if getattr(blk.mlp.act, "approximate", "none") != "none":
        _fail(f"blocks[{i}].mlp uses tanh-approximate GELU; exact GELU expected")
    linears = (blk.attn.qkv, blk.attn.proj, blk.mlp.fc1, blk.mlp.fc2)
    if any(lin.bias is None for lin in linears):
        _fail(f"blocks[{i}]: every Linear needs a bias (qkv_bias=True)")
    if blk.attn.num_heads * blk.attn.head_dim != model_dim(blk):
        _fail(f"blocks[{i}]: attention width differs from the embedding width")
    for ls in (blk.ls1, blk.ls2):
        if not isinstance(ls, (LayerScale, nn.Identity)):
            _fail(f"blocks[{i}] layer scale is {type(ls).__name__}")


def model_dim(blk: nn.Module) -> int:
    return blk.norm1.normalized_shape[0]


def swap_modules(module: nn.Module, fn: Callable[[str, nn.Module], Optional[nn.Module]],
                 prefix: str = "") -> nn.Module:
    """Recursively replace children: `fn(path, child)` returns a new module or None to keep
    descending.  Returns `module` (replaced in place)."""
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        new = fn(path, child)
        if new is None:
            swap_modules(child, fn, prefix=path + ".")
        elif new is not child:
            setattr(module, name, new)
    return module


def _data_mean_std(model: VisionTransformer):
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None or std is None:
        return DEFAULT_MEAN_STD
    in_chans = model.patch_embed.proj.in_channels
    if len(mean) != in_chans:
        mean, std = tuple(mean)[:1] * in_chans, tuple(std)[:1] * in_chans
    return tuple(mean), tuple(std)


def ternarize(model: nn.Module, mode: str = "full", weights: bool = True, acts: bool = True,
              mean=None, std=None) -> nn.Module:
    """Convert a timm DeiT / DeiT-III / ViT into FTerViT, in place; returns the model.

    mode='full': every weight ternary: block Linears, attention int8 points,
    the patch-embedding conv (per-channel scales), every LayerNorm's affine
    parameters and the head.  mode='encoder': only the encoder blocks'
    Linears and attention (the TerViT / BitNet-style baseline); patch
    embedding, norms and head stay float.
    `weights` / `acts` switch the quantizers (both False gives the float model's
    outputs exactly).  `mean` / `std` are the input normalisation, used for
    the patch embedding's int8 input step; default: the model's pretrained_cfg.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_supported(model)
    if getattr(model, "ftervit_mode", None) is not None:
        raise UnsupportedModelError("model is already ternarized "
                                    f"(mode={model.ftervit_mode!r})")
    if mean is None or std is None:
        mean, std = _data_mean_std(model)
    full = mode == "full"

    def swap(path: str, child: nn.Module):
        in_blocks = path.startswith("blocks.")
        if isinstance(child, Attention) and in_blocks:
            new = TernaryAttention.from_float(child)
            swap_modules(new, swap, prefix=path + ".")
            return new
        if isinstance(child, nn.Linear) and (in_blocks or (full and path == "head")):
            return TernaryLinear.from_float(child)
        if isinstance(child, nn.LayerNorm) and full:
            return TernaryLayerNorm.from_float(child)
        if isinstance(child, nn.Conv2d) and full and path == "patch_embed.proj":
            return TernaryBitConv2d.from_float(child, input_scale=image_input_scale(mean, std))
        return None

    swap_modules(model, swap)
    model.ftervit_mode = mode
    model.ftervit_norm = {"mean": list(mean), "std": list(std)}
    set_quantizers(model, weights=weights, acts=acts)
    return model


def geometry_from_model(model: nn.Module) -> Geometry:
    """The integer runtime's geometry of a supported timm model (its `.ftv` config)."""
    check_supported(model)
    pe = model.patch_embed
    if pe.img_size[0] != pe.img_size[1] or pe.patch_size[0] != pe.patch_size[1]:
        raise ValueError("FTerViT models need square images and patches")
    blk = model.blocks[0]
    return Geometry(
        img_size=pe.img_size[0], patch_size=pe.patch_size[0], in_chans=pe.proj.in_channels,
        embed_dim=model.embed_dim, depth=len(model.blocks), num_heads=blk.attn.num_heads,
        mlp_dim=blk.mlp.fc1.out_features, num_classes=model.head.out_features,
        cls_pos=not model.no_embed_class, layerscale=isinstance(blk.ls1, LayerScale))
