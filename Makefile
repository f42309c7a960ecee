# pfatlas: the two commands of the README, and a few helpers.
#   make demo   create .venv if missing, install pfatlas, build the synthetic virtual-Muli atlas in out/demo/
#   make test   create/update .venv with the test extras and run the test suite

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= out/demo
SIZE   ?= full
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/pfatlas demo $(DEMO) --size $(SIZE)
	@echo ""
	@echo "The synthetic virtual-Muli atlas is in $(abspath $(DEMO))/ (inputs in $(abspath $(DEMO))/inputs/)"

test: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf out .pytest_cache
