"""The one-pass Q/K/V quantizer: its Triton kernels (run by Triton's CPU interpreter) equal
the reference quantizers and the reference gradient, alone and inside a training model."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ftervit.layers import qkv_quant

HOST = Path(__file__).resolve().parents[1] / "host"

# The interpreter must be chosen before triton is imported, hence a fresh process.
INTERPRETER_CHECK = textwrap.dedent("""
    import copy
    import timm, torch
    import ftervit.models  # noqa: F401
    from ftervit.layers import qkv_quant as qq, set_fast_quantizers
    assert qq.INTERPRET

    gen = torch.Generator().manual_seed(0)
    checked = 0
    # (batch, tokens, heads, head_dim): DeiT-S's tile, odd token counts, a padded head_dim
    for b, n, h, d in [(2, 197, 2, 64), (3, 5, 2, 16), (1, 17, 4, 48), (2, 50, 1, 8)]:
        x = torch.randn(b, n, 3 * h * d, generator=gen) * 3
        x[0, 0, : h * d] = 0.0                              # a token of Q all zero
        x[0, :, h * d: h * d + d] = 0.0                     # head 0 of K all zero
        x[-1, n // 2, 2 * h * d + d - 1] = 1e4              # one huge value in V
        want = qq.qkv_quant_ref(x, h)
        x.requires_grad_()
        got = qq.qkv_quant_triton(x, h)
        for name, g, w in zip("qkv", got, want):
            assert g.shape == (b, h, n, d) and g.is_contiguous(), (name, g.shape)
            assert torch.equal(g, w), (b, n, h, d, name, (g - w).abs().max())
        # the gradient: straight through, interleaved back; one gradient non-contiguous
        grads = [torch.randn(b, h, n, d, generator=gen),
                 torch.randn(b, n, h, d, generator=gen).transpose(1, 2),
                 torch.randn(b, h, n, d, generator=gen)]
        torch.autograd.backward(got, grads)
        ref_x = x.detach().clone().requires_grad_()
        torch.autograd.backward(qq.split_heads(ref_x, h), grads)
        assert torch.equal(x.grad, ref_x.grad), (b, n, h, d)
        checked += 1

    # inside a training model: the fast path with and without the kernel
    torch.manual_seed(0)
    ref = set_fast_quantizers(timm.create_model("ftervit_nano_patch7_28").train(), True)
    fast = copy.deepcopy(ref)
    img = torch.randn(3, 1, 28, 28, generator=gen)
    kernel, calls = qq.qkv_quant_triton, []
    qq.qkv_quant_triton = lambda *args: calls.append(args[1]) or kernel(*args)
    out_fast = fast(img)
    assert len(calls) == len(fast.blocks), calls  # every block took the kernel
    plain_fits = qq.fits
    qq.fits = lambda *args: False
    out_ref = ref(img)
    qq.fits = plain_fits
    assert torch.equal(out_fast, out_ref), (out_fast - out_ref).abs().max()
    out_fast.square().sum().backward()
    out_ref.square().sum().backward()
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters()):
        assert torch.allclose(p_fast.grad, p_ref.grad, rtol=1e-5, atol=1e-7), name
    print("checked", checked)
""")


def test_triton_kernels_equal_reference_in_interpreter():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(HOST))
    run = subprocess.run([sys.executable, "-c", INTERPRETER_CHECK], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "checked 4" in run.stdout


def test_reference_quantizes_q_per_token_and_k_v_per_head():
    b, n, h, d = 2, 7, 3, 4
    x = torch.randn(b, n, 3 * h * d, dtype=torch.float64) * 2
    q, k, v = qkv_quant.qkv_quant_ref(x, h)
    parts = x.reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
    for got, part, dims in ((q, parts[0], (-1,)), (k, parts[1], (-2, -1)), (v, parts[2], (-2, -1))):
        step = part.abs().amax(dim=dims, keepdim=True) / 127
        torch.testing.assert_close(got, torch.round(part / step).clamp(-128, 127) * step,
                                   rtol=0, atol=1e-12)


def test_cpu_and_oversized_tiles_take_the_reference_path():
    assert not qkv_quant.fits(torch.randn(1, 197, 3 * 6 * 64), 6)  # CPU, no interpreter
    assert qkv_quant.tile_fits(197, 64)       # DeiT at 224: 256 x 64 in registers
    assert qkv_quant.tile_fits(17, 48)        # 32 x 64
    assert not qkv_quant.tile_fits(577, 64)   # DeiT at 384: 1024 x 64, the reference path
    assert not qkv_quant.tile_fits(197, 128)
