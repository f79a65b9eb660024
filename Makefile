# Two set-up commands (README): `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is installed first, so the package's open torch>=2.4 range
# is already satisfied and pip does not fetch a multi-GB CUDA build. The other dependencies are
# installed at the versions tested, pinned in constraints.txt.
TORCH ?= torch==2.13.0

.PHONY: demo test test-fast check install clean bench docs

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/xmodal demo --out xmodal-demo

# The tests, after the checks of the house: layering contracts (import-linter), lint and format
# (ruff) and the documentation site built with warnings as errors. That every published table
# equals what its renderer makes of the committed results (no training) is a test
# (tests/test_reproduce.py), so it runs once, beside the others.
test: check
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

# The same without the tests marked slow (training in other processes: Ray, signals, a full
# disk; training on the real recordings; the performance benchmark): for local iteration.
# `make test` runs everything. PYTEST_ARGS adds options, e.g. PYTEST_ARGS=--durations=20.
test-fast: check
	$(BIN)/python -m pytest -q -n auto -m "not slow" $(PYTEST_ARGS)

check: $(VENV)/.dev-installed
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d site

# Performance benchmark: bench.json + bench.md; `make bench BENCH_ARGS=--quick` to smoke-test.
bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS) --out bench.json

# Development tools: the documentation site (mkdocs-material), ruff and import-linter.
$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[docs,lint]"
	touch $@

# Documentation site: site/; warnings are errors.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) xmodal-demo .pytest_cache site
