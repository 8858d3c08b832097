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
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

COMMANDS = ("check", "demo", "deploy", "distill", "eval", "inspect", "pack", "recover", "remote",
            "run", "train")
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
    check: Optional[Callable] = None  # check(files, result, results): further assertions


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
    *_model_input_rows("deploy", ["--port", "/dev/null", "--dry-run"]),
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
    Row("deploy-firmware-missing", ["deploy", "--port", "/dev/null", "--dry-run", "{ftv}",
                                    "--firmware", "{dir}/missing.bin"],
        names="{dir}/missing.bin", expect=["not found", "expected a MicroPython firmware"]),
    Row("deploy-firmware-folder", ["deploy", "--port", "/dev/null", "--dry-run", "{ftv}",
                                   "--firmware", "{dir}"],
        names="{dir}", expect=["is a folder", "expected a MicroPython firmware"]),
    Row("remote-classify-image-missing",
        ["remote", "classify", "--port", "/dev/null", "{dir}/missing.png"],
        names="{dir}/missing.png", expect=["not found", IMAGE]),
    Row("remote-classify-image-folder", ["remote", "classify", "--port", "/dev/null", "{dir}"],
        names="{dir}", expect=["is a folder", IMAGE]),
    Row("remote-classify-image-text",
        ["remote", "classify", "--port", "/dev/null", "{dir}/text.png"],
        names="{dir}/text.png", expect=["not a readable image", "expected PNG, JPEG"]),
    Row("remote-eval-data-missing",
        ["remote", "eval", "--port", "/dev/null", "--data", "{dir}/missing"],
        names="{dir}/missing", expect=["not found", "expected a folder of idx files"]),
    Row("remote-eval-data-file",
        ["remote", "eval", "--port", "/dev/null", "--data", "{dir}/text.png"],
        names="{dir}/text.png", expect=["is a file", "expected a folder of idx files"]),
    Row("remote-eval-data-no-idx",
        ["remote", "eval", "--port", "/dev/null", "--data", "{dir}/folder-F"],
        names="folder-F", expect=["no t10k-images-idx3-ubyte[.gz]"]),
    Row("remote-eval-limit-0", ["remote", "eval", "--port", "/dev/null", "--limit", "0"],
        expect=["--limit 0: expected at least 1 image"]),
    Row("remote-eval-reference-text",
        ["remote", "eval", "--port", "/dev/null", "--reference", "{dir}/text.ftv"],
        names="{dir}/text.ftv", expect=[FTV]),
    Row("remote-eval-json-out-folder",
        ["remote", "eval", "--port", "/dev/null", "--json-out", "{dir}"],
        names="{dir}", expect=["is a folder"]),
    Row("remote-eval-frame-format",
        ["remote", "eval", "--port", "/dev/null", "--frame", "240x240:JPEG"],
        expect=["FORMAT is GRAYSCALE, RGB565 or RGB888"]),
    Row("remote-bench-image-missing",
        ["remote", "bench", "--port", "/dev/null", "--image", "{dir}/missing.png"],
        names="{dir}/missing.png", expect=["not found", IMAGE]),
    Row("remote-bench-repeat-0", ["remote", "bench", "--port", "/dev/null", "--repeat", "0"],
        expect=["--repeat 0: expected at least 1 frame"]),
    Row("remote-bench-frame-spec", ["remote", "bench", "--port", "/dev/null", "--frame", "big"],
        expect=["--frame 'big': expected WxH:FORMAT"]),
    Row("pack-golden-image-folder", ["pack", "{ckpt}", "--golden-image", "{dir}"],
        names="{dir}", expect=["is a folder", IMAGE]),
]


# --- images: every Pillow mode `run`, `check` and `pack --golden-image` can meet
GREY = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
_RGB = np.random.default_rng(1).integers(0, 256, (28, 28, 3), np.uint8)
_OPAQUE = np.full((28, 28), 255, np.uint8)
_SEETHROUGH = np.where(np.arange(28 * 28).reshape(28, 28) < 4 * 28, 0, 255).astype(np.uint8)
IMAGES = {  # file name -> the image; each reopens in the mode its name says
    "mode-1.png": lambda: Image.fromarray(GREY).convert("1"),
    "mode-L.png": lambda: Image.fromarray(GREY),
    "mode-LA.png": lambda: Image.fromarray(np.dstack([GREY, _OPAQUE]), "LA"),
    "mode-LA-transparent.png": lambda: Image.fromarray(np.dstack([GREY, _SEETHROUGH]), "LA"),
    "mode-P.png": lambda: Image.fromarray(_RGB).convert("P"),
    "mode-P-transparent.png": lambda: _transparent_palette(),
    "mode-RGB.png": lambda: Image.fromarray(_RGB),
    "mode-RGBA.png": lambda: Image.fromarray(np.dstack([_RGB, _OPAQUE]), "RGBA"),
    "mode-RGBA-transparent.png": lambda: Image.fromarray(np.dstack([_RGB, _SEETHROUGH]),
                                                         "RGBA"),
    "mode-CMYK.jpg": lambda: Image.fromarray(_RGB).convert("CMYK"),
    "mode-I;16.png": lambda: Image.fromarray(GREY.astype(np.uint16) * 257),  # 16-bit grey
    "mode-I.tif": lambda: Image.fromarray(GREY.astype(np.int32) * 257),
    "mode-I-negative.tif": lambda: Image.fromarray(GREY.astype(np.int32) - 128),
    "mode-F.tif": lambda: Image.fromarray(GREY.astype(np.float32) / 255),
    "mode-YCbCr.tif": lambda: Image.fromarray(_RGB).convert("YCbCr"),
    "size-1x1.png": lambda: Image.fromarray(GREY[:1, :1]),
    "size-8000x8000.png": lambda: Image.new("L", (8000, 8000), 90),
}


