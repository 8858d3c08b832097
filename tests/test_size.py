"""Deployed-size accounting against the paper's figures."""
import timm

import ftervit.models  # noqa: F401
import pytest

from ftervit.convert import geometry_from_model
from ftervit.deploy_plan import Geometry, plan_tensors
from ftervit.size_report import format_size_table, size_table


def test_small_224_sizes_match_the_paper_scale():
    table = size_table(timm.create_model("ftervit_small_patch16_224"))
    # paper: 5.81 MB at 2 bits a weight; the 1.6-bit layout must fit in 4.75 MB
    assert 5.6e6 < table["tern2"]["total"] < 5.9e6
    assert table["tern3"]["total"] <= 4.75e6
    assert table["tern3"]["encoder"] < 0.81 * table["tern2"]["encoder"]


def test_groups_account_for_every_weight():
    model = timm.create_model("ftervit_small_patch16_224")
    table = size_table(model)["tern2"]
    # 12 blocks of qkv + proj + fc1 + fc2 at 2 bits per weight
    assert table["encoder"] == 12 * (1152 * 96 + 384 * 96 + 1536 * 96 + 384 * 384)
    assert table["head"] == 1000 * 96
    assert table["pos_embed"] == 196 * 384 * 2 + 384 * 2


def test_encoder_only_counts_float_weights_and_is_larger():
    full = size_table(timm.create_model("ftervit_micro_patch4_28"))["tern3"]["total"]
    enc = size_table(timm.create_model("ftervit_micro_patch4_28", mode="encoder"))["tern3"]
    assert enc["head"] == 10 * 192 * 4
    assert enc["total"] > full


def test_geometry_of_a_model_and_the_plan_refuses_a_model():
    model = timm.create_model("ftervit_small_patch16_384")
    geometry = geometry_from_model(model)
    assert isinstance(geometry, Geometry) and geometry.pos_rows == 576 and geometry.layerscale
    assert len(plan_tensors(geometry)) == 6 + 12 * 18 + 3 + 3
    with pytest.raises(TypeError, match="geometry_from_model"):
        plan_tensors(model)


def test_size_table_prints_every_group():
    text = format_size_table(timm.create_model("ftervit_micro_patch4_28"), "micro")
    for group in ("patch_embed", "encoder", "norms", "head", "pos_embed", "scales", "total"):
        assert group in text
