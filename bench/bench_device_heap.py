"""Peak heap of the device package on MicroPython's unix port, against model file + scratch.

For each model and each way the package can sit on a board, the least
`micropython -X heapsize=...` that loads the model (checks, self-test) and classifies
a frame, bisected to 256 bytes.  `-X heapsize` includes the GC's own block tables,
so the table also gives the GC pool that heap size yields (gc.mem_free() +
gc.mem_alloc() at start), and the pool beyond file + scratch: everything else the
package needs, fragmentation included.  The frame this script classifies (the
model's own size, at most 147 KB) is the caller's: on a board it is the camera
driver's, outside the heap, so it is not counted.  The issue's target is <= 16 KB
over, for the shipped model.

  firmware, frozen  the unix port with _ftervit compiled in and device/ftervit frozen
                    (device/manifest.py): a board firmware with both built in
  natmod, .mpy      _ftervit.mpy + the package precompiled by mpy-cross
  natmod, .py       _ftervit.mpy + the package as source (compiled on the board)

Models: the shipped Fashion-MNIST model, and ftervit_small_patch16_224 packed with
random weights (needs torch + timm; --no-small skips it).

    PYTHONPATH=host .venv/bin/python bench/bench_device_heap.py
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench" / "xtensa"))     # model_build.make_ftv

from device_mp import DEVICE, MICROPYTHON, MODEL, run_micropython  # noqa: E402
from ftervit.micropython import build as mpbuild  # noqa: E402

STEP = 256
SCRIPT = """
import gc, sys
gc.collect()
pool = gc.mem_free() + gc.mem_alloc()
import ftervit
m = ftervit.load(sys.argv[1])
side, chans = m.img_size, m.in_chans
frame = bytes(side * side * chans)            # a frame of the model's own size
m.classify(frame, side, side, "GRAYSCALE" if chans == 1 else "RGB888")
gc.collect()
print("OK", pool, m.memory["file"], m.memory["scratch"], gc.mem_alloc(), len(frame))
"""


def runtimes(work: Path) -> dict:
    """{name: (micropython executable, MICROPYPATH dirs)} of the three packagings."""
    natmod = mpbuild.cached_natmod("x64").path.parent
    firmware = mpbuild.cached_unix_port().path
    mpy_cross = mpbuild.build_mpy_cross(work / "mpy-cross")
    compiled = work / "compiled"
    (compiled / "ftervit").mkdir(parents=True)
    for src in sorted((DEVICE / "ftervit").glob("*.py")):
        subprocess.run([str(mpy_cross), "-o", str(compiled / "ftervit" / (src.stem + ".mpy")),
                        str(src)], check=True)
    return {"firmware, frozen": (firmware, (".frozen",)),
            "natmod, .mpy": (MICROPYTHON, (compiled, natmod)),
            "natmod, .py": (MICROPYTHON, (DEVICE, natmod))}


def attempt(runtime, script, model, heap):
    """The OK line's numbers at this heap size, or None if it does not fit."""
    executable, path = runtime
    out = run_micropython([script, model], path, heapsize=heap, executable=executable,
                          timeout=600).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("OK ")), None)
    return [int(v) for v in line.split()[1:]] if line else None


def least_heap(runtime, script, model):
    """(least heap size, its OK numbers): bisected between file + scratch and a fit."""
    big = attempt(runtime, script, model, 256 << 20)
    if big is None:
        raise SystemExit(f"{model}: does not load even in a 256 MB heap")
    _, file_bytes, scratch, _, _ = big
    lo, hi, best = file_bytes + scratch, 2 * (file_bytes + scratch) + (1 << 20), None
    while hi - lo > STEP:
        mid = (lo + hi) // 2
        got = attempt(runtime, script, model, mid)
        lo, hi, best = (lo, mid, got) if got else (mid, hi, best)
    return hi, best or attempt(runtime, script, model, hi)


def small_model(work: Path) -> Path:
    from model_build import make_ftv
    path = work / "ftervit_small_patch16_224.ftv"
    make_ftv("ftervit_small_patch16_224", "tern2", path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-small", action="store_true", help="skip ftervit_small_patch16_224")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ftv_heap_"))
    try:
        script = work / "heap.py"
        script.write_text(SCRIPT)
        found = runtimes(work)
        models = [(MODEL.stem, MODEL, list(found))]
        if not args.no_small:
            models.append(("ftervit_small_patch16_224", small_model(work), ["firmware, frozen"]))
        print(f"{'model':<26} {'packaging':<17} {'file':>10} {'scratch':>10} {'least -X':>10} "
              f"{'GC pool':>10} {'pool-f-s':>9} {'live-f-s':>9}")
        for name, path, which in models:
            for packaging in which:
                heap, (pool, file_bytes, scratch, live, frame) = least_heap(
                    found[packaging], script, path)
                base = file_bytes + scratch + frame
                print(f"{name:<26} {packaging:<17} {file_bytes:>10,} {scratch:>10,} "
                      f"{heap:>10,} {pool:>10,} {(pool - base) / 1024:>6.1f} KB"
                      f" {(live - base) / 1024:>6.1f} KB", flush=True)
        print("pool-f-s: the least GC pool beyond file + scratch (target <= 16 KB); "
              "live-f-s: heap in use after classify, beyond file + scratch; "
              "both without the caller's frame")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
