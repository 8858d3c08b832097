"""The shipped Fashion-MNIST FTerViT: its model file, and the integer runtime's faithfulness."""
from pathlib import Path

import numpy as np
import pytest

from ftervit import cbackend
from ftervit.checkpoint import load_model
from ftervit.cli import main
from ftervit.faithfulness import measure, uint8_samples
from ftervit.ftv import read_ftv
from ftervit.images import load_image
from ftervit.pack import integer_model, pack_model
from ftervit.reference import forward

MODELS = Path(__file__).resolve().parents[1] / "models"
CKPT = MODELS / "fmnist_ftervit_micro.pt"
FTV = MODELS / "fmnist_ftervit_micro.ftv"
SAMPLES = sorted((MODELS / "fmnist_samples").glob("*.png"))


@pytest.fixture(scope="module")
def shipped():
    return load_model(CKPT)


def test_shipped_model_file_is_the_packed_checkpoint(tmp_path, shipped):
    model, meta = shipped
    golden = load_image(MODELS / "fmnist_samples" / "test00000_ankle-boot.png", 28, 1)
    pack_model(model, tmp_path / "fresh.ftv", layout="tern3", labels=meta["labels"],
               golden_image=golden)
    assert (tmp_path / "fresh.ftv").read_bytes() == FTV.read_bytes(), \
        "models/fmnist_ftervit_micro.ftv is stale: re-pack it (see models/README.md)"


def test_shipped_model_file_classifies_every_sample_correctly():
    ftv = read_ftv(FTV)
    imodel = integer_model(ftv)
    assert len(SAMPLES) == 10
    for path in SAMPLES:
        expected = path.stem.split("_", 1)[1]
        logits = forward(imodel, load_image(path, 28, 1))
        label = ftv.labels[int(np.argmax(logits))].lower().replace("/", "-").replace(" ", "-")
        assert label == expected, path.name


def test_integer_runtime_agrees_with_pytorch_on_real_test_images(shipped):
    model, meta = shipped
    c_model = cbackend.load(read_ftv(FTV))
    result = measure(model, meta, c_model.forward,
                     uint8_samples("fashion-mnist", "test", 28, 1, limit=400))
    assert result.images == 400
    assert result.agreement >= 99.0
    assert abs(result.delta_pp) <= 1.0
    assert result.integer_top1 >= 90.0


def test_demo_runs_on_the_shipped_model(tmp_path, capsys):
    """The host part alone (tests/test_demo.py runs the device part too)."""
    assert main(["demo", "--output", str(tmp_path / "demo.ftv"), "--device", "off"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 2 and "identical on all 10 images" in out