def _transparent_palette():
    img = Image.fromarray(GREY // 64).convert("P")  # four palette entries
    img.info["transparency"] = 0
    return img


def _top_lines(result):
    """The classes and logits `run` printed (not its first line: path and time)."""
    return result.stdout.splitlines()[1:]


def _same_classes_as(other_id):
    """A check: this run printed the classes and logits the `other_id` run printed."""
    def check(files, result, results):
        assert _top_lines(result) and _top_lines(result) == _top_lines(results[other_id])
    return check


def _packed_golden_and_mode(name, image, mode):
    """A check: `pack` wrote `name` with permission bits `mode`, holding golden `image`."""
    def check(files, result, results):
        path = Path(files["dir"]) / name
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert np.array_equal(read_ftv(path).golden_input()[..., 0], image)
    return check


def _converts(name, **options):
    return Row(f"run-image-{name}", ["run", "{ftv}", f"{{dir}}/{name}", "--fit"], status=0,
               **options)


def _refused(name, *expect):
    return Row(f"run-image-{name}", ["run", "{ftv}", f"{{dir}}/{name}", "--fit"],
               names=f"{{dir}}/{name}", expect=expect)


IMAGE_ROWS = [
    _converts("mode-1.png"),
    _converts("mode-L.png"),
    _converts("mode-LA.png", check=_same_classes_as("run-image-mode-L.png")),
    _refused("mode-LA-transparent.png", "transparent pixels", "expected an opaque image"),
    _converts("mode-P.png"),
    _refused("mode-P-transparent.png", "transparent pixels", "expected an opaque image"),
    _converts("mode-RGB.png"),
    _converts("mode-RGBA.png", check=_same_classes_as("run-image-mode-RGB.png")),
    _refused("mode-RGBA-transparent.png", "transparent pixels", "expected an opaque image"),
    _converts("mode-CMYK.jpg"),
    # 16-bit pixels are scaled to 8 bits, not clipped: the same classes as the 8-bit image
    _converts("mode-I;16.png", check=_same_classes_as("run-image-mode-L.png")),
    _converts("mode-I.tif", check=_same_classes_as("run-image-mode-L.png")),
    _refused("mode-I-negative.tif", "expected 16-bit values 0..65535"),
    _refused("mode-F.tif", "floating-point pixels", "expected an 8- or 16-bit image"),
    _converts("mode-YCbCr.tif"),  # (back to RGB through Pillow's matrix: not bit-exact)
    _converts("size-1x1.png"),
    _converts("size-8000x8000.png"),
    Row("run-image-size-1x1-unfitted", ["run", "{ftv}", "{dir}/size-1x1.png"],
        names="{dir}/size-1x1.png", expect=["image size is 1x1, the model takes 28x28"]),
    Row("run-image-size-8000x8000-unfitted", ["run", "{ftv}", "{dir}/size-8000x8000.png"],
        names="{dir}/size-8000x8000.png",
        expect=["image size is 8000x8000, the model takes 28x28"]),
    Row("pack-golden-image-mode-F", ["pack", "{ckpt}", "--golden-image", "{dir}/mode-F.tif",
                                     "-o", "{dir}/golden-F.ftv"],
        names="{dir}/mode-F.tif", expect=["floating-point pixels"]),
    Row("pack-golden-image-transparent",
        ["pack", "{ckpt}", "--golden-image", "{dir}/mode-RGBA-transparent.png",
         "-o", "{dir}/golden-RGBA.ftv"],
        names="{dir}/mode-RGBA-transparent.png", expect=["transparent pixels"]),
    # a 16-bit golden image is scaled, and the file gets 0666 less the umask (not 0600)
    Row("pack-golden-image-16-bit-umask-027",
        ["pack", "{ckpt}", "--golden-image", "{dir}/mode-I;16.png", "-o", "{dir}/golden-16.ftv"],
        status=0, umask=0o027, check=_packed_golden_and_mode("golden-16.ftv", GREY, 0o640)),
    Row("check-data-image-mode-F", ["check", "{ckpt}", "{ftv}", "--data", "{dir}/folder-F",
                                    "--backend", "numpy"],
        names="{dir}/folder-F/val/c0/mode-F.tif", expect=["floating-point pixels"]),
]
ROWS += IMAGE_ROWS

# --- models no runtime could run are refused before training, not by pack after it
ROWS.append(Row("train-image-size-not-a-multiple-of-the-patch",
                ["train", "--model", "deit_micro_patch4_28", "--img-size", "30", *TRAIN_COMMON,
                 "-o", "{dir}/t30.pt"],
                names="30", expect=["not a multiple of the patch size 4"]))


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
    for name, make in IMAGES.items():
        make().save(root / name)
    for split in ("train", "val"):
        (root / "folder-F" / split / "c0").mkdir(parents=True)
        shutil.copy(root / "mode-F.tif", root / "folder-F" / split / "c0")
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
        # one error line, the last (a progress bar may have been drawn and wiped before it)
        lines = result.stderr.strip().splitlines()
        errors = [line for line in lines if "error" in line.lower()]
        assert errors == lines[-1:], shown
        assert errors[0].startswith(f"ftervit {row.argv[0]}: error: "), shown
        assert row.names.format(**bad_files) in errors[0], shown
        for words in row.expect:
            assert words.format(**bad_files) in errors[0], shown
    if row.check is not None:
        row.check(bad_files, result, results)


def test_every_command_has_rows():
    assert {r.argv[0] for r in ROWS} == set(COMMANDS)
    assert len({r.id for r in ROWS}) == len(ROWS)
