"""Camera frames -> model input (docs/arithmetic.md, "Camera frames"): the numpy
reference follows the spec on hand-worked cases, and both C variants (and the
dispatched entry point) equal it bit for bit on random frames of every format,
odd, tiny, huge and non-square sizes, enlarging and reducing, with extremes;
bad arguments get the documented code and leave the image untouched."""
import numpy as np
import pytest
from c_backend_util import c_ops

from ftervit.reference import frame as ref

IMPLS = ("ref", "fast", "default")
FORMATS = list(ref.FORMATS.values())


@pytest.fixture(scope="module")
def cframe():
    c_ops()   # builds the extension, or skips without a C compiler
    from ftervit.cbackend import frame
    return frame


def _random_frame(rng, fmt, w, h, kind="random") -> bytes:
    n = ref.frame_bytes(fmt, w, h)
    if kind == "zeros":
        return bytes(n)
    if kind == "ones":
        return b"\xff" * n
    if kind == "binary":   # only 0 and 255 bytes: sums at their extremes, rounding at halves
        return (rng.integers(0, 2, n, dtype=np.uint8) * 255).tobytes()
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def _same_everywhere(cframe, frame, w, h, fmt, n, chans):
    want = ref.frame_to_image(frame, w, h, fmt, n, chans)
    assert want.shape == (n, n, chans) and want.dtype == np.uint8
    for impl in IMPLS:
        got = cframe.frame_to_image(frame, w, h, fmt, n, chans, impl)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{impl} {w}x{h} fmt {fmt} -> {n}x{n}x{chans}: {len(bad)} "
                               f"mismatches, first at {bad[0]}")
    return want


# ------------------------------------------------------------ the spec by hand
def test_byte_and_channel_order_of_each_format():
    one = lambda data, fmt, chans=3: ref.frame_to_image(data, 1, 1, fmt, 1, chans)[0, 0].tolist()
    assert one(bytes([0xF8, 0x00]), "RGB565") == [255, 0, 0]   # big-endian RRRRRGGG GGGBBBBB
    assert one(bytes([0x07, 0xE0]), "RGB565") == [0, 255, 0]
    assert one(bytes([0x00, 0x1F]), "RGB565") == [0, 0, 255]
    assert one(bytes([0x08, 0x41]), "RGB565") == [8, 8, 8]     # 1 -> 8, 2 -> 8 (g6 = 2)
    assert one(bytes([0x84, 0x10]), "RGB565") == [132, 130, 132]  # 16 -> 132, 32 -> 130
    assert one(bytes([10, 20, 30]), "RGB888") == [30, 20, 10]  # stored B, G, R
    assert one(bytes([10, 20, 30]), "RGB_PPM") == [10, 20, 30]
    assert one(bytes([77]), "GRAYSCALE") == [77, 77, 77]
    assert one(bytes([255, 0, 0]), "RGB_PPM", 1) == [77]       # (77 * 255 + 128) >> 8
    assert one(bytes([0, 255, 0]), "RGB_PPM", 1) == [149]
    assert one(bytes([0, 0, 255]), "RGB_PPM", 1) == [29]
    assert one(b"\xff\xff", "RGB565", 1) == [255]


def test_centre_crop_offsets_floor_and_resize_rounds_half_up():
    # 5 x 2 grey frame: S = 2, x0 = floor(3 / 2) = 1, so columns 1 and 2
    frame = bytes([9, 0, 1, 9, 9,
                   9, 1, 2, 9, 9])
    assert ref.frame_to_image(frame, 5, 2, "GRAYSCALE", 1, 1)[0, 0, 0] == 1   # 4/4
    frame = bytes([9, 0, 0, 9, 9,
                   9, 0, 2, 9, 9])
    assert ref.frame_to_image(frame, 5, 2, "GRAYSCALE", 1, 1)[0, 0, 0] == 1   # 2/4: half up
    frame = bytes([9, 0, 0, 9, 9,
                   9, 0, 1, 9, 9])
    assert ref.frame_to_image(frame, 5, 2, "GRAYSCALE", 1, 1)[0, 0, 0] == 0   # 1/4
    # 2 x 5 (tall): y0 = 1, rows 1 and 2
    tall = bytes([9, 9, 4, 4, 4, 4, 9, 9, 9, 9])
    assert ref.frame_to_image(tall, 2, 5, "GRAYSCALE", 1, 1)[0, 0, 0] == 4


