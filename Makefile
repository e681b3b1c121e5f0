# `make run` and `make test` do all the set-up a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install catalogs migrate lint extract-messages clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's metadata changed.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

catalogs: install
	$(BIN)/pybabel compile --use-fuzzy -d locales -D messages --statistics

migrate: install catalogs
	$(BIN)/python -m bot db upgrade

# With BOT_TOKEN or ZALO_BOT_TOKEN (environment or .env) the bot goes live; without, the sandbox.
run: migrate
	@if [ -n "$$BOT_TOKEN$$ZALO_BOT_TOKEN" ] || grep -qs '^\(ZALO_\)\?BOT_TOKEN=..*' .env; then \
		$(BIN)/python -m bot run; \
	else \
		echo "Neither BOT_TOKEN nor ZALO_BOT_TOKEN is set: starting the sandbox (every role in a browser)."; \
		$(BIN)/python -m bot sandbox; \
	fi

# Style, the dependency rule (.importlinter) and types (strict for core/, scheduler/, db/).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# PYTEST_WORKERS=0 runs the suite in one process (easier to read when debugging). A test
# file stays on one worker: some share a module-scoped sandbox and build on each other.
PYTEST_WORKERS ?= 2
test: migrate lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# The benchmarks at full size (minutes); figures go to docs/benchmarks.md.
bench: migrate
	$(BIN)/python bench/fanout.py --agencies 1000
	$(BIN)/python bench/sweep_cost.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/updates.py

# Refresh the template and the Vietnamese catalog after adding strings.
extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -o locales/messages.pot --no-location --sort-output -k _ -k N_ -k ngettext:1,2 -k n_:1,2 -k Problem .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
