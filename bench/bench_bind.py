"""Binding a model file on the host: the Python reader against the C binder.

    PYTHONPATH=host python bench/bench_bind.py [MODEL.ftv]

Prints the median of 21 runs of: read_ftv (every check, ternary codes decoded),
ftv_bind with every check (CRCs and codes), ftv_bind with neither (the walk
alone), and cbackend.load of the bytes (ftv_bind plus the Python wrapper and
the scratch allocation).
"""
import statistics
import sys
import time
from pathlib import Path

from ftervit.cbackend import load, load_extension
from ftervit.cbackend.bind import aligned_bytes, bind_file
from ftervit.ftv import read_ftv

DEFAULT = Path(__file__).resolve().parents[1] / "models" / "fmnist_ftervit_micro.ftv"


def median_ms(fn, runs: int = 21) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(path: Path) -> None:
    data = path.read_bytes()
    module = load_extension()
    lib, buf = module.lib, aligned_bytes(data)
    rows = [("read_ftv (Python reader)", lambda: read_ftv(data)),
            ("ftv_bind, CRCs + codes", lambda: bind_file(module, buf, lib.FTV_BIND_CHECK_ALL)),
            ("ftv_bind, walk only", lambda: bind_file(module, buf, 0)),
            ("cbackend.load(bytes)", lambda: load(data))]
    results = [(name, median_ms(fn)) for name, fn in rows]
    base = results[0][1]
    print(f"{path.name}: {len(data):,} bytes")
    print(f"{'binding':<28} {'median ms':>10} {'vs reader':>10}")
    for name, ms in results:
        print(f"{name:<28} {ms:>10.3f} {base / ms:>9.1f}x")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
