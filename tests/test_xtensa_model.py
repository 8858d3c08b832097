"""The whole C runtime, cross-compiled for Xtensa lx106 (gcc -O2 -Wall -Wextra
-Werror), runs a tiny whole model bare-metal under qemu-system-xtensa and
produces exactly the numpy reference's logits, with a repeatable, positive
instruction count in every phase of the forward pass, whose total equals the
count of the same program without the profiling wrappers
(bench/xtensa/model_build.py; bench/bench_xtensa_model.py measures the real
models).

Missing tools fail with the package to install (scripts/install_test_deps.sh).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench" / "xtensa"))
import build as xbuild  # noqa: E402  (bench/xtensa/build.py)
import model_build as mb  # noqa: E402  (bench/xtensa/model_build.py)

from ftervit.pack import integer_model  # noqa: E402
from ftervit.reference import forward  # noqa: E402

# (timm model, layout, timm arguments): the Fashion-MNIST shape cut to one
# block (class-token position row, no LayerScale, 1 channel), and a DeiT-III
# geometry (no class position row, LayerScale, 3 channels, 7 classes).
MODELS = {
    "micro-depth1-tern3": ("ftervit_micro_patch4_28", "tern3", dict(depth=1)),
    "deit3-32px-tern2": ("ftervit_small_patch16_224", "tern2",
                         dict(img_size=32, patch_size=8, depth=1, embed_dim=96, num_heads=3,
                              num_classes=7)),
}
EXPECTED_PHASES = ["GATHER", "EMBED_ADD", "MM_PATCH", "MM_QKV", "MM_PROJ", "MM_FC1", "MM_FC2",
                   "MM_HEAD", "RQ_PATCH", "RQ_QKV", "RQ_FC1", "RQ_HEAD", "RES_PROJ",
                   "RES_FC2", "LN_BLOCK", "LN_HEAD", "Q_ATTN", "Q_MLP", "ATTN", "GELU"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    try:
        mb.require_tools()
    except xbuild.ToolMissing as e:
        pytest.fail(str(e))
    return mb.build_profiler(tmp_path_factory.mktemp("plugin"))


@pytest.mark.parametrize("key", list(MODELS))
def test_qemu_logits_equal_the_reference(key, plugin, tmp_path):
    name, layout, kwargs = MODELS[key]
    path = tmp_path / f"{key}.ftv"
    ftv = mb.make_ftv(name, layout, path, **kwargs)
    image = ftv.golden_input()
    want = forward(integer_model(ftv), image).astype(np.int32)
    assert np.array_equal(want, ftv.golden.logits)
    assert np.any(want != 0), "a degenerate model: every logit is 0"

    elf = mb.build_model_elf(tmp_path, ftv, path, name=key)
    run = mb.run_model(elf, plugin)
    assert run.rc == 0, f"ftv_forward returned {run.rc}"
    assert np.array_equal(run.logits, want), (
        f"QEMU logits {run.logits.tolist()} != numpy reference {want.tolist()}")
    assert run.passed, "the image's own comparison with the golden logits failed"

    assert run.total > 0
    assert run.insns["UNEXPECTED"] == 0, "a wrapped call outside ftv_forward's expected order"
    missing = [p for p in EXPECTED_PHASES if run.insns[p] <= 0]
    assert not missing, f"phases without instructions: {missing}"
    matmuls = [c for c in run.calls if c["op"] == "MATMUL"]
    assert len(matmuls) == 4 * ftv.geometry.depth + 2
    assert all(run.plans[i]["rc"] == 0 for i, c in enumerate(run.calls) if c["op"] == "MATMUL")

    again = mb.run_model(elf, plugin)
    assert again.insns == run.insns, "instruction counts differ between two identical runs"

    plain = mb.run_model(mb.build_model_elf(tmp_path, ftv, path, name=key + "_plain",
                                            wrap=False), plugin)
    assert np.array_equal(plain.logits, want)
    assert plain.total == plain.insns["CONTROL"] == run.total, (
        "the operator wrappers changed the count of the runtime's instructions")
