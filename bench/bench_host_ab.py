#!/usr/bin/env python3
"""Host C runtime latency of two source trees, alternated (A/B), same models.

    python bench/bench_host_ab.py --a /path/to/other/checkout [--rounds 6] MODEL.ftv ...

Each round runs, for each tree in turn, one fresh process per model that
builds (or reuses) that tree's cffi extension (its own FTERVIT_CACHE),
loads the model with ftervit.cbackend and times `forward` on the model's
golden input (median of --calls); the table gives each tree's median over
the rounds.  Alternating shares the machine's noise between the trees.
This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r"""
import statistics, sys, time
from ftervit import cbackend
from ftervit.ftv import read_ftv
path, calls = sys.argv[1], int(sys.argv[2])
img = read_ftv(path).golden_input()
model = cbackend.load(path)
model.forward(img)
times = []
for _ in range(calls):
    t = time.perf_counter()
    model.forward(img)
    times.append(time.perf_counter() - t)
print(statistics.median(times) * 1e3)
"""


def one(tree: Path, cache: Path, model: Path, calls: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree / "host"), FTERVIT_CACHE=str(cache))
    res = subprocess.run([sys.executable, "-c", CHILD, str(model), str(calls)], env=env,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise SystemExit(f"{tree}: {model.name} failed\n{res.stderr[-2000:]}")
    return float(res.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help=".ftv files (with a golden vector)")
    ap.add_argument("--a", type=Path, required=True, help="the other checkout (e.g. main's)")
    ap.add_argument("--b", type=Path, default=HERE.parent, help="default: this checkout")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=7)
    args = ap.parse_args()
    for tree in (args.a, args.b):
        if not (tree / "host" / "ftervit").is_dir() or not (tree / "native_module").is_dir():
            raise SystemExit(f"{tree}: not a checkout of this project (no host/ftervit, "
                             f"native_module)")
    for m in args.models:
        if not m.is_file():
            raise SystemExit(f"{m}: no such model file")
    times: dict = {(t, m): [] for t in "ab" for m in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {t: Path(tmp) / t for t in "ab"}
        for _ in range(args.rounds):
            for t, tree in (("a", args.a), ("b", args.b)):
                for m in args.models:
                    times[(t, m)].append(one(tree, caches[t], m, args.calls))
    print(f"median ms of forward ({args.calls} calls a process, {args.rounds} rounds)")
    print(f"{'model':36} {'a: ' + args.a.name:>14} {'b: ' + args.b.name:>14} {'b / a':>7}")
    for m in args.models:
        a, b = (statistics.median(times[(t, m)]) for t in "ab")
        print(f"{m.name:36} {a:14.2f} {b:14.2f} {b / a:7.3f}")


if __name__ == "__main__":
    main()
