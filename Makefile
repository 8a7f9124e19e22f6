# The same commands for people and CI: `make run` starts trimtab, `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LINT_PATHS := src tests scripts $(wildcard bench)
HOST ?= 127.0.0.1
PORT ?= 8000
# Three workers on two cores: much of the suite waits on servers, browsers and databases.
# The 25 slowest tests are listed at the end, so a CI log shows where the time goes.
PYTEST_ARGS ?= -n 3 --durations=25

.PHONY: run test lint typecheck pytest bench soak screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# The benchmarks also measure trimtab next to other SDKs (GrowthBook): the bench extra.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/trimtab db upgrade
	$(BIN)/trimtab demo seed
	$(BIN)/trimtab serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/flags.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/dashboard.py --keep

# 30 minutes of mixed load on one server (RSS, errors), then SIGKILL rounds (bench/soak.py).
# SOAK_SECONDS, SOAK_WARMUP, SOAK_CRASH_ROUNDS, SOAK_SEED; PostgreSQL rounds too when
# TRIMTAB_TEST_POSTGRES_URL is set. First the tests marked `soak` (100,000-user equivalences).
soak: $(VENV)/.installed-dev
	TRIMTAB_SOAK=1 $(BIN)/pytest -m soak tests
	$(BIN)/python bench/soak.py

# The README's dashboard images: the browser test of the main pages keeps its desktop
# screenshots of the demo workspace (SQLite run) in docs/screenshots/.
screenshots: $(VENV)/.installed-dev
	TRIMTAB_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/browser/test_dashboard_screens.py -k "render_clean and sqlite"

clean:
	rm -rf $(VENV) .trimtab .pytest_cache .mypy_cache .ruff_cache
