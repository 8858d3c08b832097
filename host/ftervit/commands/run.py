"""`ftervit run model.ftv IMAGE`: classify an image with an integer runtime.

With `--frame WIDTHxHEIGHT:FORMAT`, IMAGE is a raw camera frame, preprocessed by
the board's arithmetic (docs/arithmetic.md, "Camera frames") on the chosen
backend, so the host reproduces the board's answer for the same bytes."""
import time


def register(sub):
    p = sub.add_parser("run", help="classify an image with the integer runtime",
                       description="Run a .ftv model on an image file and print the top-k "
                                   "classes. --selftest checks the embedded golden vector.")
    p.add_argument("model", help=".ftv model file")
    p.add_argument("image", nargs="?",
                   help="image file (PNG, JPEG, ...), or a raw frame file with --frame")
    p.add_argument("--topk", type=int, default=5, help="classes to print (default: 5)")
    p.add_argument("--backend", choices=("numpy", "c", "board"), default="numpy",
                   help="numpy reference (default), the C kernels through cffi, or the board "
                        "(device/serve.py on --port)")
    p.add_argument("--port", help="the board's serial port, for --backend board")
    p.add_argument("--fit", action="store_true",
                   help="centre-crop, resize and convert the image to the model's input")
    p.add_argument("--frame", metavar="WxH:FORMAT",
                   help="IMAGE is a raw camera frame of W x H pixels in FORMAT: GRAYSCALE, "
                        "RGB565 (big-endian, as esp32-camera delivers it), RGB888 (bytes B, "
                        "G, R), RGB_PPM (bytes R, G, B); centre-cropped, resized and "
                        "converted as on the board, e.g. --frame 240x240:RGB565")
    p.add_argument("--selftest", action="store_true",
                   help="run the golden vector stored in the file and compare the logits")
    p.set_defaults(func=run)


def load_runtime(path, backend: str, port=None):
    """(FtvModel, forward(image) -> int32 logits) for a backend."""
    from ..ftv import read_ftv
    from ..reference import integer_model
    from ..reference import forward
    ftv = read_ftv(path)
    if backend == "board":
        return ftv, board_forward(path, ftv, port)
    if backend == "c":
        from .. import cbackend
        cmodel = cbackend.load(ftv)
        return ftv, cmodel.forward
    imodel = integer_model(ftv)
    return ftv, lambda image: forward(imodel, image)


def board_forward(path, ftv, port):
    """forward(image) on the board: the same model file is copied there first (nothing is
    sent if its SHA-256 already matches), then each model input goes as a frame of the
    model's own size (GRAYSCALE or RGB_PPM), which the frame kernel passes through as is."""
    from pathlib import Path

    import numpy as np

    from ..board.link import BoardLink
    from ..board.transfer import put_file
    from ..cli import CommandError
    if not port:
        raise CommandError("--backend board needs --port PORT (device/serve.py running there)")
    link = BoardLink.open(port, timeout=60.0)
    put_file(link, Path(path).read_bytes(), "model.ftv")
    size, chans = ftv.geometry.img_size, ftv.geometry.in_chans
    fmt = "GRAYSCALE" if chans == 1 else "RGB_PPM"

    def forward(image):
        data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        answer = link.request("classify", data=data, path="model.ftv", width=size,
                              height=size, fmt=fmt, topk=1)
        return np.asarray(answer["logits"], dtype=np.int32)
    return forward


def frame_image(path, spec: str, backend: str, img_size: int, in_chans: int):
    """The model input of a raw frame file, preprocessed by the backend's frame kernel."""
    from ..images import read_raw_frame
    data, width, height, code = read_raw_frame(path, spec)
    if backend == "c":
        from ..cbackend.frame import frame_to_image
    else:
        from ..reference.frame import frame_to_image
    return frame_to_image(data, width, height, code, img_size, in_chans)


def run(args) -> int:
    from ..cli import CommandError
    from ..images import load_image
    from ..reference import passes_golden
    from ..reference import logits_to_float, topk

    ftv, forward = load_runtime(args.model, args.backend, args.port)
    g = ftv.geometry
    if args.selftest:
        if ftv.golden is None:
            raise CommandError(f"{args.model} holds no golden vector")
        same = passes_golden(ftv, forward)
        print(f"golden vector ({args.backend}): {'PASS' if same else 'FAIL'}")
        if not same:
            return 1
        if args.image is None:
            return 0
    if args.image is None:
        raise CommandError("give an IMAGE to classify (or --selftest)")
    if args.topk < 1:
        raise CommandError("--topk must be at least 1")
    if args.frame is not None and args.fit:
        raise CommandError("--fit is for image files; a --frame is always fitted by the "
                           "board's frame arithmetic")
    if args.frame is not None:
        image = frame_image(args.image, args.frame, "c" if args.backend == "c" else "numpy",
                            g.img_size, g.in_chans)
    else:
        image = load_image(args.image, g.img_size, g.in_chans, fit=args.fit)
    start = time.perf_counter()
    logits = forward(image)
    ms = (time.perf_counter() - start) * 1e3
    labels = ftv.labels or [str(i) for i in range(g.num_classes)]
    scores = logits_to_float(logits)
    print(f"{args.image}: {args.backend} backend, {ms:.1f} ms")
    for rank, idx in enumerate(topk(logits, min(args.topk, g.num_classes)), 1):
        print(f"  {rank}. {labels[idx]:<24} logit {scores[idx]:8.3f}  (x12 {int(logits[idx])})")
    return 0
