"""The C backend's op, binding, model and camera-frame tests, run again against an extension
built with -fsanitize=address,undefined -fno-sanitize-recover: every op on
random and extreme inputs, every error path and whole models, with no report.

The sanitizer runtimes are preloaded into a child Python (the interpreter itself
is not instrumented); -fno-wrapv keeps signed overflow visible to UBSan."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SAN_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"


def _runtime(name: str) -> str:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else ""


def test_c_tests_are_clean_under_asan_and_ubsan():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this machine")
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    if not asan or not ubsan:
        pytest.skip("gcc has no ASan/UBSan runtime here")
    env = dict(os.environ, LD_PRELOAD=f"{asan} {ubsan}",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
               FTERVIT_CFLAGS=SAN_FLAGS, FTERVIT_LDFLAGS="-fsanitize=address,undefined")
    files = [str(TESTS / f) for f in ("test_c_ops.py", "test_c_binding.py", "test_c_model.py",
                                      "test_frame.py::test_c_equals_reference_on_random_frames",
                                      "test_frame.py::test_bad_arguments_get_their_code_in_order")]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          *files], env=env, capture_output=True, text=True, timeout=600,
                         cwd=TESTS.parent)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    for marker in ("runtime error:", "AddressSanitizer", "UndefinedBehaviorSanitizer"):
        assert marker not in out, out[-6000:]
    assert " passed" in out and "skipped" not in out.splitlines()[-1], out[-2000:]
