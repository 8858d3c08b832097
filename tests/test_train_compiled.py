"""The fused training path compiles (TorchInductor on the CPU) to what the reference
path compiles to, and stays near eager mode."""
import torch

import ftervit.models  # noqa: F401
from ftervit.layers import set_fast_quantizers


def _step(model, x):
    model.zero_grad(set_to_none=True)
    y = model(x)
    (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    return y.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _relative(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def test_compiled_fast_student_equals_compiled_reference():
    import timm
    torch.manual_seed(0)
    model = timm.create_model("ftervit_micro_patch4_28").train()
    x = torch.randn(4, 1, 28, 28)
    y_eager, _ = _step(model, x)
    y_ref, g_ref = _step(torch.compile(model), x)
    set_fast_quantizers(model, True)
    y_fast, g_fast = _step(torch.compile(model), x)
    # Kernels that sum in another order (the fused path's patch embedding is one matrix
    # product; compiled kernels differ from eager ones) can move an int8 code now and
    # then, so: equal up to such rare moves, and near eager mode.
    assert _relative(y_fast, y_ref) < 1e-2
    close = [_relative(g_fast[name], g_ref[name]) < 1e-2 for name in g_ref]
    assert sum(close) >= 0.9 * len(close)
    assert _relative(y_ref, y_eager) < 0.05
