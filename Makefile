# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench setup fuzz

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv"; exit 1; }
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

# Fast tests needing no broker (tests/deploy shell out to promtool/amtool/docker-compose).
unit: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/pytest -m "not integration"

# All benchmarks at full size (~25 min); see docs/performance.md.
bench: $(STAMP)
	$(BIN)/python -m bench

# Longer fuzzing (tests/fuzz/): atheris for FUZZ_SECONDS per target, then hypothesis with FUZZ_EXAMPLES
# examples per property (about 10 minutes in all); one summary line per atheris target, hypothesis's
# statistics per property. `make test` runs a short version of both.
FUZZ_SECONDS ?= 60
FUZZ_EXAMPLES ?= 2000
fuzz: $(STAMP)
	for t in decode validate jsonl csv; do $(BIN)/python -m tests.fuzz.atheris_main $$t $(FUZZ_SECONDS) || exit 1; done
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider -q \
	  --hypothesis-show-statistics tests/fuzz/test_properties.py
