"""ftervit.images.to_8bit: every Pillow mode becomes 8-bit L or RGB exactly, or is refused."""
import numpy as np
import pytest
from PIL import Image

from ftervit.images import ImageError, load_image, to_8bit


def test_16_bit_grey_is_scaled_and_rounded_not_clipped():
    values = np.array([[0, 1, 128, 129, 32767, 32768, 65278, 65535]], np.uint16)
    got = np.asarray(to_8bit(Image.fromarray(values)))
    assert to_8bit(Image.fromarray(values)).mode == "L"
    assert got.tolist() == [[0, 0, 0, 1, 127, 128, 254, 255]]  # round(v * 255 / 65535)


def test_every_8_bit_value_survives_the_16_bit_round_trip(tmp_path):
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    assert np.array_equal(load_image(tmp_path / "g16.png", 16, 1)[..., 0], grey)


@pytest.mark.parametrize("image, message", [
    (Image.fromarray(np.zeros((4, 4), np.float32)), "floating-point pixels"),
    (Image.fromarray(np.full((4, 4), 70000, np.int32)), "expected 16-bit values"),
    (Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA"), "transparent pixels"),
    (Image.new("HSV", (4, 4)), "image mode HSV is not supported"),
])
def test_what_has_no_8_bit_meaning_is_refused(image, message):
    with pytest.raises(ImageError, match=message):
        to_8bit(image, "x.png")
