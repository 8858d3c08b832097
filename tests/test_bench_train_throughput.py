"""The training-throughput benchmark's helpers (the benchmark itself needs a GPU)."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_train_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, kind", [
    ("nvjet_sm90_tst_192x192_64x4_1x2_h_bz_coopB_bias_TNN", "matmul"),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "matmul"),
    ("triton_tem_fused_addmm_0", "matmul"),
    ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7", "attention"),
    ("triton_red_fused_abs_amax_clamp_clamp_min_div_gelu_mul_round_view_22", "compiled elementwise/reduction"),
    ("_gelu_quant_kernel", "compiled elementwise/reduction"),
    ("void at::native::multi_tensor_apply_kernel<FusedOptimizerTensorListMetadata>", "optimizer"),
    ("Memset (Device)", "other"),
])
def test_kernel_kind(bench, name, kind):
    assert bench.kernel_kind(name) == kind


def test_inductor_options_set_nested_keys_and_refuse_unknown(bench, monkeypatch):
    import torch._inductor.config as config
    monkeypatch.setattr(config, "combo_kernels", config.combo_kernels)
    monkeypatch.setattr(config.triton, "multi_kernel", config.triton.multi_kernel)
    parser = argparse.ArgumentParser()
    bench.set_inductor_options(["combo_kernels=True", "triton.multi_kernel=1"], parser)
    assert config.combo_kernels is True and config.triton.multi_kernel == 1
    for bad in ["no_such_option=1", "triton.no_such=1", "combo_kernels"]:
        with pytest.raises(SystemExit):
            bench.set_inductor_options([bad], parser)


def test_float_student_variant_is_registered(bench):
    kind, quant, precision, overlap, compiled = bench.VARIANTS["distill-floatstudent-bf16-compiled"]
    assert (kind, quant, precision, overlap, compiled) == ("distill", "patchlinear", "bf16", False, True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_without_gpu_one_clear_error(bench, capsys):
    assert bench.main(["--variants", "float-compiled"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
