"""FP8 (e4m3) inference Linear for a frozen teacher on Hopper-class GPUs.

Weights are quantized once, with one scale per output row; activations per
token at run time; `torch._scaled_mm` multiplies on the FP8 tensor cores
(twice the bf16 rate) and writes bf16.  The teacher's logits move by about
1 % of their spread: fine for a distillation target, never used for the
student itself.
"""
import torch
import torch.nn as nn

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0


class FP8Linear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / E4M3_MAX
        self.register_buffer("w8", (w / scale).to(E4M3).contiguous())     # [N, K]
        self.register_buffer("w_scale", scale.t().contiguous())              # [1, N]
        bias = linear.bias.detach().to(torch.bfloat16) if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        sx = x2.abs().amax(dim=-1, keepdim=True).float().clamp_min(1e-12) / E4M3_MAX
        x8 = (x2.float() / sx).to(E4M3)
        y = torch._scaled_mm(x8, self.w8.t(), scale_a=sx, scale_b=self.w_scale,
                             out_dtype=torch.bfloat16)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)


def fp8_supported(device) -> bool:
    device = torch.device(device)
    if device.type != "cuda" or not hasattr(torch, "float8_e4m3fn"):
        return False
    if torch.cuda.get_device_capability(device) < (8, 9):
        return False
    try:
        lin = nn.Linear(64, 32).to(device)
        ref = lin(torch.randn(32, 64, device=device))
        out = FP8Linear(lin)(torch.randn(32, 64, device=device).to(torch.bfloat16))
        return out.shape == ref.shape and bool(torch.isfinite(out).all())
    except (RuntimeError, NotImplementedError, TypeError):
        return False


def convert_linears_to_fp8(model: nn.Module) -> int:
    """Swap every nn.Linear whose sizes FP8 GEMMs take (multiples of 16) for FP8Linear.
    Returns how many were swapped."""
    count = 0
    for name, child in list(model.named_children()):
        if type(child) is nn.Linear and child.in_features % 16 == 0 \
                and child.out_features % 16 == 0:
            setattr(model, name, FP8Linear(child))
            count += 1
        else:
            count += convert_linears_to_fp8(child)
    return count
