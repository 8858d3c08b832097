"""The training-throughput benchmark's helpers (the benchmark itself needs a GPU)."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
from timm.models.vision_transformer import Block

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


def test_inductor_options_parse_nested_keys_and_refuse_unknown(bench):
    import torch._inductor.config as config
    parser = argparse.ArgumentParser()
    before = config.get_config_copy()
    options = bench.parse_inductor_options(["combo_kernels=True", "triton.multi_kernel=1"], parser)
    assert options == {"combo_kernels": True, "triton.multi_kernel": 1}
    assert config.get_config_copy() == before   # parsing sets nothing
    with config.patch(options):
        assert config.combo_kernels is True and config.triton.multi_kernel == 1
    for bad in ["no_such_option=1", "triton.no_such=1", "combo_kernels"]:
        with pytest.raises(SystemExit):
            bench.parse_inductor_options([bad], parser)


def test_float_student_variant_is_registered(bench):
    variant = bench.VARIANTS["distill-floatstudent-bf16-compiled"]
    assert variant == ("distill", "floatfast", "bf16", False, True)


def test_students_and_teachers_are_built_as_named(bench):
    """fast / floatfast: last block for the class token only; fastfull: every token;
    bf16plain teacher: the full last block (and, off CUDA, fp32 without the GELU epilogue)."""
    from ftervit.layers.class_token import ClassTokenBlock
    from ftervit.layers.patch_linear import PatchLinearConv2d
    args = argparse.Namespace(model="deit_nano_patch7_28", batch=2, device="cpu",
                              compile_mode=None, teacher_compile_mode=None)
    b = bench.Bench(args)
    last = {q: type(b.student(q).blocks[-1]) for q in ("fast", "fastfull", "floatfast", "ref")}
    assert last == {"fast": ClassTokenBlock, "fastfull": Block, "floatfast": ClassTokenBlock,
                    "ref": Block}
    assert type(b.student("floatfast").patch_embed.proj) is PatchLinearConv2d
    assert b.student("fast").blocks[0].attn.fast and not b.student("ref").blocks[0].attn.fast
    assert type(b.teacher("bf16", False).model.blocks[-1]) is ClassTokenBlock
    plain = b.teacher("bf16plain", False)
    assert type(plain.model.blocks[-1]) is Block and not plain.gelu_epilogue


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_without_gpu_one_clear_error(bench, capsys):
    assert bench.main(["--variants", "float-compiled"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
