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

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/cli_startup.py
	cd benchmarks && ../$(BIN)/python loader_speed.py
	cd benchmarks && ../$(BIN)/python train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
