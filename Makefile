# Every target bootstraps ./.venv from pyproject.toml when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck contracts pytest prometheus bench bench-all bench-large clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hookconsole needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,test,static]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hookconsole demo

lint: $(STAMP)
	$(BIN)/ruff check console tests benchmarks
	$(BIN)/ruff format --check console tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --explicit-package-bases tests

contracts: $(STAMP)
	$(BIN)/lint-imports

# The alert rules' tests run Prometheus's promtool and prometheus (Debian's `prometheus` package): installed when
# missing and we can (root, apt-get); otherwise those tests skip, saying why (under CI=true they fail).
prometheus:
	@command -v promtool >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || { \
		echo "installing prometheus (promtool) for the alert rules' tests" >&2; \
		apt-get install -y -q prometheus >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q prometheus >/dev/null 2>&1; } \
		|| echo "prometheus could not be installed: its tests will skip" >&2; }

pytest: $(STAMP) prometheus
	$(BIN)/pytest -q -n 2

test: lint typecheck contracts pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-all: $(STAMP)
	$(BIN)/python -m benchmarks.run --all

# 1M- and 15M-attempt stores on SQLite and PostgreSQL (built once, cached in benchmarks/.data; long).
bench-large: $(STAMP)
	$(BIN)/python -m benchmarks.large

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
