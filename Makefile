# The two quickstart commands are `make demo` and `make test`; both create the venv themselves.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint bench layer clean venv

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check sandbox tests bench examples
	$(VENV)/bin/ruff format --check sandbox tests bench examples
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

layer: $(STAMP)
	$(PY) -m sandbox.cli layer build --arch x86_64
	$(PY) -m sandbox.cli layer build --arch arm64

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
