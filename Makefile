# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Both create the virtual environment in .venv first (torch included: a few minutes, once).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/zoo run recipes/quickstart.yaml
	$(BIN)/zoo leaderboard
	@echo "zoo is in $(BIN); to use it as plain 'zoo': source $(BIN)/activate"

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2
	@echo "zoo is in $(BIN); to use it as plain 'zoo': source $(BIN)/activate"

bench: $(VENV)/.installed
	for script in benchmarks/*.py; do \
		[ "$$script" = benchmarks/common.py ] && continue; \
		echo "== $(BIN)/python $$script"; \
		$(BIN)/python "$$script" || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
