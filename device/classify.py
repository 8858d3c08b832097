"""Classify camera frames with a .ftv model: top-5 and milliseconds per frame, in a loop.

On the board (after deploying, see device/README.md), with no arguments:

    mpremote run device/classify.py        # model /model.ftv, camera 240x240 RGB565, forever

Where there is no camera module (MicroPython's unix port), or to classify files:

    micropython device/classify.py [MODEL.ftv] [FILE|DIR ...] [-n FRAMES] [-k TOPK] [--logits]

FILEs are .pgm, .ppm or raw frames NAME.WxH.gray|rgb565|rgb888 (ftervit/camera.py).
-n stops after that many frames (camera or files); --logits also prints the raw
x12 logits of each frame.
"""
import sys
import time

import ftervit
from ftervit.camera import open_frames

USAGE = "usage: classify.py [MODEL.ftv] [FILE|DIR ...] [-n FRAMES] [-k TOPK] [--logits]"


def parse_args(argv):
    args = {"model": ftervit.DEFAULT_MODEL, "files": [], "frames": None, "topk": 5,
            "logits": False}
    positional, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-n", "-k"):
            if i + 1 == len(argv) or not argv[i + 1].isdigit():
                raise ValueError("%s: expected a number after it\n%s" % (arg, USAGE))
            args["frames" if arg == "-n" else "topk"] = int(argv[i + 1])
            i += 1
        elif arg == "--logits":
            args["logits"] = True
        elif arg.startswith("-"):
            raise ValueError("%s: unknown option\n%s" % (arg, USAGE))
        else:
            positional.append(arg)
        i += 1
    if positional and positional[0].endswith(".ftv"):
        args["model"] = positional.pop(0)
    args["files"] = positional
    return args


def print_memory(model):
    mem = model.memory
    print("model %d bytes, scratch %d, image %d, logits %d, ctx %d; heap free %d -> %d"
          % (mem["file"], mem["scratch"], mem["image"], mem["logits"], mem["ctx"],
             mem["heap_free_before"], mem["heap_free_after"]))


def print_result(name, ms, top, logits):
    print("%s: %.1f ms" % (name, ms))
    for rank, (label, logit) in enumerate(top, 1):
        print("  %d. %-24s logit %8.3f" % (rank, label, logit))
    if logits is not None:
        print("  logits " + " ".join([str(v) for v in logits]))


def main(argv):
    args = parse_args(argv)
    model = ftervit.load(args["model"])
    print_memory(model)
    frames = open_frames(args["files"])
    done = 0
    try:
        while args["frames"] is None or done < args["frames"]:
            item = frames.next()
            if item is None:
                break
            name, frame, width, height, fmt = item
            start = time.ticks_us()
            top = model.classify(frame, width, height, fmt, args["topk"])
            ms = time.ticks_diff(time.ticks_us(), start) / 1000
            print_result(name, ms, top, model.logits if args["logits"] else None)
            done += 1
    finally:
        frames.close()
    print("%d frames" % done)


main(sys.argv[1:])
