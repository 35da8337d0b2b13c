# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench-quick setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digindex demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The whole suite: lint, unit and integration tests (real broker, Prometheus, Alertmanager), bench smoke.
test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -p no:cacheprovider
	$(BIN)/python -m bench --quick --ci

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"
