"""`ftervit pack CKPT -o model.ftv`: checkpoint to model file."""
from pathlib import Path


def register(sub):
    p = sub.add_parser("pack", help="pack a full-ternary checkpoint into a .ftv model file",
                       description="Integerize a trained FTerViT checkpoint (docs/arithmetic.md) "
                                   "and write it as one .ftv file (docs/format.md) with its "
                                   "labels and a golden test vector.")
    p.add_argument("checkpoint", help="checkpoint written by ftervit distill/recover")
    p.add_argument("-o", "--output", help="model file to write (default: CHECKPOINT.ftv)")
    p.add_argument("--layout", choices=("tern3", "tern2"), default="tern3",
                   help="ternary packing: tern3 = 1.6 bits/weight (default), tern2 = 2 bits")
    p.add_argument("--golden-image", metavar="IMAGE",
                   help="image for the embedded golden vector (default: a generated one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..files import check_output_path, expect_checkpoint
    expect_checkpoint(args.checkpoint)  # wrong paths fail before torch is imported
    out = check_output_path(args.output or Path(args.checkpoint).with_suffix(".ftv"))
    from ..images import load_image, read_8bit
    if args.golden_image:
        read_8bit(args.golden_image)  # a bad image is refused before torch is imported

    from ..checkpoint import load_model
    from ..pack import file_size_table, pack_model

    model, meta = load_model(args.checkpoint)
    golden = None
    if args.golden_image:
        golden = load_image(args.golden_image, meta["img_size"], meta["in_chans"], fit=True)
    ftv = pack_model(model, out, layout=args.layout, labels=meta.get("labels"),
                     golden_image=golden)
    print(f"wrote {out} ({ftv.file_size:,} bytes, {args.layout})")
    for group, nbytes in file_size_table(ftv).items():
        print(f"  {group:<34} {nbytes:>12,}")
    print(f"golden vector: top-1 class {int(ftv.golden.logits.argmax())} "
          f"({'image' if ftv.golden.image is not None else 'seed %#x' % ftv.golden.seed})")
    return 0