def test_area_weights_enlarge_and_reduce():
    # S = 2 -> n = 3: output 1 takes half of each source pixel
    assert ref.area_weights(2, 3).tolist() == [[2, 0], [1, 1], [0, 2]]
    # S = 3 -> n = 2: output pixels of length 3 over source pixels of length 2
    assert ref.area_weights(3, 2).tolist() == [[2, 1, 0], [0, 1, 2]]
    for s, n in [(1, 7), (7, 1), (5, 5), (240, 28), (28, 224), (4095, 224)]:
        w = ref.area_weights(s, n)
        assert (w.sum(axis=1) == s).all() and (w.sum(axis=0) == n).all()
    row = bytes([0, 90])        # 2 x 1: S = 1, x0 = floor(1 / 2) = 0, the left pixel
    assert ref.frame_to_image(row, 2, 1, "GRAYSCALE", 3, 1)[..., 0].tolist() == [[0] * 3] * 3
    square = bytes([0, 90, 30, 60])
    up = ref.frame_to_image(square, 2, 2, "GRAYSCALE", 3, 1)[..., 0]
    # centre: (0 + 90 + 30 + 60) / 4 = 45; edges: averages of two pixels
    assert up.tolist() == [[0, 45, 90], [15, 45, 75], [30, 45, 60]]


def test_same_size_is_the_crop_itself():
    rng = np.random.default_rng(3)
    frame = _random_frame(rng, "RGB_PPM", 9, 7)
    pixels = np.frombuffer(frame, np.uint8).reshape(7, 9, 3)
    assert np.array_equal(ref.frame_to_image(frame, 9, 7, "RGB_PPM", 7, 3), pixels[:, 1:8])


# ------------------------------------------------------------ C == numpy
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chans", [1, 3])
def test_c_equals_reference_on_random_frames(cframe, fmt, chans):
    rng = np.random.default_rng(100 * fmt + chans)
    cases = [(1, 1, 1), (1, 1, 5), (2, 1, 1), (1, 2, 3), (3, 3, 2), (7, 5, 3), (5, 7, 3),
             (17, 13, 4), (13, 17, 29), (31, 31, 31), (64, 48, 28), (48, 64, 28),
             (240, 240, 28), (240, 240, 224), (160, 120, 96), (120, 160, 97), (6, 200, 11),
             (200, 6, 11)]
    cases += [(int(rng.integers(1, 90)), int(rng.integers(1, 90)), int(rng.integers(1, 60)))
              for _ in range(20)]
    for i, (w, h, n) in enumerate(cases):
        kind = ("random", "binary", "zeros", "ones")[i % 4]
        _same_everywhere(cframe, _random_frame(rng, fmt, w, h, kind), w, h, fmt, n, chans)


def test_c_equals_reference_on_huge_frames(cframe):
    rng = np.random.default_rng(7)
    side = ref.MAX_SIDE
    for w, h, fmt, n in [(side, 3, "RGB565", 5), (3, side, "RGB888", 2), (side, 1, 1, 3),
                         (640, 480, "RGB565", 224), (479, 641, "RGB_PPM", 13),
                         (side, side, "GRAYSCALE", 3), (1, 1, "RGB565", side)]:
        _same_everywhere(cframe, _random_frame(rng, fmt, w, h), w, h, fmt, n, 3)


