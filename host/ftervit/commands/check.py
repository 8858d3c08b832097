"""`ftervit check CKPT model.ftv --data ...`: PyTorch model vs integer runtime on a dataset."""
import json


def register(sub):
    p = sub.add_parser("check", help="compare a checkpoint with its .ftv integer model on data",
                       description="Top-1 of the PyTorch model and of the integer runtime on the "
                                   "same uint8 images, and their top-1 agreement.")
    p.add_argument("checkpoint", help="the checkpoint the model file was packed from")
    p.add_argument("model", help=".ftv model file")
    p.add_argument("--data", default="fashion-mnist",
                   help="idx folder, ImageFolder root, or 'fashion-mnist' (default)")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    p.add_argument("--backend", choices=("auto", "c", "numpy", "board"), default="auto",
                   help="integer runtime: C kernels if they build (auto), numpy, or the board "
                        "(device/serve.py on --port)")
    p.add_argument("--port", help="the board's serial port, for --backend board")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..files import check_output_path, expect_checkpoint, write_text_atomic
    from ..ftv import read_ftv
    from ..cli import CommandError
    expect_checkpoint(args.checkpoint)  # wrong paths fail before torch is imported
    read_ftv(args.model)
    if (args.backend == "board") != bool(args.port):
        raise CommandError("--backend board needs --port PORT, and --port only goes with it")
    if args.json:
        check_output_path(args.json)

    from tqdm import tqdm

    from .. import faithfulness
    from ..checkpoint import load_model
    from ..reference import passes_golden
    from .run import load_runtime

    model, meta = load_model(args.checkpoint)
    backend = args.backend
    if backend == "auto":
        from .. import cbackend
        backend = "c" if cbackend.available() else "numpy"
    ftv, forward = load_runtime(args.model, backend, args.port)
    g = ftv.geometry
    if (meta["img_size"], meta["in_chans"], meta["num_classes"]) != \
            (g.img_size, g.in_chans, g.num_classes):
        raise CommandError(f"{args.model} ({g.img_size}px, {g.in_chans} ch, {g.num_classes} "
                           f"classes) was not packed from {args.checkpoint} "
                           f"({meta['img_size']}px, {meta['in_chans']} ch, "
                           f"{meta['num_classes']} classes)")
    if ftv.golden is not None and not passes_golden(ftv, forward):
        raise CommandError(f"{args.model}: the {backend} runtime fails the golden vector")
    samples = faithfulness.uint8_samples(args.data, args.split, g.img_size, g.in_chans,
                                         args.limit)
    with tqdm(desc=f"check ({backend})", unit="img", leave=False) as bar:
        result = faithfulness.measure(model, meta, forward, samples, progress=bar)
    print(f"{args.checkpoint} vs {args.model} on {args.data} ({args.split}, {backend} backend)")
    print(result.table())
    if args.json:
        write_text_atomic(args.json, json.dumps(
            dict(result.__dict__, delta_pp=result.delta_pp, backend=backend), indent=2))
    return 0
