# The two commands of the README: `make run` serves the API on the embedded default,
# `make test` runs the whole suite. Both set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench migrate worker lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed setup.cfg
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/houston migrate
	$(BIN)/houston serve

migrate: $(VENV)/.installed
	$(BIN)/houston migrate

worker: $(VENV)/.installed
	$(BIN)/houston worker

test: $(VENV)/.installed-dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/mypy domain

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ledger
	$(BIN)/python -m bench.coaching

clean:
	rm -rf $(VENV) var .hypothesis .schemathesis
