"""The teacher's fc1 + GELU as one matrix-product call (`layers.linear_gelu`)."""
import pytest
import timm
import torch
import torch.nn as nn

import ftervit.models  # noqa: F401  (registers the test architectures)
from ftervit.layers.linear_gelu import LinearGELU, fuse_linear_gelu


def frozen(name="deit_micro_patch4_28"):
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10).double()
    return model.eval().requires_grad_(False)


def test_fused_teacher_equals_the_original_and_keeps_its_keys():
    model = frozen()
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    want = model(x)
    keys = list(model.state_dict())
    assert fuse_linear_gelu(model) == len(model.blocks)
    for block in model.blocks:
        assert type(block.mlp.fc1) is LinearGELU and type(block.mlp.act) is nn.Identity
    assert list(model.state_dict()) == keys
    # on the CPU the epilogue's GELU is the exact one: equal up to float64 rounding
    torch.testing.assert_close(model(x), want, rtol=0, atol=1e-12)


def test_linear_gelu_shares_the_parameters_and_takes_any_leading_dims():
    lin = nn.Linear(6, 10).double()
    fused = LinearGELU.from_linear(lin)
    assert fused.weight is lin.weight and fused.bias is lin.bias
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(fused(x), nn.functional.gelu(lin(x)), rtol=0, atol=1e-12)


def test_only_frozen_models_are_fused():
    model = timm.create_model("deit_micro_patch4_28", num_classes=10)
    with pytest.raises(ValueError, match="frozen"):
        fuse_linear_gelu(model.eval())  # parameters still need gradients
    with pytest.raises(ValueError, match="frozen"):
        fuse_linear_gelu(model.train().requires_grad_(False))
    assert all(type(b.mlp.act) is nn.GELU for b in model.blocks)  # nothing was changed


def test_linear_without_bias_is_refused():
    with pytest.raises(ValueError, match="bias"):
        LinearGELU.from_linear(nn.Linear(4, 4, bias=False))


def test_teacher_runner_fuses_only_in_bf16():
    from ftervit.train.teacher import TeacherRunner
    runner = TeacherRunner(frozen().float(), "cpu", precision="bf16")  # bf16 needs CUDA
    assert runner.precision == "fp32" and not runner.gelu_epilogue
    assert all(type(b.mlp.act) is nn.GELU for b in runner.model.blocks)
