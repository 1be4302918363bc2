# Leadline. `make run` chats with the bot locally; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run serve test bench clean

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

test: install  ## the test suite (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL when set)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install  ## benchmarks; prints tables and writes bench/results.json
	$(PY) bench/webhook_ack.py
	$(PY) bench/cadence.py

clean:
	rm -rf $(VENV) var .pytest_cache
