# Two commands matter: `make demo` and `make test`. Both create and reuse .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test unit integration browser screenshots lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,demo,postgres,reports,pictures]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/firefleet demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest -m integration $(ARGS)

browser: $(STAMP)
	$(BIN)/python -m pytest -m browser $(ARGS)

# The console's browser tests, saving their screenshots where the README shows them.
screenshots: $(STAMP)
	FF_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/browser $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check devices simulators edge cloud tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/codecs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
