"""`ftervit demo`: the default job, no arguments and no data needed."""
import time

import numpy as np
import timm
import torch


def register(sub):
    p = sub.add_parser("demo", help="build a small FTerViT, show its structure, size and a "
                                    "forward pass through PyTorch and the integer runtime")
    p.add_argument("--model", default="ftervit_micro_patch4_28",
                   help="registered FTerViT config (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import ftervit.models  # noqa: F401  (registers configs)
    from ftervit.deploy_plan import format_size_table
    from ftervit.integerize import integerize
    from ftervit.reference import forward, logits_to_float

    torch.manual_seed(args.seed)
    model = timm.create_model(args.model).eval()
    print(model)
    print()
    print(format_size_table(model, args.model))
    print()
    g = model.patch_embed
    size, chans = g.img_size[0], g.proj.in_channels
    image = np.random.default_rng(args.seed).integers(0, 256, (size, size, chans), np.uint8)
    x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] / 255.0
    mean = torch.tensor(model.ftervit_norm["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(model.ftervit_norm["std"]).view(1, -1, 1, 1)
    start = time.perf_counter()
    with torch.no_grad():
        torch_logits = model((x - mean) / std)[0].numpy()
    torch_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    int_logits = logits_to_float(forward(integerize(model), image))
    int_ms = (time.perf_counter() - start) * 1e3
    print(f"forward pass on a random {size}x{size}x{chans} image (untrained weights):")
    print(f"  PyTorch fake-quant : {np.array2string(torch_logits, precision=3)}  ({torch_ms:.1f} ms)")
    print(f"  integer reference  : {np.array2string(int_logits, precision=3)}  ({int_ms:.1f} ms)")
    print(f"  max |difference|   : {np.abs(torch_logits - int_logits).max():.4f}")
    return 0
