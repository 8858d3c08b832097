"""ftervit check: PyTorch vs integer runtime on real images."""
import json

import pytest
import timm
import torch

import ftervit.models  # noqa: F401
from ftervit.checkpoint import make_meta, save_checkpoint
from ftervit.cli import main
from ftervit.pack import pack_model


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check")
    torch.manual_seed(5)
    model = timm.create_model("ftervit_micro_patch4_28", depth=2).eval()
    meta = make_meta("deit_micro_patch4_28", num_classes=10, img_size=28, in_chans=1,
                     mean=[0.5], std=[0.5], mode="full", model_kwargs={"depth": 2})
    ckpt = save_checkpoint(tmp / "m.pt", model, meta)
    pack_model(model, tmp / "m.ftv")
    return ckpt, tmp / "m.ftv"


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_check_reports_both_accuracies_and_agreement(packed, tmp_path, capsys, backend):
    ckpt, ftv = packed
    out = tmp_path / "r.json"
    limit = 20 if backend == "numpy" else 200
    assert main(["check", str(ckpt), str(ftv), "--limit", str(limit), "--backend", backend,
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["images"] == limit and result["backend"] == backend
    # an untrained model still has to agree with itself almost always
    assert result["agreement"] >= 90.0
    assert "top-1 agreement" in capsys.readouterr().out


def test_check_refuses_a_model_file_from_another_checkpoint(packed, tmp_path, capsys):
    ckpt, _ = packed
    other = timm.create_model("ftervit_micro_patch4_32", depth=1).eval()
    pack_model(other, tmp_path / "other.ftv")
    assert main(["check", str(ckpt), str(tmp_path / "other.ftv"), "--limit", "5"]) == 2
    assert "was not packed from" in capsys.readouterr().err


def test_check_missing_data_folder(packed, capsys):
    ckpt, ftv = packed
    assert main(["check", str(ckpt), str(ftv), "--data", "/nonexistent/data"]) == 2
    assert "data folder not found" in capsys.readouterr().err
