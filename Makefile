# Two entry points for a fresh machine (Python 3.11+ and make): `make run` and `make test`.
# Each creates the virtual environment itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,peers,spark]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/xsell run

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_act.py
	$(BIN)/python benchmarks/bench_update.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
