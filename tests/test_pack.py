"""Checkpoint -> .ftv -> integer runtime: exact round trip, both layouts, golden vector, CLI."""
import numpy as np
import pytest
import timm
import torch
from PIL import Image

import ftervit.models  # noqa: F401
from ftervit.checkpoint import make_meta, save_checkpoint
from ftervit.cli import main
from ftervit.integerize import integerize
from ftervit.pack import integer_model, pack_model
from ftervit.reference import forward


@pytest.fixture(scope="module")
def micro():
    torch.manual_seed(3)
    return timm.create_model("ftervit_micro_patch4_28", depth=2).eval()


@pytest.mark.parametrize("layout", ["tern2", "tern3"])
def test_pack_read_round_trips_every_tensor(tmp_path, micro, layout):
    expected = integerize(micro)
    ftv = pack_model(micro, tmp_path / "m.ftv", layout=layout)
    got = integer_model(ftv)
    assert list(got.tensors) == list(expected.tensors)
    for name, value in expected.tensors.items():
        assert np.array_equal(got.tensors[name], value), name
        assert got.tensors[name].shape == value.shape, name
    assert got.frac_bits == expected.frac_bits
    assert got.attn_logit_mult == expected.attn_logit_mult


def test_both_layouts_decode_to_identical_ternary_values_and_logits(tmp_path, micro):
    two = pack_model(micro, tmp_path / "a.ftv", layout="tern2")
    three = pack_model(micro, tmp_path / "b.ftv", layout="tern3")
    assert three.file_size < two.file_size
    for name, record in two.tensors.items():
        if record.kind == "tern":
            assert np.array_equal(record.values(), three.tensors[name].values()), name
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), np.uint8)
    assert np.array_equal(forward(integer_model(two), image),
                          forward(integer_model(three), image))


def test_golden_vector_reproduces_with_the_reference(tmp_path, micro):
    ftv = pack_model(micro, tmp_path / "m.ftv")
    logits = forward(integer_model(ftv), ftv.golden_input())
    assert np.array_equal(logits, ftv.golden.logits.astype(np.int64))


def test_golden_image_is_embedded_raw(tmp_path, micro):
    image = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1)
    ftv = pack_model(micro, tmp_path / "m.ftv", golden_image=image)
    assert np.array_equal(ftv.golden_input(), image)


def test_small_224_packs_within_the_1_6_bit_budget(tmp_path):
    model = timm.create_model("ftervit_small_patch16_224").eval()
    ftv = pack_model(model, tmp_path / "s.ftv", layout="tern3")
    assert ftv.file_size <= 4.75e6


def _checkpoint(tmp_path, model, mode="full"):
    meta = make_meta("deit_micro_patch4_28", num_classes=10, img_size=28, in_chans=1,
                     mean=[0.5], std=[0.5], mode=mode, model_kwargs={"depth": 2},
                     labels=[f"class{i}" for i in range(10)])
    return save_checkpoint(tmp_path / "m.pt", model, meta)


def test_cli_pack_and_run(tmp_path, micro, capsys):
    ckpt = _checkpoint(tmp_path, micro)
    out = tmp_path / "m.ftv"
    assert main(["pack", str(ckpt), "-o", str(out), "--layout", "tern2"]) == 0
    assert "wrote" in capsys.readouterr().out
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "x.png")
    assert main(["run", str(out), str(tmp_path / "x.png"), "--topk", "3", "--selftest"]) == 0
    text = capsys.readouterr().out
    assert "PASS" in text and text.count("class") == 3


def test_cli_refuses_what_it_cannot_pack(tmp_path, capsys):
    encoder_only = timm.create_model("ftervit_micro_patch4_28", depth=2, mode="encoder")
    ckpt = _checkpoint(tmp_path, encoder_only, mode="encoder")
    assert main(["pack", str(ckpt), "-o", str(tmp_path / "e.ftv")]) == 2
    assert "only full-ternary" in capsys.readouterr().err
    assert not (tmp_path / "e.ftv").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.fromarray(np.zeros((32, 32), np.uint8)).save(p), "size is 32x32"),
    (lambda p: Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(p), "mode is RGB"),
    (lambda p: p.write_bytes(b"not an image"), "not a readable image"),
])
def test_cli_run_rejects_bad_images(tmp_path, micro, capsys, make, message):
    pack_model(micro, tmp_path / "m.ftv")
    make(tmp_path / "bad.png")
    assert main(["run", str(tmp_path / "m.ftv"), str(tmp_path / "bad.png")]) == 2
    assert message in capsys.readouterr().err


def test_cli_run_fit_converts_any_photo(tmp_path, micro, capsys):
    pack_model(micro, tmp_path / "m.ftv")
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "photo.jpg")
    assert main(["run", str(tmp_path / "m.ftv"), str(tmp_path / "photo.jpg"), "--fit"]) == 0
