"""`ftervit remote classify|eval|bench --port PORT ...`: run the model on the board.

Each image is turned into the frame the board's camera would deliver (centre-cropped and
resized to WxH, then GRAYSCALE, RGB565 big-endian or RGB888 as B, G, R), sent to
device/serve.py, and preprocessed and classified there.  No torch.

* classify: images files, the top-k of each;
* eval: a labelled idx dataset (Fashion-MNIST's test split by default), its top-1 and
  top-5 accuracy and latency on the board, every logit checked against the host
  reference run on the same frame (exit status 1 if one differs);
* bench: one frame, the board's time in each stage of the model."""
import json
import sys
import time


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

    e = rsub.add_parser("eval", help="accuracy and latency on the board over a labelled "
                                     "dataset, every logit checked against the host",
                        description="Stream a labelled idx dataset to the board as camera "
                                    "frames; report top-1/top-5 accuracy, the board's "
                                    "median and p95 time per image and the images/s the "
                                    "host sees, and check each frame's logits against the "
                                    "host reference on the same frame (exit 1 if any "
                                    "differ).")
    e.add_argument("--port", required=True, help="the board's serial port")
    e.add_argument("--data", default="fashion-mnist",
                   help="'fashion-mnist' (default: the Debian package's files) or a folder "
                        "of idx files")
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--limit", type=int, default=None, help="first N images only (default: all)")
    e.add_argument("--frame", default="240x240:RGB565", metavar="WxH:FORMAT",
                   help="camera frame size and format (default 240x240:RGB565)")
    e.add_argument("--model", default="model.ftv", help="model path on the board")
    e.add_argument("--reference", metavar="FILE",
                   help="the same .ftv on the host, for the reference logits (default: the "
                        "shipped models/fmnist_ftervit_micro.ftv); its SHA-256 must match "
                        "the board's file")
    e.add_argument("--backend", choices=("auto", "c", "numpy"), default="auto",
                   help="host reference: the C kernels if they build (auto), or numpy")
    e.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    e.add_argument("--json-out", metavar="FILE",
                   help="write every image's label, top-5 and logits and the summary as JSON")
    e.set_defaults(func=run_eval)

    b = rsub.add_parser("bench", help="the board's time per model stage for one frame",
                        description="Classify one camera frame on the board with each stage "
                                    "timed there (time.ticks_us): preprocess, patch "
                                    "embedding, each block's attention and MLP, head.")
    b.add_argument("--port", required=True, help="the board's serial port")
    b.add_argument("--model", default="model.ftv", help="model path on the board")
    b.add_argument("--frame", default="240x240:RGB565", metavar="WxH:FORMAT",
                   help="camera frame size and format (default 240x240:RGB565)")
    b.add_argument("--image", help="image file to frame (default: a fixed noise frame)")
    b.add_argument("--repeat", type=int, default=5,
                   help="frames to time; each stage's median is shown (default 5)")
    b.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    b.add_argument("--json", action="store_true", help="print the stages as JSON")
    b.set_defaults(func=run_bench)


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
    from ..images import open_image, to_8bit
    return image_frame(to_8bit(open_image(path), str(path)), width, height, fmt)


def image_frame(img, width: int, height: int, fmt: str) -> bytes:
    """camera_frame of an 8-bit L or RGB Pillow image."""
    import numpy as np

    from ..images import fit_image
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


def _open_link(port: str, timeout: float):
    from ..board.link import BoardLink, LinkError
    from ..cli import CommandError
    try:
        return BoardLink.open(port, timeout=timeout)
    except LinkError as exc:
        raise CommandError(str(exc)) from None


