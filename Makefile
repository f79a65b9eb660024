# Two set-up commands (README): `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is installed first, so the package's open torch>=2.4 range
# is already satisfied and pip does not fetch a multi-GB CUDA build. The other dependencies are
# installed at the versions tested, pinned in constraints.txt.
TORCH ?= torch==2.13.0

.PHONY: demo test install clean bench docs

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/xmodal demo --out xmodal-demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n auto

# Performance benchmark (issue 6): bench.json + bench.md; `make bench BENCH_ARGS=--quick` to smoke-test.
bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS) --out bench.json

# Documentation site (mkdocs-material): site/; warnings are errors.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) xmodal-demo .pytest_cache site
