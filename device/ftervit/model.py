"""A loaded model: the file's buffer, the native context and every work buffer.

All buffers are allocated here, once; classify() and forward() reuse them,
so a call allocates only its small result list.  The native module does
all per-pixel and per-weight work; Python picks buffers and formats results.
"""
import gc
import struct
from array import array

from .header import LOGIT_FRAC_BITS
from .topk import top_indices

FORMAT_NAMES = ("GRAYSCALE", "RGB565", "RGB888", "RGB_PPM")   # camera names (ftv_frame.h)
UNDECODED = ("JPEG", "YUV422", "YUV420", "RAW", "RGB444", "RGB555")  # other camera formats
GOLDEN_HEADER = "<IIII"     # input_kind, seed, num_logits, input_length (format.md §8)
GOLDEN_RAW, GOLDEN_XORSHIFT32 = 0, 1


class Model:
    """Run a bound `.ftv` model on images and camera frames."""

    def __init__(self, native, buf, header, config, check_crc, heap_free_before):
        self._native = native
        self._file = buf
        ctx_bytes = native.ctx_size(config["depth"])    # room for this model's blocks only
        self._ctx = _allocate("ctx", ctx_bytes)
        (self.img_size, self.in_chans, self.num_classes, image_bytes,
         scratch_bytes) = native.bind(buf, self._ctx, check_crc)
        self._header = header
        self._image = _allocate("image", image_bytes)
        self._scratch = _allocate("scratch", scratch_bytes)
        self.logits = array("i", _allocate("logits", 4 * self.num_classes))
        self._formats = _format_codes(native)
        self.labels = _labels(buf, header, self.num_classes)
        gc.collect()
        self.memory = {"file": len(buf), "scratch": scratch_bytes, "image": image_bytes,
                       "logits": 4 * self.num_classes, "ctx": ctx_bytes,
                       "heap_free_before": heap_free_before, "heap_free_after": gc.mem_free()}

    def forward(self, image):
        """Raw x12 logits of one model input (img_size x img_size x in_chans uint8, HWC).

        The array returned is the model's own (also `self.logits`) and is
        overwritten by the next call.
        """
        self._native.forward(self._ctx, self._file, image, self._scratch, self.logits)
        return self.logits

    def classify(self, frame, width, height, fmt, topk=5):
        """[(label, logit), ...] of the topk classes of one camera frame, best first.

        fmt: "GRAYSCALE", "RGB565", "RGB888" or "RGB_PPM" (docs/arithmetic.md
        says which bytes each means), or the module's code for one.
        """
        _check_topk(topk)
        self._native.frame(self._ctx, frame, width, height, self._format_code(fmt),
                           self._image)
        return self.top(self.forward(self._image), topk)

    def timed_classify(self, frame, width, height, fmt):
        """[(stage, microseconds), ...] of one camera frame through the model: the frame
        kernel ("preprocess"), "patch embedding", "block I attention" and "block I mlp" for
        each block, "head"; the logits are left in `self.logits`, as classify leaves them.

        Timed with time.ticks_us at the native module's stage boundaries (its
        forward_staged calls back as each stage ends); the arithmetic is forward's.
        """
        import time
        staged = getattr(self._native, "forward_staged", None)
        if staged is None:
            raise ValueError("bench: this _ftervit has no forward_staged(): deploy the native "
                             "module of this ftervit package")
        code = self._format_code(fmt)
        marks = []

        def mark(stage):
            marks.append(time.ticks_us())

        start = time.ticks_us()
        self._native.frame(self._ctx, frame, width, height, code, self._image)
        marks.append(time.ticks_us())
        staged(self._ctx, self._file, self._image, self._scratch, self.logits, mark)
        depth = (len(marks) - 3) // 2
        names = ["preprocess", "patch embedding"]
        for i in range(depth):
            names.append("block %d attention" % i)
            names.append("block %d mlp" % i)
        names.append("head")
        times = []
        for name in names:
            times.append((name, time.ticks_diff(marks[len(times)], start)))
            start = marks[len(times) - 1]
        return times

    def top(self, logits, topk=5):
        """[(label, logit), ...] of the topk largest logits, ties to the lower index."""
        _check_topk(topk)
        scale = 1 << LOGIT_FRAC_BITS
        return [(self.labels[i], logits[i] / scale)
                for i in top_indices(logits, min(topk, self.num_classes))]

    def selftest(self):
        """Run the file's golden vector; ValueError naming the first logit that differs."""
        golden = _golden(self._file, self._header, self.num_classes)
        if golden is None:
            return False
        kind, seed, expected, image = golden
        if kind == GOLDEN_XORSHIFT32:
            image = self._xorshift_image(seed)
        got = self.forward(image)
        if not got == expected:         # arrays of one typecode compare as raw bytes
            i = _first_difference(got, expected)
            raise ValueError("self-test: logit %d is %d, the file's golden vector expects %d: "
                             "this runtime does not compute what the packer computed"
                             % (i, got[i], expected[i]))
        return True

    def _xorshift_image(self, seed):
        fill = getattr(self._native, "xorshift32", None)
        if fill is None:
            raise ValueError("self-test: the golden input is xorshift32-seeded and this "
                             "_ftervit has no xorshift32(): load with selftest=False")
        fill(seed, self._image)
        return self._image

    def _format_code(self, fmt):
        code = self._formats.get(fmt) if isinstance(fmt, str) else fmt
        if code not in self._formats.values():
            why = " (a decoder this runtime does not have)" if fmt in UNDECODED else ""
            raise ValueError("fmt: expected one of %s, found %r%s"
                             % (", ".join(sorted(self._formats)), fmt, why))
        return code


def _allocate(name, nbytes):
    try:
        return bytearray(nbytes)
    except MemoryError:
        gc.collect()
        raise MemoryError("%s: its %d bytes do not fit in the heap beside the model file "
                          "(gc.mem_free() = %d)" % (name, nbytes, gc.mem_free()))


def _check_topk(topk):
    if topk < 1:
        raise ValueError("topk: expected at least 1, found %d" % topk)


def _format_codes(native):
    return {name: getattr(native, name) for name in FORMAT_NAMES if hasattr(native, name)}


def _labels(buf, header, num_classes):
    """The class names (format.md §7), or "0".."K-1" for a file without them."""
    offset, length = header["labels_offset"], header["labels_length"]
    if offset == 0:
        return [str(i) for i in range(num_classes)]
    return str(buf[offset:offset + length], "utf-8").split("\n")


def _golden(buf, header, num_classes):
    """(kind, seed, expected logits, input) of the golden section, or None."""
    offset = header["golden_offset"]
    if offset == 0:
        return None
    # the binder has checked the section: num_logits == num_classes, lengths in the file
    kind, seed, count, input_length = struct.unpack_from(GOLDEN_HEADER, buf, offset)
    start = offset + 16
    expected = array("i", buf[start:start + 4 * count])
    start += 4 * count
    return kind, seed, expected, memoryview(buf)[start:start + input_length]


def _first_difference(got, expected):
    for i in range(len(expected)):
        if got[i] != expected[i]:
            return i
    return -1
