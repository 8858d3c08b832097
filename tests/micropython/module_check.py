# Runs under MicroPython (unix port): drives the _ftervit module and prints one
# line per result, for tests/test_micropython_module.py to compare with the host.
#   micropython module_check.py MODULE_DIR MODEL IMAGES [bad]
# MODULE_DIR: where _ftervit.mpy is ("-": the module is compiled in).
# IMAGES: the model's input images, concatenated.  "bad": also try every
# refused argument, printing each exception, then classify again.
import struct
import sys
from array import array

if sys.argv[1] != "-":
    sys.path.insert(0, sys.argv[1])
import _ftervit as F

with open(sys.argv[2], "rb") as f:
    model = f.read()
with open(sys.argv[3], "rb") as f:
    images = f.read()

print("module", F.VERSION, F.FORMAT_VERSION, F.ARITH_VERSION, F.CTX_SIZE,
      F.GRAYSCALE, F.RGB565, F.RGB888)
depth = struct.unpack_from("<i", model, 40 + 4 * 5)[0]     # config field 5
ctx = bytearray(F.ctx_size(depth))          # room for this model's blocks only
img_size, in_chans, num_classes, image_bytes, scratch_bytes = F.bind(model, ctx, True)
print("info", img_size, in_chans, num_classes, image_bytes, scratch_bytes)
print("ctx", F.ctx_size(0), F.ctx_size(depth - 1), F.ctx_size(depth))
scratch = bytearray(scratch_bytes)
logits = array("i", [0] * num_classes)


def show(tag, image):
    F.forward(ctx, model, image, scratch, logits)
    print(tag, " ".join(str(v) for v in logits))


def show_staged(image):
    # forward_staged: the stages it reports, in order, and the logits forward gives
    stages = []
    F.forward_staged(ctx, model, image, scratch, logits, stages.append)
    print("staged", " ".join(str(v) for v in logits))
    print("stages", " ".join(str(v) for v in stages))


for i in range(len(images) // image_bytes):
    show("logits", images[i * image_bytes:(i + 1) * image_bytes])
    show_staged(images[i * image_bytes:(i + 1) * image_bytes])

def refuse_stage(stage):
    raise ValueError("mark refuses stage %d" % stage)


if len(sys.argv) > 4 and sys.argv[4] == "bad":
    first = images[:image_bytes]
    # every kind of byte buffer the module takes (the camera's is a signed memoryview)
    show("as-bytearray", bytearray(first))
    show("as-memoryview-B", memoryview(bytearray(first)))
    show("as-memoryview-b", memoryview(array("b", first)))
    # a grey frame of the model's own size is the image itself
    frame_out = bytearray(image_bytes)
    F.frame(ctx, memoryview(array("b", first)), img_size, img_size, F.GRAYSCALE, frame_out)
    print("frame-identity", frame_out == bytearray(first))

    corrupt = bytearray(model)
    corrupt[len(corrupt) - 100] ^= 1
    misaligned = memoryview(bytearray(4 + len(model)))[1:1 + len(model)]
    other_model = bytearray(model)
    # header 40 bytes, config 14 x 4, then 64-byte table entries (offset at +56);
    # check_crc False lets the edits reach the checks behind the CRCs
    bad_offset = bytearray(model)
    bad_offset[40 + 56 + 56] += 1
    bad_config = bytearray(model)
    bad_config[40 + 4:40 + 8] = bytes(4)            # img_size 0
    fresh = bytearray(F.CTX_SIZE)
    cases = [
        ("bind-model-type", lambda: F.bind(123, bytearray(F.CTX_SIZE), True)),
        ("bind-truncated", lambda: F.bind(model[:-16], bytearray(F.CTX_SIZE), True)),
        ("bind-crc", lambda: F.bind(corrupt, bytearray(F.CTX_SIZE), True)),
        ("bind-misaligned", lambda: F.bind(misaligned, bytearray(F.CTX_SIZE), True)),
        ("bind-tensor-named", lambda: F.bind(bad_offset, bytearray(F.CTX_SIZE), False)),
        ("bind-config-named", lambda: F.bind(bad_config, bytearray(F.CTX_SIZE), False)),
        ("bind-ctx-length", lambda: F.bind(model, bytearray(10), True)),
        ("bind-ctx-depth", lambda: F.bind(model, bytearray(F.ctx_size(depth - 1)), True)),
        ("ctx-size-depth", lambda: F.ctx_size(33)),
        ("bind-ctx-readonly", lambda: F.bind(model, bytes(F.CTX_SIZE), True)),
        ("forward-unbound", lambda: F.forward(fresh, model, first, scratch, logits)),
        ("forward-other-model", lambda: F.forward(ctx, other_model, first, scratch, logits)),
        ("forward-image-length", lambda: F.forward(ctx, model, first[:100], scratch, logits)),
        ("forward-image-typecode", lambda: F.forward(
            ctx, model, memoryview(array("h", [0] * (image_bytes // 2))), scratch, logits)),
        ("forward-image-type", lambda: F.forward(ctx, model, [0] * image_bytes, scratch, logits)),
        ("forward-scratch-small", lambda: F.forward(ctx, model, first, bytearray(10), logits)),
        ("forward-scratch-readonly", lambda: F.forward(ctx, model, first, bytes(scratch_bytes),
                                                       logits)),
        ("forward-scratch-overlap", lambda: F.forward(ctx, model, memoryview(scratch)[:image_bytes],
                                                      scratch, logits)),
        ("forward-logits-typecode", lambda: F.forward(ctx, model, first, scratch,
                                                      array("h", [0] * num_classes))),
        ("forward-logits-count", lambda: F.forward(ctx, model, first, scratch, array("i", [0] * 3))),
        ("frame-format", lambda: F.frame(ctx, first, img_size, img_size, 9, bytearray(image_bytes))),
        ("frame-width", lambda: F.frame(ctx, first, 0, img_size, F.GRAYSCALE,
                                        bytearray(image_bytes))),
        ("frame-length", lambda: F.frame(ctx, bytes(100), 10, 10, F.RGB565,
                                         bytearray(image_bytes))),
        ("frame-image-length", lambda: F.frame(ctx, first, img_size, img_size, F.GRAYSCALE,
                                               bytearray(10))),
        ("frame-unbound", lambda: F.frame(fresh, first, img_size, img_size, F.GRAYSCALE,
                                          bytearray(image_bytes))),
        ("forward-staged-mark-raises", lambda: F.forward_staged(ctx, model, first, scratch,
                                                                logits, refuse_stage)),
        ("forward-staged-mark-type", lambda: F.forward_staged(ctx, model, first, scratch,
                                                              logits, 5)),
    ]
    for name, call in cases:
        try:
            call()
            print("refused", name, "NONE")
        except Exception as e:
            print("refused", name, type(e).__name__ + ":", e)
    # a failed bind leaves its context unusable, and the good one works on
    try:
        F.bind(corrupt, fresh, True)
    except ValueError:
        pass
    try:
        F.forward(fresh, corrupt, first, scratch, logits)
        print("refused", "after-failed-bind", "NONE")
    except Exception as e:
        print("refused", "after-failed-bind", type(e).__name__ + ":", e)
    show("after", first)