def progress_bar(total: int, desc: str):
    """tqdm on stderr, drawn only when stderr is a terminal."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", leave=False,
                disable=not sys.stderr.isatty())


# ------------------------------------------------------------------ eval

def eval_data(spec: str, split: str):
    """(uint8 images [N, 1, H, W], labels [N], folder) of an idx dataset (torch-free)."""
    from pathlib import Path

    from ..train import idx_data
    from ..train.idx_data import FASHION_MNIST_DIR
    if spec == "fashion-mnist":
        root = FASHION_MNIST_DIR
        if not root.is_dir():
            raise FileNotFoundError(f"--data fashion-mnist: {root} not found (install the "
                                    "Debian package dataset-fashion-mnist, or pass the folder "
                                    "holding the idx files)")
    else:
        root = Path(spec).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"--data {root}: not found; expected a folder of idx files "
                                    "(t10k-images-idx3-ubyte[.gz], ...)")
        if not root.is_dir():
            raise ValueError(f"--data {root}: is a file; expected a folder of idx files")
    images, labels = idx_data.load_split(root, split)
    return images, labels, root


def _percentile(values, q: float) -> float:
    import numpy as np
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def _file_sha256(path) -> str:
    import hashlib
    from pathlib import Path
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def host_reference(path, backend: str):
    """(FtvModel, backend name, logits(frame, width, height, fmt)): the host's integer
    runtime on the board's preprocessing of the same frame bytes."""
    from ..ftv import read_ftv
    ftv = read_ftv(path)
    g = ftv.geometry
    if backend == "auto":
        from .. import cbackend
        backend = "c" if cbackend.available() else "numpy"
    if backend == "c":
        from .. import cbackend
        from ..cbackend.frame import frame_to_image
        forward = cbackend.load(ftv).forward
    else:
        from ..reference import forward as np_forward, integer_model
        from ..reference.frame import frame_to_image
        imodel = integer_model(ftv)

        def forward(image):
            return np_forward(imodel, image)

    def logits(frame, width, height, fmt):
        image = frame_to_image(frame, width, height, fmt, g.img_size, g.in_chans)
        return [int(v) for v in forward(image)]
    return ftv, backend, logits


