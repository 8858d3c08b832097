"""Bad input to every `ftervit` command, run as a user runs it: a subprocess.

Each row of `ROWS` is one command line given a wrong file.  Every row asserts the
exit status, that no traceback reached the user, and that the one error line names
the file at fault and what was expected.  Rows that must succeed (an image mode
that converts) assert the exit status and what the command printed or wrote.

The rows run once, two at a time, in a module-scoped fixture; each test then looks
at its row's result.  Most rows fail before torch is imported, so a row costs a
fraction of a second; the few that load a checkpoint cost a few.  A command that
lands later joins the table with its own rows.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import ftervit.models  # noqa: F401
from ftervit.checkpoint import make_meta, save_checkpoint
from ftervit.ftv import read_ftv
from ftervit.pack import pack_model

from test_ftv_format import set_config

COMMANDS = ("check", "demo", "distill", "eval", "inspect", "pack", "recover", "run", "train")
# root ignores permission bits (CAP_DAC_OVERRIDE): a root test run drops that capability
# for the read-only rows, staying root, so the interpreter under /root stays readable
AS_UNPRIVILEGED = ("setpriv", "--inh-caps=-dac_override,-dac_read_search",
                   "--bounding-set=-dac_override,-dac_read_search", "--")


@dataclass
class Row:
    """One command line.  `argv` and `names` may hold {placeholders} of `bad_files`."""
    id: str
    argv: Sequence[str]
    status: int = 2
    names: str = ""                 # the path the error line must name
    expect: Sequence[str] = ()      # what it must say besides (what was expected)
    umask: Optional[int] = None
    unprivileged: bool = False      # run without the capability to ignore permissions
    check: Optional[Callable] = None  # check(files, result): further assertions
    extra: dict = field(default_factory=dict)


def _expected(*words):
    return tuple(words)


FTV = "expected a .ftv model file"
CKPT = "expected an ftervit checkpoint"
IMAGE = "expected an image file"
TO_WRITE = "expected the path of a file to write"


def _model_input_rows(command, before, after=()):
    """The rows for a .ftv model argument of `command`."""
    return [
        Row(f"{command}-ftv-missing", [command, *before, "{dir}/missing.ftv", *after],
            names="{dir}/missing.ftv", expect=["not found", FTV]),
        Row(f"{command}-ftv-folder", [command, *before, "{dir}", *after],
            names="{dir}", expect=["is a folder", FTV]),
        Row(f"{command}-ftv-folder-named-ftv", [command, *before, "{dir}/folder.ftv", *after],
            names="{dir}/folder.ftv", expect=["is a folder", FTV]),
        Row(f"{command}-ftv-empty", [command, *before, "{dir}/empty.ftv", *after],
            names="{dir}/empty.ftv", expect=["empty file", FTV]),
        Row(f"{command}-ftv-text", [command, *before, "{dir}/text.ftv", *after],
            names="{dir}/text.ftv", expect=["magic FTVM", FTV]),
        Row(f"{command}-ftv-is-a-checkpoint", [command, *before, "{ckpt}", *after],
            names="{ckpt}", expect=["is a PyTorch checkpoint", FTV, "ftervit pack"]),
        Row(f"{command}-ftv-truncated", [command, *before, "{dir}/truncated.ftv", *after],
            names="{dir}/truncated.ftv", expect=["truncated"]),
    ]


def _checkpoint_input_rows(command, before, after=()):
    """The rows for a checkpoint argument of `command` (`before` ends with the option)."""
    return [
        Row(f"{command}-ckpt-missing", [command, *before, "{dir}/missing.pt", *after],
            names="{dir}/missing.pt", expect=["not found", CKPT]),
        Row(f"{command}-ckpt-folder", [command, *before, "{dir}", *after],
            names="{dir}", expect=["is a folder", CKPT]),
        Row(f"{command}-ckpt-empty", [command, *before, "{dir}/empty.pt", *after],
            names="{dir}/empty.pt", expect=["empty file", CKPT]),
        Row(f"{command}-ckpt-text", [command, *before, "{dir}/text.pt", *after],
            names="{dir}/text.pt", expect=["not a PyTorch file", CKPT]),
        Row(f"{command}-ckpt-is-a-model-file", [command, *before, "{ftv}", *after],
            names="{ftv}", expect=["is a .ftv model file", CKPT, "ftervit pack"]),
        Row(f"{command}-ckpt-truncated", [command, *before, "{dir}/truncated.pt", *after],
            names="{dir}/truncated.pt", expect=["truncated", CKPT]),
    ]


def _output_rows(command, before, after=(), creates_folders=False):
    """The rows for an output path of `command` (`before` ends with the option)."""
    rows = [
        Row(f"{command}-output-is-a-folder", [command, *before, "{dir}", *after],
            names="{dir}", expect=["is a folder", TO_WRITE]),
        Row(f"{command}-output-read-only-folder",
            [command, *before, "{ro}/out.file", *after], unprivileged=True,
            names="{ro}/out.file", expect=["{ro}", "not writable"]),
    ]
    if not creates_folders:
        rows.append(Row(f"{command}-output-in-missing-folder",
                        [command, *before, "{dir}/no/such/out.file", *after],
                        names="{dir}/no/such/out.file",
                        expect=["{dir}/no/such does not exist"]))
    return rows


TRAIN_COMMON = ("--data", "fashion-mnist", "--device", "cpu", "--quiet")

ROWS = [
    # --- .ftv model files
    *_model_input_rows("run", [], ["--selftest"]),
    *_model_input_rows("inspect", []),
    *_model_input_rows("check", ["{ckpt}"], ["--limit", "1"]),
    # --- checkpoints
    *_checkpoint_input_rows("pack", []),
    *_checkpoint_input_rows("eval", [], ["--data", "fashion-mnist"]),
    *_checkpoint_input_rows("check", [], ["{ftv}"]),
    *_checkpoint_input_rows("demo", ["--checkpoint"]),
    *_checkpoint_input_rows("train", ["--init"], [*TRAIN_COMMON, "-o", "{dir}/t.pt"]),
    *_checkpoint_input_rows("distill", ["--teacher"], [*TRAIN_COMMON, "-o", "{dir}/d.pt"]),
    *_checkpoint_input_rows("recover", ["--init"], [*TRAIN_COMMON, "-o", "{dir}/r.pt"]),
    # --- outputs
    *_output_rows("pack", ["{ckpt}", "-o"]),
    *_output_rows("check", ["{ckpt}", "{ftv}", "--json"]),
    *_output_rows("eval", ["{ckpt}", "--data", "fashion-mnist", "--json"]),
    *_output_rows("demo", ["--checkpoint", "{ckpt}", "--output"], creates_folders=True),
    *_output_rows("train", [*TRAIN_COMMON, "-o"], creates_folders=True),
    *_output_rows("distill", ["--teacher", "{ckpt}", *TRAIN_COMMON, "-o"],
                  creates_folders=True),
    *_output_rows("recover", ["--init", "{ckpt}", *TRAIN_COMMON, "-o"], creates_folders=True),
    # --- image arguments given a file that is no image
    Row("run-image-missing", ["run", "{ftv}", "{dir}/missing.png"],
        names="{dir}/missing.png", expect=["not found", IMAGE]),
    Row("run-image-folder", ["run", "{ftv}", "{dir}"],
        names="{dir}", expect=["is a folder", IMAGE]),
    Row("run-image-empty", ["run", "{ftv}", "{dir}/empty.png"],
        names="{dir}/empty.png", expect=["empty file", IMAGE]),
    Row("run-image-text", ["run", "{ftv}", "{dir}/text.png"],
        names="{dir}/text.png", expect=["not a readable image", "expected PNG, JPEG"]),
    Row("run-image-is-a-checkpoint", ["run", "{ftv}", "{ckpt}"],
        names="{ckpt}", expect=["not a readable image", "expected PNG, JPEG"]),
    Row("run-image-truncated", ["run", "{ftv}", "{dir}/truncated.png", "--fit"],
        names="{dir}/truncated.png", expect=["not a readable image"]),
    Row("demo-images-not-a-folder", ["demo", "--images", "{ftv}"],
        names="{ftv}", expect=["expected a folder of images"]),
    # --- well-formed model files that ask for what no runtime implements
    *[Row(f"run-{backend}-{name}", ["run", f"{{dir}}/{name}.ftv", "--selftest",
                                    "--backend", backend],
          names=f"{{dir}}/{name}.ftv", expect=[expected, "does not implement"])
      for backend in ("numpy", "c")
      for name, expected in (("arith-version-2", "config.arith_version: expected 1, found 2"),
                             ("residual-frac-11",
                              "config.residual_frac_bits: expected 12, found 11"))],
    Row("pack-golden-image-folder", ["pack", "{ckpt}", "--golden-image", "{dir}"],
        names="{dir}", expect=["is a folder", IMAGE]),
]


# ------------------------------------------------------------------------- files and runs

def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return timm.create_model("ftervit_micro_patch4_28", depth=1).eval()


def _write_files(root: Path) -> dict:
    """Every file a row names; returns the {placeholder: path} table."""
    model = _tiny_model()
    meta = make_meta("deit_micro_patch4_28", num_classes=10, img_size=28, in_chans=1,
                     mean=[0.5], std=[0.5], mode="full", model_kwargs={"depth": 1},
                     labels=[f"class{i}" for i in range(10)])
    ckpt = save_checkpoint(root / "model.pt", model, meta)
    ftv = root / "model.ftv"
    pack_model(model, ftv, labels=meta["labels"])
    (root / "folder.ftv").mkdir()
    for name in ("empty.ftv", "empty.pt", "empty.png"):
        (root / name).write_bytes(b"")
    for name in ("text.ftv", "text.pt", "text.png"):
        (root / name).write_text("this is a text file\n")
    (root / "truncated.ftv").write_bytes(ftv.read_bytes()[:1000])
    (root / "arith-version-2.ftv").write_bytes(set_config(ftv.read_bytes(), "arith_version", 2))
    (root / "residual-frac-11.ftv").write_bytes(
        set_config(ftv.read_bytes(), "residual_frac_bits", 11))
    (root / "truncated.pt").write_bytes(ckpt.read_bytes()[:4000])
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
    Image.fromarray(noise).save(root / "noise.png")
    (root / "truncated.png").write_bytes((root / "noise.png").read_bytes()[:300])
    ro = root / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    return {"dir": str(root), "ckpt": str(ckpt), "ftv": str(ftv), "ro": str(ro)}


@pytest.fixture(scope="module")
def bad_files():
    root = Path(tempfile.mkdtemp(prefix="ftervit-bad-input-"))
    try:
        yield _write_files(root)
    finally:
        (root / "read-only").chmod(0o755)
        shutil.rmtree(root)


def _run(row: Row, files: dict) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "ftervit", *(arg.format(**files) for arg in row.argv)]
    if row.unprivileged and os.geteuid() == 0:
        argv = [*AS_UNPRIVILEGED, *argv]
    umask = {} if row.umask is None else {"umask": row.umask}
    return subprocess.run(argv, capture_output=True, text=True, cwd=files["dir"], timeout=300,
                          **umask)


@pytest.fixture(scope="module")
def results(bad_files):
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip([r.id for r in ROWS], pool.map(lambda r: _run(r, bad_files), ROWS)))
    return done


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row, results, bad_files):
    result = results[row.id]
    said = result.stdout + result.stderr
    shown = f"ftervit {' '.join(row.argv)}\n--- exit {result.returncode}\n{said}"
    assert "Traceback" not in said, shown
    assert result.returncode == row.status, shown
    if row.status != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, shown
        assert lines[0].startswith(f"ftervit {row.argv[0]}: error: "), shown
        assert row.names.format(**bad_files) in lines[0], shown
        for words in row.expect:
            assert words.format(**bad_files) in lines[0], shown
    if row.check is not None:
        row.check(bad_files, result)


def test_every_command_has_rows():
    assert {r.argv[0] for r in ROWS} == set(COMMANDS)
    assert len({r.id for r in ROWS}) == len(ROWS)
