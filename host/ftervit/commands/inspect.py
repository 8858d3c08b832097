"""`ftervit inspect MODEL.ftv`: check a model file and print what it holds."""
from ..ftv.spec import ALIGN, mult_to_float, padded


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect", help="check a .ftv model file and print its config and tensors",
        description="Read a .ftv model file, run every check of docs/format.md and print "
                    "its config, tensor table, bytes per group, labels and golden vector.")
    p.add_argument("model", help="path of the .ftv file")
    p.add_argument("--tensors", action="store_true",
                   help="list every tensor (default: the first and last few)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..ftv import read_ftv
    model = read_ftv(args.model)  # a missing file, a folder, ...: read_ftv names it
    print(format_model(model, args.model, all_tensors=args.tensors))
    return 0


def format_model(model, path: str = "model", all_tensors: bool = False, head: int = 6) -> str:
    c = model.config
    lines = [f"{path}: .ftv format version {model.format_version}, {model.file_size:,} bytes, "
             f"layout {model.layout}, checksums OK", "config:"]
    for key, value in c.items():
        note = f"  (= {mult_to_float(value):.6g})" if key == "attn_logit_mult" else ""
        lines.append(f"  {key:<20} {value}{note}")

    records = list(model.tensors.values())
    lines.append(f"tensors: {len(records)}")
    lines.append(f"  {'#':>4} {'name':<34} {'dtype':<6} {'shape':<14} {'frac':>5} "
                 f"{'offset':>10} {'bytes':>10}")
    shown = range(len(records))
    if not all_tensors and len(records) > 2 * head:
        shown = list(range(head)) + [None] + list(range(len(records) - head, len(records)))
    for i in shown:
        if i is None:
            lines.append(f"  {'...':>4} ({len(records) - 2 * head} more; --tensors lists all)")
            continue
        r = records[i]
        frac = str(r.frac_bits) if r.dtype_name == "i16" else ""
        shape = "x".join(map(str, r.shape))
        lines.append(f"  {i:>4} {r.name:<34} {r.dtype_name:<6} {shape:<14} {frac:>5} "
                     f"{r.offset:>10} {r.length:>10}")

    groups = {}
    for r in records:
        g = groups.setdefault(r.group, [0, 0])
        g[0] += 1
        g[1] += padded(r.length)
    lines.append(f"bytes per group (each tensor padded to {ALIGN}):")
    for name, (count, nbytes) in groups.items():
        lines.append(f"  {name:<12} {count:>5} tensors {nbytes:>12,} bytes")
    total = sum(n for _, n in groups.values())
    lines.append(f"  {'total':<12} {len(records):>5} tensors {total:>12,} bytes")
    head = records[0].offset if records else model.file_size
    lines.append(f"  (header, config and tensor table: {head:,} bytes)")

    if model.labels is None:
        lines.append("labels: none")
    else:
        nbytes = sum(len(label.encode("utf-8")) for label in model.labels) + len(model.labels) - 1
        lines.append(f"labels: {len(model.labels)} ({nbytes:,} bytes)")
    gold = model.golden
    if gold is None:
        lines.append("golden: none")
    else:
        src = (f"raw uint8 image {c['img_size']}x{c['img_size']}x{c['in_chans']}"
               if gold.seed is None else f"xorshift32 seed 0x{gold.seed:08x}")
        top = int(gold.logits.argmax())
        label = f" ({model.labels[top]})" if model.labels else ""
        lines.append(f"golden: input {src}; {gold.logits.size} expected logits, "
                     f"top-1 class {top}{label}")
    return "\n".join(lines)