def run_eval(args) -> int:
    import numpy as np
    from PIL import Image

    from ..board.link import BoardError, LinkError
    from ..cli import CommandError
    from ..files import check_output_path, write_text_atomic
    from ..reference import topk
    from ..resources import resource_dir
    width, height, fmt = parse_frame(args.frame)
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit {args.limit}: expected at least 1 image (leave it out "
                           "for the whole split)")
    if args.json_out:
        check_output_path(args.json_out)
    images, labels, root = eval_data(args.data, args.split)
    reference = args.reference or resource_dir("models") / "fmnist_ftervit_micro.ftv"
    ftv, backend, host_logits = host_reference(reference, args.backend)
    g = ftv.geometry   # any image size: framing fits it to the frame, the board to the model
    count = len(images) if args.limit is None else min(args.limit, len(images))
    names = ftv.labels or [str(i) for i in range(g.num_classes)]

    link = _open_link(args.port, args.timeout)
    rows, board_ms, wire_s = [], [], 0.0
    try:
        on_board = link.request("hash", path=args.model)
        if not on_board.get("exists"):
            raise CommandError(f"the board has no {args.model}: `ftervit deploy --port "
                               f"{args.port} {reference}` first")
        if on_board["sha256"] != _file_sha256(reference):
            raise CommandError(f"the board's {args.model} is not {reference} (SHA-256 "
                               f"differs): deploy it, or pass --reference the file that is "
                               "there")
        with progress_bar(count, "remote eval") as bar:
            for i in range(count):
                frame = image_frame(Image.fromarray(images[i, 0], "L"), width, height, fmt)
                start = time.perf_counter()
                answer = link.request("classify", data=frame, path=args.model, width=width,
                                      height=height, fmt=fmt, topk=5)
                wire_s += time.perf_counter() - start
                want = host_logits(frame, width, height, fmt)
                got = [int(v) for v in answer["logits"]]
                top5 = topk(np.asarray(got), min(5, g.num_classes))
                label = int(labels[i])
                rows.append({"index": i, "label": label, "label_name": names[label],
                             "top5": top5, "top5_names": [names[k] for k in top5],
                             "logits": got, "host_logits": want, "agree": got == want,
                             "classify_ms": answer["classify_ms"]})
                board_ms.append(float(answer["classify_ms"]))
                bar.update(1)
    except (LinkError, BoardError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        link.close()

    disagree = [r["index"] for r in rows if not r["agree"]]
    summary = {
        "images": count, "data": str(root), "split": args.split,
        "frame": f"{width}x{height}:{fmt}", "board_model": args.model,
        "reference": str(reference), "host_backend": backend,
        "top1": 100.0 * sum(r["top5"][0] == r["label"] for r in rows) / count,
        "top5": 100.0 * sum(r["label"] in r["top5"] for r in rows) / count,
        "board_ms_median": _percentile(board_ms, 50), "board_ms_p95": _percentile(board_ms, 95),
        "images_per_s": count / wire_s if wire_s > 0 else 0.0,
        "logits_agree": not disagree, "disagreeing_images": disagree,
    }
    print(f"remote eval: {count} {args.split} images of {root} as {width}x{height} {fmt} "
          f"frames, board model {args.model}")
    print(f"  top-1 accuracy      {summary['top1']:8.2f} %")
    print(f"  top-5 accuracy      {summary['top5']:8.2f} %")
    print(f"  board ms per image  {summary['board_ms_median']:8.2f} median, "
          f"{summary['board_ms_p95']:.2f} p95 (classify_ms: frame kernel + forward + top-k)")
    print(f"  host-observed       {summary['images_per_s']:8.2f} images/s (request to answer, "
          "frame transfer included)")
    if disagree:
        print(f"  host reference ({backend}): logits DIFFER on {len(disagree)} of {count} "
              f"images, first index {disagree[0]}")
    else:
        print(f"  host reference ({backend}): every logit agrees on all {count} images")
    if args.json_out:
        write_text_atomic(args.json_out, json.dumps({"summary": summary, "images": rows},
                                                    indent=1))
    return 1 if disagree else 0


# ------------------------------------------------------------------ bench

def bench_frame(image, width: int, height: int, fmt: str) -> bytes:
    """The frame bench times: an image file's camera frame, else fixed noise."""
    import numpy as np
    if image:
        return camera_frame(image, width, height, fmt)
    per_pixel = {"GRAYSCALE": 1, "RGB565": 2, "RGB888": 3}[fmt]
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, width * height * per_pixel, dtype=np.uint8).tobytes()


def run_bench(args) -> int:
    import statistics

    from ..board.link import BoardError, LinkError
    from ..cli import CommandError
    width, height, fmt = parse_frame(args.frame)
    if args.repeat < 1:
        raise CommandError(f"--repeat {args.repeat}: expected at least 1 frame")
    frame = bench_frame(args.image, width, height, fmt)
    link = _open_link(args.port, args.timeout)
    runs = []
    try:
        for _ in range(args.repeat):
            runs.append(link.request("bench", data=frame, path=args.model, width=width,
                                     height=height, fmt=fmt))
    except (LinkError, BoardError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        link.close()
    names = [name for name, _ in runs[0]["stages"]]
    stages = [(name, statistics.median(run["stages"][i][1] for run in runs))
              for i, name in enumerate(names)]
    total = sum(us for _, us in stages)
    if args.json:
        print(json.dumps({"frame": f"{width}x{height}:{fmt}", "model": args.model,
                          "repeat": args.repeat, "stages": stages, "total_us": total,
                          "logits": runs[-1]["logits"]}))
        return 0
    print(f"remote bench: {args.model}, one {width}x{height} {fmt} frame, median of "
          f"{args.repeat} (time.ticks_us on the board)")
    print(f"  {'stage':<22} {'us':>10} {'%':>7}")
    for name, us in stages:
        print(f"  {name:<22} {us:>10.0f} {100.0 * us / total if total else 0.0:>6.1f}%")
    print(f"  {'total':<22} {total:>10.0f} {100.0:>6.1f}%")
    return 0