@pytest.mark.parametrize("impl", IMPLS)
def test_largest_sums_do_not_overflow(cframe, impl):
    # 255 S^2 + S^2 / 2 with S = 4095 is just under 2^32: every output must stay 255
    side = ref.MAX_SIDE
    white = b"\xff" * (side * side * 2)
    for n in (1, 224, 4094):
        got = cframe.frame_to_image(white, side, side, "RGB565", n, 3, impl)
        assert (got == 255).all(), (impl, n)
    grey = np.full(side * side, 254, np.uint8)
    grey[::7] = 255
    for n in (1, 29):
        assert np.array_equal(cframe.frame_to_image(grey, side, side, "GRAYSCALE", n, 1, impl),
                              ref.frame_to_image(grey.tobytes(), side, side, 1, n, 1))


# ------------------------------------------------------------ bad arguments
def test_frame_bytes_matches_the_reference(cframe):
    for fmt in FORMATS:
        for w, h in [(1, 1), (240, 240), (4095, 4095), (3, 4095)]:
            assert cframe.frame_bytes(fmt, w, h) == ref.frame_bytes(fmt, w, h)
    for fmt, w, h in [(0, 1, 1), (5, 1, 1), (-1, 9, 9), (2, 0, 5), (2, 5, 0), (2, 4096, 1),
                      (2, 1, 4096), (2, -3, 4)]:
        assert cframe.frame_bytes(fmt, w, h) == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_arguments_get_their_code_in_order(cframe, impl):
    from ftervit.cbackend.build import load_extension
    m = load_extension()
    lib, ffi = m.lib, m.ffi
    frame = bytes(12 * 10 * 2)
    image = np.full(8 * 8 * 3, 0xAA, np.uint8)
    fn = getattr(lib, {"ref": "ftv_frame_to_image_ref", "fast": "ftv_frame_to_image_fast",
                       "default": "ftv_frame_to_image"}[impl])
    buf, out = ffi.from_buffer("uint8_t[]", frame), ffi.from_buffer("uint8_t[]", image)
    cases = [  # (frame, length, w, h, format, image, img_size, in_chans) -> code
        ((ffi.NULL, 240, 12, 10, 2, out, 8, 3), lib.FTV_ERR_ARG),
        ((buf, 240, 12, 10, 2, ffi.NULL, 8, 3), lib.FTV_ERR_ARG),
        ((buf, 240, 12, 10, 0, out, 8, 3), lib.FTV_ERR_FRAME_FORMAT),
        ((buf, 240, 12, 10, 5, out, 8, 3), lib.FTV_ERR_FRAME_FORMAT),
        ((buf, 240, 0, 10, 7, out, 0, 0), lib.FTV_ERR_FRAME_FORMAT),   # format first
        ((buf, 240, 0, 10, 2, out, 8, 3), lib.FTV_ERR_FRAME_SIZE),
        ((buf, 240, 12, -1, 2, out, 8, 3), lib.FTV_ERR_FRAME_SIZE),
        ((buf, 240, 4096, 1, 1, out, 8, 3), lib.FTV_ERR_FRAME_SIZE),
        ((buf, 239, 12, 10, 2, out, 8, 3), lib.FTV_ERR_FRAME_LEN),
        ((buf, 240, 12, 10, 3, out, 8, 3), lib.FTV_ERR_FRAME_LEN),     # RGB888 is 360 bytes
        ((buf, 120, 12, 10, 2, out, 0, 3), lib.FTV_ERR_FRAME_LEN),     # length before image
        ((buf, 240, 12, 10, 2, out, 0, 3), lib.FTV_ERR_FRAME_IMAGE),
        ((buf, 240, 12, 10, 2, out, 4096, 3), lib.FTV_ERR_FRAME_IMAGE),
        ((buf, 240, 12, 10, 2, out, 8, 2), lib.FTV_ERR_FRAME_IMAGE),
        ((buf, 240, 12, 10, 2, out, 8, 0), lib.FTV_ERR_FRAME_IMAGE),
    ]
    for args, code in cases:
        assert fn(*args) == code, args
        assert (image == 0xAA).all(), f"image written on error {args}"
        text = ffi.string(lib.ftv_frame_strerror(code)).decode()
        assert text and text != "unknown error code"
    assert lib.FTV_ERR_ARG == -1
    assert fn(buf, 240, 12, 10, 2, out, 8, 3) == 0
    assert not (image == 0xAA).all()


