# Two commands on a fresh machine with python3 and make: `make demo` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kinterp-installed
OUT ?= kinterp-reports/demo

.PHONY: demo demo-quick test lint bench bench-all bench-readme models clean

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

# Each benchmark writes benchmarks/results/NAME.json (figures, settings, machine, load average,
# versions, date, commit); bench-readme renders README's Performance blocks from those files.
# BENCH_NOTE is recorded with the results, e.g. make bench-all BENCH_NOTE="quiet machine".
BENCH_NOTE ?=
BENCH := $(BIN)/python benchmarks

bench: $(STAMP)
	$(BENCH)/bench_happymap.py --note "$(BENCH_NOTE)"
	$(BENCH)/render_readme.py

bench-all: $(STAMP)
	$(BENCH)/bench_happymap.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_featurevis.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_fooling.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_robustness.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_sweep.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_serve.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_report.py --note "$(BENCH_NOTE)"
	$(BENCH)/bench_bigmodel.py --note "$(BENCH_NOTE)"
	$(BENCH)/render_readme.py

bench-readme: $(STAMP)
	$(BENCH)/render_readme.py

models: $(STAMP)
	$(BIN)/python -m kinterp_zoo.train all

clean:
	rm -rf build dist *.egg-info kinterp-reports .pytest_cache .ruff_cache
