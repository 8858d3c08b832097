"""The one-pass GELU + int8 quantizer: the Triton kernel (run by Triton's CPU interpreter)
equals its reference twin, and folding it into ternary MLPs changes no value or key."""
import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import timm

import ftervit.models  # noqa: F401  (registers the ftervit_* models)
from ftervit.layers import set_fast_quantizers, set_quantizers
from ftervit.layers.gelu_quant import QuantGELU, fuse_gelu_quant, gelu_quant_ref, row_blocks

HOST = Path(__file__).resolve().parents[1] / "host"

# The interpreter must be chosen before triton is imported, hence a fresh process.
INTERPRETER_CHECK = textwrap.dedent("""
    import torch, triton
    from ftervit.layers import gelu_quant as g
    from ftervit.layers.quant import fake_act_per_token
    assert g.INTERPRET

    def same_formula(x):
        # the kernel's float32 steps, erf correctly rounded as the interpreter's is: the
        # quantizer must then agree exactly (erf implementations differ in the last bit)
        erf = torch.erf((x * 0.7071067811865476).double()).float()
        return fake_act_per_token(0.5 * x * (1.0 + erf))

    gen = torch.Generator().manual_seed(0)
    checked = 0
    for rows, width in [(5, 1536), (3, 100), (7, 384), (9, 2048), (2, 768), (4, 17), (1, 5)]:
        x = torch.randn(rows, width, generator=gen) * 3
        x[0, : width // 2] = 0.0                  # a row's first half zero
        if rows > 2:
            x[1] = 0.0                           # an all-zero row: scale from EPS
            x[2, 0] = 1e4                        # one huge value: the rest round to 0
        want = same_formula(x)
        ref = g.gelu_quant_ref(x)
        step = ref.abs().amax(-1, keepdim=True).clamp_min(1e-5) / 127
        block, chunks = g.row_blocks(width)
        for rows_per_program in (1, 2, 4):
            y = torch.empty_like(x)
            grid = (triton.cdiv(rows, rows_per_program),)
            g._gelu_quant_kernel.fn[grid](x, y, rows, N=width, BLOCK=block, CHUNKS=chunks,
                                          ROWS=rows_per_program)
            assert torch.equal(y, want), (rows, width, rows_per_program, (y - want).abs().max())
            assert ((y - ref).abs() <= step * 1.001).all()  # torch's GELU: one code at most
            checked += 1
    # the custom op end to end: forward values, and GELU's gradient straight through
    x = (torch.randn(6, 1536, generator=gen) * 2).requires_grad_()
    y = g.gelu_quant_triton(x)
    assert torch.equal(y, same_formula(x.detach()))
    grad = torch.randn(6, 1536, generator=gen)
    y.backward(grad)
    assert torch.equal(x.grad, torch.ops.aten.gelu_backward(grad, x.detach()))
    print("checked", checked)
""")


def test_triton_kernel_equals_reference_in_interpreter():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(HOST))
    run = subprocess.run([sys.executable, "-c", INTERPRETER_CHECK], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "checked 21" in run.stdout


@pytest.mark.parametrize("width,expected", [(1536, (512, 3)), (768, (256, 3)), (384, (128, 3)),
                                            (2048, (2048, 1)), (1024, (1024, 1)),
                                            (100, (128, 1)), (17, (32, 1))])
def test_row_blocks_cover_the_row_without_idle_lanes_where_possible(width, expected):
    block, chunks = row_blocks(width)
    assert (block, chunks) == expected
    assert block * chunks >= width and block & (block - 1) == 0


def _student(**kwargs):
    torch.manual_seed(0)
    return timm.create_model("ftervit_nano_patch7_28", **kwargs).double().train()


def test_fusing_changes_no_value_gradient_or_key():
    ref = _student()
    fast = set_fast_quantizers(copy.deepcopy(ref), True)
    assert all(type(b.mlp.act) is QuantGELU and b.mlp.fc2.prequantized_input for b in fast.blocks)
    assert list(fast.state_dict()) == list(ref.state_dict())
    x = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    out_ref, out_fast = ref(x), fast(x)
    assert torch.equal(out_fast, out_ref)
    out_ref.square().sum().backward()
    out_fast.square().sum().backward()
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters()):
        assert torch.allclose(p_fast.grad, p_ref.grad, rtol=1e-12, atol=1e-14), name
    with torch.no_grad():  # the evaluation path as well
        assert torch.equal(fast.eval()(x), ref.eval()(x))


def test_unfusing_restores_the_plain_gelu():
    model = set_fast_quantizers(_student(), True)
    set_fast_quantizers(model, False)
    assert all(type(b.mlp.act) is nn.GELU and not b.mlp.fc2.prequantized_input
               for b in model.blocks)


def test_fused_gelu_follows_set_quantizers():
    ref, fast = _student(), set_fast_quantizers(_student(), True)
    set_quantizers(ref, acts=False)
    set_quantizers(fast, acts=False)
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    assert all(type(b.mlp.act) is QuantGELU for b in fast.blocks)
    # float activations: equal up to float64 summation order (the fused patch embedding)
    assert torch.allclose(fast(x), ref(x), rtol=1e-10, atol=1e-15)


def test_deepcopy_points_the_fused_gelu_at_the_copied_layer():
    model = set_fast_quantizers(_student(), True)
    clone = copy.deepcopy(model)
    assert clone.blocks[0].mlp.act.consumer is clone.blocks[0].mlp.fc2


def test_not_fused_where_values_would_change():
    dropped = set_fast_quantizers(_student(proj_drop_rate=0.1), True)
    assert all(type(b.mlp.act) is nn.GELU for b in dropped.blocks)  # dropout after GELU
    int8 = set_fast_quantizers(_student(), True, int8_matmul=True)
    assert all(type(b.mlp.act) is nn.GELU for b in int8.blocks)  # fc2 quantizes in its kernel
    float_model = fuse_gelu_quant(timm.create_model("deit_nano_patch7_28"))
    assert type(float_model.blocks[0].mlp.act) is nn.GELU  # no ternary fc2: nothing to fold


def test_reference_twin_is_gelu_then_per_token_quantizer():
    x = torch.randn(4, 96, dtype=torch.float64) * 3
    y = gelu_quant_ref(x)
    gelu = torch.nn.functional.gelu(x)
    scale = gelu.abs().amax(-1, keepdim=True) / 127
    assert torch.allclose(y, torch.round(gelu / scale).clamp(-128, 127) * scale, atol=1e-12)
    assert ((y / scale).round() - y / scale).abs().max() < 1e-9  # codes are integers
