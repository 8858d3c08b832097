"""`ftervit eval`: top-1 / top-5 of any checkpoint (float or ternary) on a dataset's test split."""
import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="top-1 / top-5 accuracy of a checkpoint",
        description="Evaluate a float or ternary ftervit checkpoint on the validation / test "
                    "split of --data (idx test files, or the val/ folder of an ImageFolder root).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="ftervit checkpoint (.pt)")
    p.add_argument("--data", required=True,
                   help="'fashion-mnist', a folder of idx files, or an ImageFolder root")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--val-subset", type=int, default=0, help="first N test images only")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=False,
                   help="bf16 autocast (default off: exact float evaluation)")
    p.add_argument("--exact", action=argparse.BooleanOptionalAction, default=None,
                   help="force the exact (integer-runtime) attention on or off; default: as saved")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="also write the result (with deployed bytes) as JSON")
    p.set_defaults(func=run)


def deployed_bytes(model, meta) -> dict:
    """Bytes of the deployed model: the .ftv plan for ternary models (2-bit and 1.6-bit
    layouts), 4 bytes a parameter for float ones."""
    if meta["mode"] == "float":
        n = sum(p.numel() for p in model.parameters())
        return {"float32": 4 * n}
    from ..size_report import size_table
    table = size_table(model)
    return {layout: groups["total"] for layout, groups in table.items()}


def run(args) -> int:
    from ..files import check_output_path, expect_checkpoint
    expect_checkpoint(args.checkpoint)  # wrong paths fail before torch is imported
    if args.json:
        check_output_path(args.json)
    import torch

    from ..checkpoint import load_model
    from ..files import write_text_atomic
    from ..layers import set_quantizers
    from ..train.data import DataOptions, open_data
    from ..train.distributed import Dist
    from ..train.engine import evaluate
    from ..train.setup import check_data_fits

    dist = Dist(device=torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                                    else ("cpu" if args.device == "auto" else args.device)))
    model, meta = load_model(args.checkpoint, map_location="cpu")
    if args.exact is not None and meta["mode"] != "float":
        set_quantizers(model, exact=args.exact)
        meta = dict(meta, exact=args.exact)
    model = model.to(dist.device)
    opts = DataOptions(workers=args.workers, val_subset=args.val_subset, train_subset=1)
    data = open_data(args.data, meta["mean"], meta["std"], dist.device, img_size=meta["img_size"],
                     in_chans=meta["in_chans"], options=opts)
    shape = data.image_shape if data.kind == "idx" else None
    check_data_fits(meta, data.labels, shape, str(args.data))
    top1, top5, n = evaluate(model, data.val, args.batch_size, dist, amp=args.amp)
    result = {"checkpoint": str(args.checkpoint), "model_name": meta["model_name"],
              "mode": meta["mode"], "exact": meta["exact"], "top1": top1, "top5": top5,
              "images": n, "params": sum(p.numel() for p in model.parameters()),
              "deployed_bytes": deployed_bytes(model, meta)}
    print(f"{args.checkpoint}: {meta['model_name']} ({meta['mode']}{', exact' if meta['exact'] else ''}) "
          f"top-1 {top1:.2f} %  top-5 {top5:.2f} %  on {n} images")
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2))
    sys.stdout.flush()
    return 0
