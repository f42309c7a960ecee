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

# the viewer's map library (Leaflet) is not in the repo: fetched from npm, checked against its
# published sha512 integrity, into src/pfatlas/atlas/_vendor/ (a no-op when already there)
$(VENV)/.runtime: pyproject.toml src/pfatlas/atlas/vendor.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pfatlas.atlas.vendor
	@touch $@

# the viewer's browser test drives Debian's chromium through Playwright (never a downloaded
# browser): install chromium when it is missing and we may (root, apt-get), else the test skips
$(VENV)/.test: pyproject.toml src/pfatlas/atlas/vendor.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pfatlas.atlas.vendor
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "note: chromium is not installed, so the viewer's browser test will be skipped"
	@touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/pfatlas demo $(DEMO) --size $(SIZE)
	@echo ""
	@echo "The synthetic virtual-Muli atlas is in $(abspath $(DEMO))/ (inputs in $(abspath $(DEMO))/inputs/)"
	@echo "Open $(abspath $(DEMO))/atlas.pdf, or $(abspath $(DEMO))/index.html in a browser."

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
