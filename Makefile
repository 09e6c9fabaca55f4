# Two commands on a fresh machine with python3 and make: `make demo` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kinterp-installed
OUT ?= kinterp-reports/demo

.PHONY: demo demo-quick test lint bench bench-all models clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kinterp demo --out $(OUT)

demo-quick: $(STAMP)
	$(BIN)/kinterp demo --quick --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_happymap.py

bench-all: bench
	$(BIN)/python benchmarks/bench_featurevis.py
	$(BIN)/python benchmarks/bench_fooling.py
	$(BIN)/python benchmarks/bench_robustness.py
	$(BIN)/python benchmarks/bench_sweep.py

models: $(STAMP)
	$(BIN)/python -m kinterp_zoo.train all

clean:
	rm -rf build dist *.egg-info kinterp-reports .pytest_cache .ruff_cache
