"""`ftervit demo`: the default job, no arguments and no data to fetch.

Takes the shipped Fashion-MNIST FTerViT checkpoint, packs it into a `.ftv`
file, self-tests the file's golden vector on the integer runtimes, and
classifies the shipped sample images with PyTorch, the numpy integer
reference and the C kernels side by side.
"""
import time
from pathlib import Path

from ..resources import resource_dir

MODELS = resource_dir("models")
DEFAULT_CHECKPOINT = MODELS / "fmnist_ftervit_micro.pt"
DEFAULT_IMAGES = MODELS / "fmnist_samples"


def register(sub):
    p = sub.add_parser("demo", help="pack the shipped Fashion-MNIST FTerViT and classify the "
                                    "sample images with PyTorch and both integer runtimes")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="full-ternary checkpoint (default: the shipped Fashion-MNIST model)")
    p.add_argument("--images", default=str(DEFAULT_IMAGES),
                   help="folder of images (default: the shipped Fashion-MNIST samples)")
    p.add_argument("--output", default="runs/demo/model.ftv", help="model file to write")
    p.set_defaults(func=run)


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - start) * 1e3


def run(args) -> int:
    from ..cli import CommandError
    from ..files import check_output_path, expect_checkpoint
    expect_checkpoint(args.checkpoint)  # wrong paths fail before torch is imported
    if not Path(args.images).is_dir():
        raise CommandError(f"{args.images}: not a folder, expected a folder of images")
    out = check_output_path(args.output, make_folder=True)

    import numpy as np

    from .. import cbackend
    from ..checkpoint import load_model
    from ..cli import CommandError
    from ..size_report import count_params
    from ..faithfulness import torch_logits
    from ..images import load_image
    from ..pack import integer_model, pack_model, passes_golden
    from ..reference import forward
    model, meta = load_model(args.checkpoint)
    labels = meta["labels"]
    print(f"checkpoint  {args.checkpoint}: {meta['model_name']} ({meta['mode']} ternary), "
          f"{count_params(model):,} parameters, {meta['img_size']}x{meta['img_size']}x"
          f"{meta['in_chans']} input, {meta['num_classes']} classes")
    images = sorted(p for p in Path(args.images).glob("*") if p.suffix.lower() in
                    (".png", ".jpg", ".jpeg", ".bmp", ".pgm"))
    if not images:
        raise CommandError(f"{args.images}: no images")
    first = load_image(images[0], meta["img_size"], meta["in_chans"], fit=True)
    ftv = pack_model(model, out, layout="tern3", labels=labels, golden_image=first)
    print(f"model file  {out}: {ftv.file_size:,} bytes (1.6-bit ternary layout), "
          f"float checkpoint {Path(args.checkpoint).stat().st_size:,} bytes")

    imodel = integer_model(ftv)
    runtimes = {"numpy": lambda im: forward(imodel, im)}
    if cbackend.available():
        cmodel = cbackend.load(ftv)
        runtimes["C"] = cmodel.forward
    else:
        print("C backend   unavailable (no C compiler?): numpy reference only")
    for name, fn in runtimes.items():
        ok = passes_golden(ftv, fn)
        print(f"self-test   golden vector on the {name} runtime: {'PASS' if ok else 'FAIL'}")
        if not ok:
            return 1

    print()
    header = f"{'image':<28} {'PyTorch':<12} " + " ".join(f"{n + ' runtime':<22}"
                                                         for n in runtimes)
    print(header)
    print("-" * len(header))
    agree = True
    for path in images:
        image = load_image(path, meta["img_size"], meta["in_chans"], fit=True)
        pt = int(torch_logits(model, image[None], meta["mean"], meta["std"])[0].argmax())
        cells, results = [], []
        for fn in runtimes.values():
            logits, ms = _timed(fn, image)
            results.append(np.asarray(logits, np.int64))
            top = int(np.argmax(logits))
            cells.append(f"{labels[top]:<12} {ms:6.1f} ms ")
        agree &= all(np.array_equal(results[0], r) for r in results[1:])
        print(f"{path.name:<28} {labels[pt]:<12} " + " ".join(f"{c:<22}" for c in cells))
    print()
    print("integer runtimes bit-identical on every image: " + ("yes" if agree else "NO"))
    print(f"next: ftervit run {out} IMAGE --fit   |   ftervit inspect {out}")
    return 0 if agree else 1
