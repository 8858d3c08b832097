"""Training commands on a tiny config and a small synthetic dataset (CPU, seconds each).

`ftervit train` makes a float teacher once per module; distill / recover / eval,
resume after interruption, data-parallel equivalence and bad input are checked
against it.
"""
import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ftervit.checkpoint import (export_weights_only, load_model, make_meta, read_checkpoint,
                                save_checkpoint)
from ftervit.cli import main as cli

NANO = "deit_nano_patch7_28"
COMMON = ["--batch-size", "32", "--eval-batch-size", "64", "--quiet", "--device", "cpu"]
REPO = Path(__file__).resolve().parents[1]


def _idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_dataset(folder: Path, n_train=256, n_test=128, classes=10, size=28, seed=0):
    """Fashion-MNIST-shaped idx files: class c is stripes of period 2 + c % 5, horizontal or
    vertical (c // 5), under noise: unchanged by shifts and flips, so augmentation keeps labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, classes, n).astype(np.uint8)
        coord = np.arange(size)
        images = rng.integers(0, 60, (n, size, size))
        for i, c in enumerate(labels):
            period, vertical = 2 + int(c) % 5, int(c) // 5
            lines = (coord + rng.integers(0, period)) % period == 0
            images[i] += 150 * (lines[None, :] if vertical else lines[:, None])
        images = images.astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            with gzip.open(folder / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(_idx_bytes(arr))
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = write_idx_dataset(root / "data")
    teacher = root / "teacher.pt"
    code = cli(["train", "--model", NANO, "--data", str(data), "--epochs", "8", "--lr", "3e-3", "--drop-path", "0",
                "--warmup-epochs", "1", "--output", str(teacher), *COMMON])
    assert code == 0
    return {"root": root, "data": data, "teacher": teacher}


def _log(path: Path):
    return [json.loads(line) for line in path.with_suffix(".jsonl").read_text().splitlines()]


def _epochs(path: Path):
    return [r for r in _log(path) if "epoch" in r and "train_loss" in r and "event" not in r]


def test_train_writes_checkpoint_log_and_learns(work):
    epochs = _epochs(work["teacher"])
    assert [r["epoch"] for r in epochs] == list(range(1, 9))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["val_top1"] > 50.0  # stripes are easy to tell apart
    model, meta = load_model(work["teacher"])
    assert meta["mode"] == "float" and meta["num_classes"] == 10 and meta["img_size"] == 28
    assert meta["labels"] == [str(i) for i in range(10)]


def test_distill_and_recover_reduce_the_loss_and_write_loadable_checkpoints(work, capsys):
    root, data = work["root"], work["data"]
    student = root / "student.pt"
    assert cli(["distill", "--teacher", str(work["teacher"]), "--data", str(data), "--epochs", "3",
                "--lr", "1e-3", "--warmup-epochs", "0", "--output", str(student), *COMMON]) == 0
    losses = [r["train_loss"] for r in _epochs(student)]
    assert losses[-1] < losses[0]
    model, meta = load_model(student)
    assert meta["mode"] == "full" and not meta["exact"]
    assert type(model.head).__name__ == "TernaryLinear"

    recovered = root / "recovered.pt"
    assert cli(["recover", "--init", str(student), "--teacher", str(work["teacher"]), "--data",
                str(data), "--epochs", "2", "--lr", "1e-4", "--output", str(recovered),
                *COMMON]) == 0
    rec_losses = [r["train_loss"] for r in _epochs(recovered)]
    assert rec_losses[-1] <= rec_losses[0] * 1.05
    model, meta = load_model(recovered)
    assert meta["exact"] and model.blocks[0].attn.exact

    capsys.readouterr()
    out_json = root / "eval.json"
    assert cli(["eval", str(recovered), "--data", str(data), "--device", "cpu",
                "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "top-1" in printed and "top-5" in printed
    result = json.loads(out_json.read_text())
    assert result["images"] == 128 and 0 <= result["top1"] <= 100
    assert result["deployed_bytes"]["tern2"] > result["deployed_bytes"]["tern3"] > 0
    final = _epochs(recovered)[-1]
    assert abs(result["top1"] - final["val_top1"]) < 1e-6


def test_encoder_only_baseline_keeps_embedding_norms_and_head_float(work):
    out = work["root"] / "encoder.pt"
    assert cli(["distill", "--mode", "encoder", "--teacher", str(work["teacher"]), "--data",
                str(work["data"]), "--epochs", "1", "--output", str(out), *COMMON]) == 0
    model, meta = load_model(out)
    assert meta["mode"] == "encoder"
    assert type(model.head).__name__ == "Linear"
    assert type(model.blocks[0].mlp.fc1).__name__ == "TernaryLinear"


def _state(path: Path):
    payload = read_checkpoint(path)
    return payload["model"], payload["optimizer"], payload["scheduler"], payload["train_state"]


def _assert_same_training_state(a: Path, b: Path):
    model_a, opt_a, sched_a, ts_a = _state(a)
    model_b, opt_b, sched_b, ts_b = _state(b)
    assert model_a.keys() == model_b.keys()
    for k in model_a:
        assert torch.equal(model_a[k], model_b[k]), k
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for pid, sa in opt_a["state"].items():
        for key, value in sa.items():
            assert torch.equal(value, opt_b["state"][pid][key]), (pid, key)
    assert sched_a["last_epoch"] == sched_b["last_epoch"] == ts_a["global_step"]
    assert (ts_a["epoch"], ts_a["step_in_epoch"], ts_a["global_step"]) == \
           (ts_b["epoch"], ts_b["step_in_epoch"], ts_b["global_step"])


def test_resume_after_interruption_restores_the_exact_state(work):
    """12 steps straight == 5 steps, stop (mid-epoch), resume, 7 more; with augmentation and
    stochastic depth on, so the data order and every random draw must be restored."""
    root = work["root"]
    base = ["distill", "--teacher", str(work["teacher"]), "--data", str(work["data"]),
            "--epochs", "3", "--lr", "1e-3", "--drop-path", "0.1", "--seed", "7", *COMMON]
    straight, resumed = root / "straight.pt", root / "resumed.pt"
    assert cli(base + ["--output", str(straight), "--max-steps", "12"]) == 0
    assert cli(base + ["--output", str(resumed), "--max-steps", "5"]) == 0
    ts = read_checkpoint(resumed)["train_state"]
    assert (ts["epoch"], ts["step_in_epoch"], ts["global_step"]) == (0, 5, 5)
    assert cli(base + ["--output", str(resumed), "--resume", "--max-steps", "12"]) == 0
    _assert_same_training_state(straight, resumed)
    assert any(r.get("event") == "resume" for r in _log(resumed))


def test_existing_output_needs_resume_or_overwrite(work, capsys):
    out = work["root"] / "exists.pt"
    args = ["distill", "--teacher", str(work["teacher"]), "--data", str(work["data"]),
            "--epochs", "1", "--max-steps", "1", "--output", str(out), *COMMON]
    assert cli(args) == 0
    capsys.readouterr()
    assert cli(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli(args + ["--overwrite"]) == 0


def test_checkpoint_is_written_atomically_and_exports_without_optimizer(tmp_path, monkeypatch):
    import timm

    import ftervit.models  # noqa: F401
    model = timm.create_model(NANO)
    meta = make_meta(NANO, num_classes=10, img_size=28, in_chans=1, mean=[0.5], std=[0.5],
                     model_kwargs={"num_classes": 10})
    opt = torch.optim.AdamW(model.parameters())
    path = save_checkpoint(tmp_path / "a.pt", model, meta, optimizer=opt)
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, model, meta, optimizer=opt)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
    slim = export_weights_only(path, tmp_path / "slim.pt")
    payload = read_checkpoint(slim)
    assert "optimizer" not in payload and slim.stat().st_size < path.stat().st_size
    loaded, _ = load_model(slim)
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model.eval()(x))


# ---------------------------------------------------------------- bad input: one clear error each

def _error(capsys, argv) -> str:
    capsys.readouterr()
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_data_folder(work, tmp_path, capsys):
    err = _error(capsys, ["distill", "--teacher", str(work["teacher"]), "--data",
                          str(tmp_path / "nowhere"), "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "data folder not found" in err and "nowhere" in err


def _image_folder(root: Path, classes=("cat", "dog"), per_class=8, size=28):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(per_class if split == "train" else 2):
                Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(
                    d / f"{i}.png")
    return root


def test_empty_class_folder(tmp_path, capsys):
    root = _image_folder(tmp_path / "imgs")
    (root / "train" / "bird").mkdir()
    err = _error(capsys, ["train", "--model", NANO, "--data", str(root), "--epochs", "1",
                          "--output", str(tmp_path / "t.pt"), *COMMON])
    assert "no images" in err and "bird" in err


def test_image_folder_data_trains_and_evaluates(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    out = tmp_path / "t.pt"
    assert cli(["train", "--model", NANO, "--data", str(root), "--epochs", "1", "--workers", "0",
                "--output", str(out), "--batch-size", "8", "--quiet", "--device", "cpu"]) == 0
    _, meta = load_model(out)
    assert meta["labels"] == ["cat", "dog"] and meta["num_classes"] == 2
    assert cli(["eval", str(out), "--data", str(root), "--workers", "0", "--device", "cpu"]) == 0


def test_teacher_with_other_class_count(work, tmp_path, capsys):
    five = write_idx_dataset(tmp_path / "five", classes=5)
    err = _error(capsys, ["distill", "--teacher", str(work["teacher"]), "--data", str(five),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "10 classes" in err and "5" in err


def _float_checkpoint(path: Path, img_size: int, num_classes: int = 10):
    import timm

    import ftervit.models  # noqa: F401
    model = timm.create_model(NANO, img_size=img_size, num_classes=num_classes)
    meta = make_meta(NANO, num_classes=num_classes, img_size=img_size, in_chans=1, mean=[0.5],
                     std=[0.5], model_kwargs={"num_classes": num_classes, "img_size": img_size})
    return save_checkpoint(path, model, meta)


def test_student_with_other_image_size_than_teacher(work, tmp_path, capsys):
    other = _float_checkpoint(tmp_path / "s14.pt", img_size=14)
    err = _error(capsys, ["distill", "--teacher", str(work["teacher"]), "--student-init",
                          str(other), "--data", str(work["data"]),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "1x28x28" in err and "1x14x14" in err


def test_teacher_with_other_image_size_than_data(work, tmp_path, capsys):
    other = _float_checkpoint(tmp_path / "t14.pt", img_size=14)
    err = _error(capsys, ["distill", "--teacher", str(other), "--data", str(work["data"]),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "1x14x14" in err and "1x28x28" in err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncated"])
def test_corrupt_checkpoint(work, tmp_path, capsys, content):
    bad = tmp_path / "bad.pt"
    if content == "truncated":
        content = work["teacher"].read_bytes()[:5000]
    bad.write_bytes(content)
    err = _error(capsys, ["eval", str(bad), "--data", str(work["data"]), "--device", "cpu"])
    assert "bad.pt" in err and "checkpoint" in err
    err = _error(capsys, ["distill", "--teacher", str(bad), "--data", str(work["data"]),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "bad.pt" in err and "expected an ftervit checkpoint" in err


def test_missing_teacher_weights_are_never_downloaded(work, tmp_path, capsys):
    err = _error(capsys, ["distill", "--teacher-model", NANO, "--data", str(work["data"]),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "--teacher-weights" in err
    err = _error(capsys, ["distill", "--teacher-model", NANO, "--teacher-weights",
                          str(tmp_path / "missing.pth"), "--data", str(work["data"]),
                          "--output", str(tmp_path / "s.pt"), *COMMON])
    assert "not found" in err and "missing.pth" in err


# ---------------------------------------------------------------- data parallel

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_take_the_same_steps_as_one(work, tmp_path):
    """torchrun with 2 CPU processes (gloo): same samples and augmentations per global batch,
    gradients averaged, so the weights match a single-process run up to float rounding."""
    base = ["distill", "--teacher", str(work["teacher"]), "--data", str(work["data"]),
            "--epochs", "1", "--max-steps", "4", "--lr", "1e-3", *COMMON]
    single = tmp_path / "single.pt"
    assert cli(base + ["--output", str(single)]) == 0
    double = tmp_path / "double.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "host"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "ftervit", *base, "--output", str(double)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = read_checkpoint(single)["model"], read_checkpoint(double)["model"]
    assert read_checkpoint(double)["train_state"]["world"] == 2
    diffs = []
    for k in a:
        diff = (a[k] - b[k]).abs()
        if k.endswith("attn.qkv.bias"):
            # the key bias gets a zero gradient (softmax ignores it) up to rounding, which
            # Adam scales up to whole steps: only bounded by 4 steps of lr 1e-3
            dim = diff.numel() // 3
            assert diff[dim:2 * dim].max() <= 4e-3 + 1e-6, k
            diff = torch.cat([diff[:dim], diff[2 * dim:]])
        # Adam turns a rounding difference in a near-zero gradient into up to a whole step,
        # and a ternary code flipped by it moves the next steps: a few weights may drift by
        # a fraction of a step.  Different samples or unaveraged gradients would move most
        # weights by whole steps (lr 1e-3).
        assert diff.max() < 1e-3, (k, diff.max().item())
        diffs.append(diff.flatten())
    diffs = torch.cat(diffs)
    assert (diffs < 1e-5).float().mean() > 0.99, diffs.quantile(0.99).item()


# ---------------------------------------------------------------- compile options

def test_compile_mode_implies_compile():
    from argparse import Namespace

    from ftervit.train.engine import compile_mode
    assert compile_mode(Namespace(compile=False, compile_mode=None)) is None
    assert compile_mode(Namespace(compile=True, compile_mode=None)) == "default"
    graphs = Namespace(compile=False, compile_mode="reduce-overhead")
    assert compile_mode(graphs) == "reduce-overhead"


def test_unknown_compile_mode_is_refused(work, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(["distill", "--teacher", str(work["teacher"]), "--data", str(work["data"]),
             "--output", str(tmp_path / "s.pt"), "--compile-mode", "fastest", *COMMON])
    assert "--compile-mode: invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "s.pt").exists()


def test_teacher_on_a_side_stream_never_replays_cuda_graphs():
    from ftervit.train.teacher import teacher_compile_mode
    assert teacher_compile_mode("reduce-overhead", side_stream=True) == "default"
    assert teacher_compile_mode("max-autotune", side_stream=True) == "max-autotune-no-cudagraphs"
    assert teacher_compile_mode("reduce-overhead", side_stream=False) == "reduce-overhead"
    assert teacher_compile_mode(None, side_stream=True) is None

