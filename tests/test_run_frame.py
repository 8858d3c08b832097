"""`ftervit run model.ftv frame.raw --frame WxH:FORMAT`: a raw camera frame is
preprocessed by the board's frame arithmetic on both backends, which print the
same logits as the numpy reference fed the reference's model input; bad frame
input is one line naming the file or argument and what was expected."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ftervit.cli import main
from ftervit.ftv import read_ftv
from ftervit.pack import integer_model
from ftervit.reference import forward
from ftervit.reference import frame as ref

MODELS = Path(__file__).resolve().parents[1] / "models"
FTV = MODELS / "fmnist_ftervit_micro.ftv"
SAMPLE = MODELS / "fmnist_samples" / "test00000_ankle-boot.png"


def _camera_frames(tmp_path):
    """The sample enlarged to 240x240 (nearest), as RGB565 / GRAYSCALE / RGB888 files."""
    from PIL import Image
    grey = np.asarray(Image.open(SAMPLE).convert("L").resize((240, 240), Image.NEAREST))
    g = grey.astype(np.uint16)
    rgb565 = ((g >> 3) << 11) | ((g >> 2) << 5) | (g >> 3)
    frames = {"RGB565": rgb565.astype(">u2").tobytes(), "GRAYSCALE": grey.tobytes(),
              "RGB888": np.repeat(grey[..., None], 3, axis=-1).tobytes()}
    paths = {}
    for fmt, data in frames.items():
        paths[fmt] = tmp_path / f"boot_{fmt}.raw"
        paths[fmt].write_bytes(data)
    return frames, paths


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "ftervit", "run", str(FTV), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _printed_logits(stdout: str) -> dict:
    return {m.group(1).strip(): int(m.group(2))
            for m in re.finditer(r"^\s+\d+\. (.+?)\s+logit\s+\S+\s+\(x12 (-?\d+)\)$", stdout, re.M)}


def test_both_backends_print_the_reference_logits_for_a_raw_frame(tmp_path):
    frames, paths = _camera_frames(tmp_path)
    spec = "240x240:RGB565"
    # the three processes run side by side: each pays the package's import once
    procs = {"numpy": _cli(paths["RGB565"], "--frame", spec, "--topk", "10"),
             "c": _cli(paths["RGB565"], "--frame", spec, "--topk", "10", "--backend", "c"),
             "short": _cli(paths["GRAYSCALE"], "--frame", spec)}
    out = {k: p.communicate(timeout=300) for k, p in procs.items()}
    ftv = read_ftv(FTV)
    image = ref.frame_to_image(frames["RGB565"], 240, 240, "RGB565", 28, 1)
    logits = forward(integer_model(ftv), image)
    want = {label: int(v) for label, v in zip(ftv.labels, logits)}
    for backend in ("numpy", "c"):
        stdout, stderr = out[backend]
        assert procs[backend].returncode == 0, stderr
        assert _printed_logits(stdout) == want, backend
        assert stdout.splitlines()[1].split()[1:3] == ["Ankle", "boot"]
    # a grey frame file is half the bytes the RGB565 spec needs: one line, file and sizes
    stdout, stderr = out["short"]
    assert procs["short"].returncode == 2 and stdout == ""
    assert stderr.strip().count("\n") == 0
    assert str(paths["GRAYSCALE"]) in stderr
    assert "57600 bytes" in stderr and "240x240 RGB565" in stderr and "115200 bytes" in stderr


def test_every_format_gives_the_same_model_input_for_the_same_picture(tmp_path):
    frames, _ = _camera_frames(tmp_path)
    images = [ref.frame_to_image(data, 240, 240, fmt, 28, 1) for fmt, data in frames.items()]
    # RGB565 keeps 5/6 bits of grey: r5, g6 and b5 replicated back differ by < 8 per channel
    assert np.array_equal(images[1], images[2])
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() < 8


@pytest.mark.parametrize("args, expected", [
    (["--frame", "240x240:YUV422"], "frame format 'YUV422' is unknown; expected one of "
                                    "GRAYSCALE, RGB565, RGB888, RGB_PPM"),
    (["--frame", "240*240:RGB565"], "expected WIDTHxHEIGHT:FORMAT, e.g. 240x240:RGB565"),
    (["--frame", "240x240"], "expected WIDTHxHEIGHT:FORMAT"),
    (["--frame", "x240:RGB565"], "expected WIDTHxHEIGHT:FORMAT"),
    (["--frame", "0x240:RGB565"], "frame width 0 is outside 1..4095"),
    (["--frame", "240x4096:GRAYSCALE"], "frame height 4096 is outside 1..4095"),
    (["--frame", "240x240:JPEG"], "JPEG frames are compressed, not raw"),
    (["--frame", "240x240:RGB888"], "115200 bytes, but a 240x240 RGB888 frame "
                                    "(--frame 240x240:RGB888) is 172800 bytes (240 x 240 x 3)"),
    (["--frame", "240x240:RGB565", "--fit"], "--fit is for image files"),
])
def test_bad_frame_input_is_one_clear_line(tmp_path, capsys, args, expected):
    _, paths = _camera_frames(tmp_path)
    assert main(["run", str(FTV), str(paths["RGB565"]), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ftervit run: error: ") and err.count("\n") == 1
    assert expected in err
    if "--frame" in args and "bytes" in expected:
        assert str(paths["RGB565"]) in err


def test_missing_frame_file_names_it(tmp_path, capsys):
    missing = tmp_path / "nothing.raw"
    assert main(["run", str(FTV), str(missing), "--frame", "240x240:RGB565"]) == 2
    assert f"frame file not found: {missing}" in capsys.readouterr().err
