# The two quickstart commands are `make demo` and `make test`; both create the venv themselves.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
DEMO   := $(VENV)/.installed-demo
BENCH  := $(VENV)/.installed-bench

.PHONY: demo test test-iac test-pythons python3.14 lint bench layer native arm64-root clean venv report-screenshot

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The version lives in sandbox/__init__.py: a change there reinstalls (new metadata).
$(STAMP): $(PY) pyproject.toml setup.py sandbox/runtime/_core.c sandbox/__init__.py
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP) $(DEMO)

# The demo needs only the `demo` extra (a dev install has it too).
$(DEMO): $(PY) pyproject.toml setup.py sandbox/runtime/_core.c sandbox/__init__.py
	$(PY) -m pip install -q -e '.[demo]'
	@touch $(DEMO)

$(BENCH): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $(BENCH)

venv: $(STAMP)

demo: $(DEMO)
	$(PY) examples/demo.py

# The suite, then the benchmark's gross-regression check (ratios against a baseline measured
# in the same run, generous limits: it fails only when the hook's cost jumps, not on noise).
test: $(STAMP)
	@$(MAKE) --no-print-directory arm64-root || echo "no arm64 root: the aarch64 core's cases are skipped"
	$(PY) -m pytest -q
	$(PY) -m bench --check

# The infrastructure-as-code tests with the `cdk` extra (aws-cdk-lib, which runs on Node.js):
# installing it takes about a minute, so `make test` leaves it out (its CDK tests skip there).
test-iac: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,cdk]'
	SANDBOX_REQUIRE_CDK=1 $(PY) -m pytest -q tests/unit/test_iac_*.py

# The runtime supports Lambda's Python 3.10-3.14: run the suite on each interpreter found.
# python3.X is taken from PATH when it runs (a pyenv shim of a version that is not selected
# does not), else from pyenv's newest 3.X build. CPython 3.14 comes from `make python3.14`
# (a private prefix, see scripts/get-python3.14.sh); it is tested last, when present.
# `make test-pythons PY314=` leaves it out. Every interpreter runs; the target fails at the
# end if any suite failed.
PYTHONS ?= python3.10 python3.12 python3.13
PY314   ?= $(HOME)/.cache/lambda-sandbox/python3.14/bin/python3.14
test-pythons:
	@failed=""; for py in $(PYTHONS) $(PY314); do \
	  exe=$$py; \
	  if ! $$exe -c '' >/dev/null 2>&1; then \
	    exe=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$${py#python}.*/bin/$$py 2>/dev/null | sort -V | tail -1); \
	  fi; \
	  if [ -z "$$exe" ] || ! $$exe -c '' >/dev/null 2>&1; then echo "skip $$py (not installed)"; continue; fi; \
	  venv=.venv-$$(basename $$py); echo "== $$py: $$exe -> $$venv"; \
	  { $$exe -m venv $$venv && $$venv/bin/pip install -q -e '.[dev]' && \
	    $$venv/bin/python -m pytest -q tests/unit tests/functional tests/e2e; } || failed="$$failed $$py"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-pythons failed on:$$failed"; exit 1; fi

# Provide CPython 3.14 at $(PY314) (default prefix ~/.cache/lambda-sandbox/python3.14);
# a no-op when it is already there and works.
python3.14:
	PY314_PREFIX=$(PY314:/bin/python3.14=) bash scripts/get-python3.14.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox tests bench examples
	$(VENV)/bin/ruff format --check sandbox tests bench examples
	$(VENV)/bin/mypy

bench: $(BENCH)
	$(PY) -m bench

# Each layer ships the runtime's bytecode compiled by every Lambda Python: python3.10-3.13 must
# be on PATH or under pyenv's root (the build fails naming a missing one); 3.14 (make python3.14)
# is left out with a warning when absent (sandbox/layer/bytecode.py).
layer: $(STAMP)
	$(PY) -m sandbox.cli layer build --arch x86_64
	$(PY) -m sandbox.cli layer build --arch arm64

# The native core for every Lambda Python (3.10-3.14) and both architectures, with Zig, into
# build/native/<arch>/ (the layer build does this itself; this target just shows the objects).
# 3.14's headers come from $(PY314)'s prefix (make python3.14); without them 3.14 is left out
# with a warning naming it (that runtime then runs the Python core).
native: $(STAMP)
	$(PY) -m sandbox.layer.native

# Optional: Debian's arm64 Python under qemu-user, so the suite also runs the aarch64 core
# (tests/functional/test_core_api.py, kind native-arm64). Debian/Ubuntu hosts, as root.
ARM64_ROOT ?= build/arm64-root
arm64-root:
	command -v qemu-aarch64 >/dev/null && command -v mmdebstrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user mmdebstrap; }
	mkdir -p $(dir $(ARM64_ROOT))
	test -x $(ARM64_ROOT)/usr/bin/python3.11 || mmdebstrap --arch=arm64 --variant=extract \
	  --include=python3.11-minimal,libpython3.11-stdlib,libpython3.11-dev bookworm $(ARM64_ROOT)
# docs/img/report.png: `sandbox report` on sample log lines, shot by headless Chromium
# (Debian's chromium package; generated, not committed).
CHROMIUM ?= chromium
report-screenshot: $(STAMP)
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { echo "error: $(CHROMIUM) not found (apt-get install chromium)"; exit 1; }
	mkdir -p build/report docs/img
	$(PY) examples/report_sample.py build/report/orders.jsonl
	$(PY) -m sandbox.cli report orders --logs build/report/orders.jsonl \
	  --profile profiles/orders.json --html build/report/report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-background-networking \
	  --disable-component-update --disable-sync --no-first-run \
	  --user-data-dir=build/report/chromium --hide-scrollbars --window-size=1280,1900 \
	  --screenshot=docs/img/report.png file://$(CURDIR)/build/report/report.html
	@echo "wrote docs/img/report.png"

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