def test_reference_refuses_what_c_refuses():
    good = bytes(240 * 240 * 2)
    with pytest.raises(ref.FrameError, match="unknown; expected one of GRAYSCALE"):
        ref.frame_to_image(good, 240, 240, "YUV422", 28, 1)
    with pytest.raises(ref.FrameError, match="115199 bytes; 240x240 RGB565 is 115200"):
        ref.frame_to_image(good[1:], 240, 240, "RGB565", 28, 1)
    with pytest.raises(ref.FrameError, match="width 0 is outside 1..4095"):
        ref.frame_to_image(good, 0, 240, "RGB565", 28, 1)
    with pytest.raises(ref.FrameError, match="image size 4096"):
        ref.frame_to_image(good, 240, 240, "RGB565", 4096, 1)
    with pytest.raises(ref.FrameError, match="in_chans 2"):
        ref.frame_to_image(good, 240, 240, "RGB565", 28, 2)


def test_c_format_codes_are_the_references(cframe):
    from ftervit.cbackend.build import load_extension
    lib = load_extension().lib
    assert {k: getattr(lib, "FTV_FRAME_" + k) for k in ref.FORMATS} == ref.FORMATS
    assert lib.FTV_FRAME_MAX_SIDE == ref.MAX_SIDE


# ------------------------------------------------------------ bare-metal Xtensa
def _xorshift_bytes(n: int) -> bytes:
    """frame_main.c's PRNG bytes: xorshift32 from 0x9E3779B9, the top byte of each."""
    s, out = 0x9E3779B9, bytearray(n)
    for i in range(n):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = s >> 24
    return bytes(out)


def _fnv1a(data: bytes) -> str:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h:08x}"


def test_lx106_bare_metal_images_equal_the_reference(tmp_path):
    """Both variants, built with xtensa-lx106-elf-gcc and run under QEMU, write the
    numpy reference's image (checksums), with repeatable instruction counts."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "xtensa"))
    try:
        import build as xbuild
    finally:
        sys.path.pop(0)
    try:
        xbuild.require(xbuild.XCC)
        xbuild.require(xbuild.QEMU)
    except xbuild.ToolMissing as exc:
        pytest.fail(str(exc))
    plugin = xbuild.build_plugin(tmp_path)
    for w, h, fmt, n, chans in [(37, 23, "RGB565", 11, 3), (13, 17, "GRAYSCALE", 29, 1)]:
        shape = dict(FRAME_W=w, FRAME_H=h, FRAME_FMT=ref.FORMATS[fmt], FRAME_IMG=n,
                     FRAME_CHANS=chans)
        elf = xbuild.build_image(tmp_path, shape, f"frame_{fmt}", main="frame_main.c",
                                 sources=xbuild.FRAME_SOURCES)
        want = _fnv1a(ref.frame_to_image(_xorshift_bytes(ref.frame_bytes(fmt, w, h)), w, h,
                                         fmt, n, chans).tobytes())
        runs = [xbuild.run_image(elf, plugin, timeout=60) for _ in range(2)]
        for name in ("frame_ref", "frame_fast"):
            k0, k1 = runs[0]["kernels"][name], runs[1]["kernels"][name]
            assert k0["rc"] == 0 and k0["checksum"] == want, (fmt, name, k0, want)
            assert 0 < k0["insns"] == k1["insns"], (fmt, name)
        assert runs[0]["kernels"]["frame_fast"]["insns"] < runs[0]["kernels"]["frame_ref"]["insns"]
