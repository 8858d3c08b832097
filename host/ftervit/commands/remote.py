"""`ftervit remote classify --port PORT IMAGE...`: classify images on the board.

Each image is turned into the frame the board's camera would deliver (centre-cropped and
resized to WxH, then GRAYSCALE, RGB565 big-endian or RGB888 as B, G, R), sent to
device/serve.py, and preprocessed and classified there.  No torch."""
import json


def register(sub):
    p = sub.add_parser("remote", help="run the model on the board (device/serve.py)")
    rsub = p.add_subparsers(dest="remote_command", metavar="WHAT", required=True)
    c = rsub.add_parser("classify", help="classify images on the board, as camera frames")
    c.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    c.add_argument("--port", required=True, help="the board's serial port")
    c.add_argument("--frame", default="240x240:RGB565", metavar="WxH:FORMAT",
                   help="camera frame size and format: GRAYSCALE, RGB565, RGB888 "
                        "(default 240x240:RGB565)")
    c.add_argument("--model", default="model.ftv", help="model path on the board")
    c.add_argument("--topk", type=int, default=5)
    c.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    c.add_argument("--json", action="store_true", help="print each board answer as JSON")
    c.set_defaults(func=run_classify)


def parse_frame(spec: str):
    from ..cli import CommandError
    try:
        size, fmt = spec.split(":")
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise CommandError(f"--frame {spec!r}: expected WxH:FORMAT, e.g. 240x240:RGB565") from None
    fmt = fmt.upper()
    if fmt not in ("GRAYSCALE", "RGB565", "RGB888") or width < 1 or height < 1:
        raise CommandError(f"--frame {spec!r}: FORMAT is GRAYSCALE, RGB565 or RGB888")
    return width, height, fmt


def camera_frame(path, width: int, height: int, fmt: str) -> bytes:
    """The raw frame a camera would deliver of this image (square crop, resized)."""
    import numpy as np

    from ..images import fit_image, open_image, to_8bit
    img = to_8bit(open_image(path), str(path))
    chans = 1 if fmt == "GRAYSCALE" else 3
    side = np.asarray(fit_image(img, max(width, height), chans))   # uint8 [S, S(, C)]
    if side.ndim == 2:
        side = side[..., None]
    top, left = (side.shape[0] - height) // 2, (side.shape[1] - width) // 2
    px = side[top:top + height, left:left + width].astype(np.uint16)
    if fmt == "GRAYSCALE":
        return px[..., 0].astype(np.uint8).tobytes()
    if fmt == "RGB888":
        return px[..., ::-1].astype(np.uint8).tobytes()
    v = ((px[..., 0] >> 3) << 11) | ((px[..., 1] >> 2) << 5) | (px[..., 2] >> 3)
    return np.stack([v >> 8, v & 0xFF], -1).astype(np.uint8).tobytes()


def run_classify(args) -> int:
    from ..board.link import BoardError, BoardLink, LinkError
    from ..cli import CommandError
    width, height, fmt = parse_frame(args.frame)
    frames = [(p, camera_frame(p, width, height, fmt)) for p in args.images]
    try:
        link = BoardLink.open(args.port, timeout=args.timeout)
    except LinkError as exc:
        raise CommandError(str(exc)) from None
    try:
        for path, frame in frames:
            answer = link.request("classify", data=frame, path=args.model, width=width,
                                  height=height, fmt=fmt, topk=args.topk)
            if args.json:
                print(json.dumps(dict(answer, image=str(path))))
                continue
            print(f"{path}: board, {answer['classify_ms']:.1f} ms ({width}x{height} {fmt})")
            for rank, (label, logit) in enumerate(answer["top"], 1):
                print(f"  {rank}. {label:<24} logit {logit:8.3f}")
    except (LinkError, BoardError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        link.close()
    return 0
