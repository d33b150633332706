# The two quickstart commands are `make demo` and `make test`; both create the venv themselves.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-pythons lint bench layer native arm64-root clean venv

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml setup.py sandbox/runtime/_core.c
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# The suite, then the benchmark's gross-regression check (ratios against a baseline measured
# in the same run, generous limits: it fails only when the hook's cost jumps, not on noise).
test: $(STAMP)
	@$(MAKE) --no-print-directory arm64-root || echo "no arm64 root: the aarch64 core's cases are skipped"
	$(PY) -m pytest -q
	$(PY) -m bench --check

# The runtime supports Lambda's Python 3.10-3.13: run the suite on each interpreter found.
PYTHONS ?= python3.10 python3.12 python3.13
test-pythons:
	@for py in $(PYTHONS); do \
	  if ! command -v $$py >/dev/null 2>&1; then echo "skip $$py (not installed)"; continue; fi; \
	  $$py -m venv .venv-$$py && .venv-$$py/bin/pip install -q -e '.[dev]' && \
	  .venv-$$py/bin/python -m pytest -q tests/unit tests/functional tests/e2e || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox tests bench examples
	$(VENV)/bin/ruff format --check sandbox tests bench examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

layer: $(STAMP)
	$(PY) -m sandbox.cli layer build --arch x86_64
	$(PY) -m sandbox.cli layer build --arch arm64

# The native core for every Lambda Python (3.10-3.13) and both architectures, with Zig, into
# build/native/<arch>/ (the layer build does this itself; this target just shows the objects).
native: $(STAMP)
	$(PY) -m sandbox.layer.native

# Optional: Debian's arm64 Python under qemu-user, so the suite also runs the aarch64 core
# (tests/functional/test_core_api.py, kind native-arm64). Debian/Ubuntu hosts, as root.
ARM64_ROOT ?= build/arm64-root
arm64-root:
	command -v qemu-aarch64 >/dev/null && command -v mmdebstrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user mmdebstrap; }
	test -x $(ARM64_ROOT)/usr/bin/python3.11 || mmdebstrap --arch=arm64 --variant=extract \
	  --include=python3.11-minimal,libpython3.11-stdlib,libpython3.11-dev bookworm $(ARM64_ROOT)

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
