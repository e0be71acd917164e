# liuan-bot: two commands for a newcomer — `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test test-fast lint typecheck pytest install install-dev db demo bench chaos clean browser

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

# The browser tests drive Debian's Chromium (browser downloads are impossible here) and need
# a CJK font for readable screenshots; installed once, with sudo when not root.
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)
browser:
	@test -x /usr/bin/chromium && test -n "$$(fc-list :lang=zh 2>/dev/null)" || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium fonts-wqy-microhei; }

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

db: install
	$(PY) bot.py db upgrade

demo: db
	$(PY) bot.py roster import config/demo-roster.csv --if-empty

## Start the bot on SQLite (sandbox mode unless WeCom credentials are set) at http://127.0.0.1:8080
run: demo
	$(PY) bot.py serve

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install-dev
	$(VENV)/bin/mypy

pytest: install-dev browser
	$(PY) -m pytest

## Lint, type-check and run the whole test suite
test: lint typecheck pytest

## The inner loop: every test not marked slow (no spawned servers), handlers called in-process
test-fast: install-dev
	$(PY) -m pytest -q -m "not slow"

## Every benchmark, each bounded by `timeout` (~6 minutes in all; PostgreSQL rows when
## LIUAN_TEST_DATABASE_URL is set). Reports only (--no-fail); see bench/README.md.
BENCH_PG = $(LIUAN_TEST_DATABASE_URL)
bench: install-dev
	timeout 120 $(PY) bench/callback.py --duration 5 --requests 3000 --no-fail
	timeout 120 $(PY) bench/callback.py --mix write --duration 5 --requests 2000 --warmup 150 --no-fail
	timeout 120 $(PY) bench/write_profile.py --messages 300
	@if [ -n "$(BENCH_PG)" ]; then \
	  timeout 120 $(PY) bench/callback.py --db postgresql --duration 5 --requests 3000 --no-fail && \
	  timeout 120 $(PY) bench/callback.py --db postgresql --mix write --duration 5 --requests 2000 --warmup 150 --no-fail; \
	fi
	timeout 180 $(PY) bench/reminders.py --skip-latency --no-fail
	timeout 120 $(PY) bench/relay.py --runs 100 --no-fail
	timeout 120 $(PY) bench/outbox_idle.py --seconds 10 --no-fail
	timeout 240 $(PY) bench/evaluation.py --runs 10 --no-fail
	timeout 240 $(PY) bench/console.py --no-fail

## The chaos suite at full load (about 10 minutes); `make test` runs its short version
chaos: install-dev
	@mkdir -p bench/results
	$(PY) bench/chaos.py --json bench/results/chaos.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
