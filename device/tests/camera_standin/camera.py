"""Stand-in for micropython-camera-API's `camera` module, with its API surface.

The unix port has no camera; this module lets device/classify.py run its
capture loop unchanged there.  Frames come from the raw file named by the
environment variable FTERVIT_CAMERA_FRAMES (frames back to back, as the
driver delivers them), in a loop.  capture() returns a memoryview of
typecode 'b' over one frame buffer, as the real driver does, and None when
FTERVIT_CAMERA_FAIL is set.
"""
import os
from array import array


class PixelFormat:        # esp32-camera's pixformat_t values
    RGB565, YUV422, YUV420, GRAYSCALE, JPEG, RGB888, RAW, RGB444, RGB555 = range(9)


class FrameSize:          # esp32-camera's framesize_t values
    (R96X96, QQVGA, R128x128, QCIF, HQVGA, R240X240, QVGA, R320X320, CIF, HVGA,
     VGA) = range(11)


_SIDES = {FrameSize.R96X96: (96, 96), FrameSize.QQVGA: (160, 120),
          FrameSize.R240X240: (240, 240), FrameSize.QVGA: (320, 240)}
_BPP = {PixelFormat.GRAYSCALE: 1, PixelFormat.RGB565: 2, PixelFormat.RGB888: 3}


class Camera:
    def __init__(self, pixel_format=PixelFormat.RGB565, frame_size=FrameSize.QQVGA, **pins):
        self._width, self._height = _SIDES[frame_size]
        self._bytes = self._width * self._height * _BPP[pixel_format]
        self._buffer = array("b", bytes(self._bytes))
        self._path = os.getenv("FTERVIT_CAMERA_FRAMES")
        self._offset = 0

    def capture(self):
        if os.getenv("FTERVIT_CAMERA_FAIL"):
            return None
        with open(self._path, "rb") as f:
            if self._offset >= os.stat(self._path)[6]:
                self._offset = 0
            f.seek(self._offset)
            f.readinto(self._buffer)
        self._offset += self._bytes
        return memoryview(self._buffer)

    def init(self):
        pass

    def free_buffer(self):
        pass

    def deinit(self):
        pass
