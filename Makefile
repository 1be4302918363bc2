# Leadline. `make run` chats with the bot locally; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install browser run serve test lint bench eval-local-model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

run: install  ## run web + worker (+ sandbox without Twilio credentials) and chat as a prospect
	$(PY) -m bot.devserver $(ARGS)

serve: install  ## run web + worker for real traffic, no chat
	$(PY) -m bot.devserver --serve $(ARGS)

browser:  ## Debian's Chromium for the dashboard's browser tests (installed when missing and apt-get can)
	@command -v chromium >/dev/null 2>&1 || [ -n "$$CHROMIUM_PATH" ] || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian's chromium for the browser tests"; \
	      (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	       (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	      echo "could not install chromium: the browser tests will be skipped"; \
	    else echo "no chromium (sudo apt-get install chromium): the browser tests will be skipped"; fi; }

test: install browser lint  ## lint, then the test suite (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL when set)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install  ## ruff (pyflakes, pycodestyle, bugbear, import order), the one-way imports (lint-imports) and mypy; pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: install  ## every M figure (median of 3 runs) beside its target; writes bench/results.json
	$(PY) bench/run.py
	$(PY) bench/eval_extraction.py
	FUZZ_EXAMPLES=10000 $(PY) -m pytest -q tests/test_fuzz.py

eval-local-model: install  ## extraction accuracy against a real model: SmolLM2-135M in a llama.cpp server built in ~/.cache/leadline (or OPENAI_BASE_URL's); ARGS="--threads 2 -- --json"
	$(PY) bench/local_model.py $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
