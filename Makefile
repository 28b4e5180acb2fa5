# The two commands of the README: `make run` serves the API on the embedded default,
# `make test` runs the whole suite. Both set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench bench-ledger migrate worker lint clean

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
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy domain adapters entrypoints bench

# Benchmarks (not part of `make test`): the ledger's hot path against a bare Flask + SQL
# endpoint (issue 11), the coaching per-message overhead (issue 14), and the cost of rate
# limits and metrics on the charge route (issue 15). All need MariaDB; the first needs wrk.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.http $(BENCH_ARGS)
	$(BIN)/python -m bench.coaching
	$(BIN)/python -m bench.overhead

# The older in-process bench (service layer, reads against a 1M-entry history).
bench-ledger: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ledger

clean:
	rm -rf $(VENV) var .hypothesis .schemathesis
