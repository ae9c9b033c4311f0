# The two commands of the README. Both install into .venv with pip (torch pinned in constraints.txt).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MEDDL_DATA_DIR ?= $(abspath ../shared/data)
export MEDDL_DATA_DIR

.PHONY: install demo test test-slow clean

$(BIN)/meddl: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(BIN)/meddl

install: $(BIN)/meddl

demo: install
	$(BIN)/meddl train pneumoniamnist --output-dir runs/demo --overwrite

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf runs .pytest_cache
