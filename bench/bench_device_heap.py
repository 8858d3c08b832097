"""Least `micropython -X heapsize=...` that loads the shipped model and classifies a
frame, on the unix port with the x64 native module, beside its model file + scratch
(issue target: peak heap <= file + scratch + 16 KB).  The heap size given to -X
includes MicroPython's own allocation table (about 1/33 of it), so this figure is
an upper bound of the package's peak use.  Bisected to 256 bytes.

    PYTHONPATH=host .venv/bin/python bench/bench_device_heap.py
"""
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from device_mp import DEVICE, MODEL, run_micropython  # noqa: E402
from ftervit.micropython.build import build_natmod  # noqa: E402

SCRIPT = """
import sys, ftervit
m = ftervit.load(sys.argv[1])
m.classify(bytes(28 * 28), 28, 28, "GRAYSCALE")   # a 784-byte frame: the heap is the model's
print("OK", m.memory["file"], m.memory["scratch"])
"""


def fits(script, natmod, heap):
    out = run_micropython([script, MODEL], (DEVICE, natmod), heapsize=heap).stdout
    return out.split()[1:3] if out.startswith("OK") else None


def main():
    work = Path(tempfile.mkdtemp(prefix="ftv_heap_"))
    build_natmod("x64", work)
    script = work / "heap.py"
    script.write_text(SCRIPT)
    file_bytes, scratch = (int(v) for v in fits(script, work, 16 << 20))
    lo, hi = file_bytes, 16 << 20          # lo fails, hi fits
    while hi - lo > 256:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(script, work, mid) else (mid, hi)
    over = hi - file_bytes - scratch
    print("%-28s %10s %10s %12s %12s" % ("model", "file", "scratch", "least heap", "over f+s"))
    print("%-28s %10d %10d %12d %+11.1f KB" % (MODEL.name, file_bytes, scratch, hi, over / 1024))


if __name__ == "__main__":
    main()
