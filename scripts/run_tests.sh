#!/usr/bin/env bash
# The test suite as a new machine runs it: every cache that the project or its
# dependencies keep between runs (the C extension and MicroPython builds under
# FTERVIT_CACHE, TorchInductor, Triton, torch extensions, anything under
# XDG_CACHE_HOME) points at a fresh empty folder, removed afterwards, so a test that
# passes only on a warm cache fails here as it would in CI.
#   FTERVIT_WARM=1  keep your own caches instead (faster reruns; a pass proves less)
#   extra arguments go to pytest, e.g.  scripts/run_tests.sh -x -k format
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ "${FTERVIT_WARM:-0}" != 1 ]; then
    cold=$(mktemp -d "${TMPDIR:-/tmp}/ftervit-cold.XXXXXX")
    trap 'rm -rf "$cold"' EXIT
    export FTERVIT_CACHE="$cold/ftervit" TORCHINDUCTOR_CACHE_DIR="$cold/inductor" \
           TRITON_CACHE_DIR="$cold/triton" TORCH_EXTENSIONS_DIR="$cold/torch_extensions" \
           XDG_CACHE_HOME="$cold/xdg"
    echo "running the tests with empty caches under $cold"
fi
"$PY" -m pytest -q -p no:cacheprovider "$@" tests
