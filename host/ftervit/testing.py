"""Helpers for tests and benchmarks that build random models to pack."""
import torch
import torch.nn as nn


def perturb(model: nn.Module, seed: int) -> nn.Module:
    """Random norm affines, LayerScale gammas, biases and embeddings, in place, so that
    every ternary code and non-zero logits occur (timm's initial values are mostly
    zeros and ones).  Returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.5)
            elif "gamma" in name:
                p.mul_(torch.rand(p.shape, generator=gen) * 2)
            elif name in ("cls_token", "pos_embed") or name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()
