# The two set-up commands (README): `make demo` and `make test`.
# Each creates the virtual environment and installs what it needs when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check services bench bench-quick soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/monitor demo

services:
	./.ci/postgres-up

test: $(STAMP) services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 3 --dist worksteal  # 3 workers: most tests wait on I/O

# Long reliability runs (not in CI): leak soak, many kills.
soak: $(STAMP) services
	$(BIN)/python -m pytest -m soak -s -p no:cacheprovider tests

# Every benchmark and evaluation; writes docs/benchmarks.md. bench-quick: the ~3 minute tier.
bench: $(STAMP) services
	$(BIN)/python -m bench.run

bench-quick: $(STAMP) services
	$(BIN)/python -m bench.run --quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
