"""Frame sources for classify.py: the board's camera, or image files.

Both give (name, frame, width, height, fmt) tuples, fmt being a format name
of Model.classify.  On a board with micropython-camera-API's `camera`
module, CameraFrames wraps it; where there is no camera (MicroPython's unix
port, a board without one) FileFrames reads frames from files:

  NAME.pgm                 PGM P5, maxval 255            -> GRAYSCALE
  NAME.ppm                 PPM P6, maxval 255            -> RGB_PPM (R, G, B bytes)
  NAME.WxH.gray|rgb565|rgb888
                           raw frames as the camera driver delivers them
                           (docs/arithmetic.md), one or more back to back

A directory stands for the files in it, in name order.  Each frame is read
into a buffer kept for its size, so frames of one size share one buffer.
"""
import os

RAW_FORMATS = {"gray": ("GRAYSCALE", 1), "rgb565": ("RGB565", 2), "rgb888": ("RGB888", 3)}
# pixels of micropython-camera-API's FrameSize names (esp32-camera's framesize_t)
FRAME_SIZES = {"R96X96": (96, 96), "QQVGA": (160, 120), "R128x128": (128, 128),
               "QCIF": (176, 144), "HQVGA": (240, 176), "R240X240": (240, 240),
               "QVGA": (320, 240), "R320X320": (320, 320), "CIF": (400, 296),
               "HVGA": (480, 320), "VGA": (640, 480)}
CAMERA_FORMATS = ("GRAYSCALE", "RGB565", "RGB888")


def open_frames(paths=None, pixel_format="RGB565", frame_size="R240X240"):
    """FileFrames over `paths` if given, else the camera."""
    if paths:
        return FileFrames(paths)
    try:
        import camera
    except ImportError:
        raise OSError("camera: this MicroPython has no camera module: give image files "
                      "(.pgm, .ppm or raw NAME.WxH.rgb565) instead")
    return CameraFrames(camera, pixel_format, frame_size)


class CameraFrames:
    """Frames from micropython-camera-API: capture() hands back a memoryview of
    the driver's frame buffer, valid until the next capture."""

    def __init__(self, camera, pixel_format, frame_size):
        if pixel_format not in CAMERA_FORMATS:
            raise ValueError("pixel_format: expected one of %s, found %r (JPEG and YUV "
                             "frames need a decoder this runtime does not have)"
                             % (", ".join(CAMERA_FORMATS), pixel_format))
        if frame_size not in FRAME_SIZES:
            raise ValueError("frame_size: expected one of %s, found %r"
                             % (", ".join(sorted(FRAME_SIZES)), frame_size))
        self.fmt = pixel_format
        self.width, self.height = FRAME_SIZES[frame_size]
        self._cam = camera.Camera(pixel_format=getattr(camera.PixelFormat, pixel_format),
                                  frame_size=getattr(camera.FrameSize, frame_size))
        self._count = 0

    def next(self):
        frame = self._cam.capture()
        if frame is None:
            raise OSError("camera: capture() returned no frame")
        self._count += 1
        return "camera %d" % self._count, frame, self.width, self.height, self.fmt

    def close(self):
        self._cam.deinit()


class FileFrames:
    """Frames read from image files, one after another; next() is None at the end."""

    def __init__(self, paths):
        self._files = []
        for path in paths:
            self._files.extend(_expand(path))
        self._buffers = {}
        self._pending = []      # (name, path, offset, width, height, fmt, nbytes)

    def next(self):
        while not self._pending:
            if not self._files:
                return None
            self._pending = _frames_of(self._files.pop(0))
        name, path, offset, width, height, fmt, nbytes = self._pending.pop(0)
        frame = self._buffer(nbytes)
        with open(path, "rb") as f:
            f.seek(offset)
            if f.readinto(frame) != nbytes:
                raise OSError("%s: shorter than its header says" % path)
        return name, frame, width, height, fmt

    def _buffer(self, nbytes):
        if nbytes not in self._buffers:
            self._buffers[nbytes] = bytearray(nbytes)
        return self._buffers[nbytes]

    def close(self):
        self._buffers = {}


def _expand(path):
    if os.stat(path)[0] & 0x4000:       # S_IFDIR
        return [path + "/" + name for name in sorted(os.listdir(path))]
    return [path]


def _frames_of(path):
    """(name, path, offset, width, height, fmt, nbytes) for each frame in the file."""
    base = path.split("/")[-1]
    size = os.stat(path)[6]
    ext = base.split(".")[-1].lower()
    if ext in ("pgm", "ppm"):
        width, height, offset = _netpbm_header(path, "P5" if ext == "pgm" else "P6")
        fmt, bpp = ("GRAYSCALE", 1) if ext == "pgm" else ("RGB_PPM", 3)
        nbytes = width * height * bpp
        if offset + nbytes > size:
            raise ValueError("%s: %dx%d pixels need %d bytes after the header, the file "
                             "has %d" % (path, width, height, nbytes, size - offset))
        return [(base, path, offset, width, height, fmt, nbytes)]
    return _raw_frames(path, base, ext, size)


def _raw_frames(path, base, ext, size):
    parts = base.split(".")
    if ext not in RAW_FORMATS or len(parts) < 3 or "x" not in parts[-2]:
        raise ValueError("%s: expected NAME.pgm, NAME.ppm or a raw frame NAME.WxH.FORMAT "
                         "with FORMAT one of %s" % (path, ", ".join(sorted(RAW_FORMATS))))
    try:
        width, height = [int(v) for v in parts[-2].split("x")]
    except ValueError:
        raise ValueError("%s: expected WxH (e.g. 240x240) before .%s, found %r"
                         % (path, ext, parts[-2]))
    fmt, bpp = RAW_FORMATS[ext]
    nbytes = width * height * bpp
    if nbytes == 0 or size == 0 or size % nbytes:
        raise ValueError("%s: %d bytes is not a whole number of %dx%d %s frames (%d bytes "
                         "each)" % (path, size, width, height, fmt, nbytes))
    count = size // nbytes
    return [(base if count == 1 else "%s[%d]" % (base, i), path, i * nbytes, width, height,
             fmt, nbytes) for i in range(count)]


def _netpbm_header(path, magic):
    """(width, height, data offset) of a binary PGM/PPM with maxval 255."""
    with open(path, "rb") as f:
        head = f.read(512)
    tokens, i = [], 0
    while len(tokens) < 4 and i < len(head):
        c = head[i]
        if c == 0x23:                               # '#': a comment to the end of the line
            while i < len(head) and head[i] != 0x0A:
                i += 1
        elif c in b" \t\r\n":
            i += 1
        else:
            start = i
            while i < len(head) and head[i] not in b" \t\r\n":
                i += 1
            tokens.append(head[start:i])
    if len(tokens) < 4 or tokens[0] != magic.encode() or tokens[3] != b"255":
        raise ValueError("%s: expected a binary %s header with maxval 255 (%s W H 255)"
                         % (path, "PGM" if magic == "P5" else "PPM", magic))
    return int(tokens[1]), int(tokens[2]), i + 1     # one whitespace byte ends the header
