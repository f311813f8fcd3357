# The two commands a newcomer needs: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python
export PYENV_VERSION ?= 3.11.7
export UV_PYTHON_DOWNLOADS := never

.PHONY: help run test lint typecheck pytest bench install system-deps pg-client backup restore clean code

help:
	@echo "make run    - start the war room (web, events, worker, beat) with demo data"
	@echo "make test   - ruff, mypy and every test, browser tests included"
	@echo "make bench  - performance figures against same-run baselines"
	@echo "make code [EMAIL=...] - a demo login's current second-factor code"
	@echo "make backup [DIR=...] / make restore DIR=... - database and evidence files (README, Backup and restore)"

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# The virtualenv follows uv.lock; re-synced whenever the lock changes. --inexact keeps the optional
# embedded PostgreSQL/Redis packages that `make run` installs on machines without local services.
.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --inexact
	@touch $@

# Translation catalogues: each .mo (gitignored) is compiled by polib from its .po whenever the .po changes.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)

locale/%.mo: locale/%.po .venv/.synced
	$(PY) -m warroom.compilemessages $<

install: .venv/.synced $(MO_FILES)

run: install
	$(PY) -m warroom.launcher

# Debian packages the tests need: chromium for Playwright, docker-compose (v1) to validate the compose
# file without an engine, DejaVu fonts for Unicode PDF exports, the PostgreSQL client tools for the
# backup/restore test. Installed only when missing, and only when we are root (CI, this machine).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pg_restore >/dev/null || missing="$$missing postgresql-client"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

# pg_dump/pg_restore for backups, nothing else. Debian's postgresql-client is the distribution's major
# version (15 on bookworm); warroom/backup.py refuses a client that does not match the server's.
pg-client:
	@if ! command -v pg_restore >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing: postgresql-client"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client >/dev/null; \
	  else \
	    echo "Please install postgresql-client (e.g. sudo apt-get install postgresql-client)"; exit 1; \
	  fi; \
	fi

# Into a new directory (default var/backups/<UTC time>); restore needs DIR and a fresh database and MEDIA_ROOT.
DIR ?=
backup: install pg-client
	$(PY) -m warroom.backup backup "$(or $(DIR),var/backups/$(shell date -u +%Y%m%dT%H%M%SZ))"

restore: install pg-client
	@test -n "$(DIR)" || { echo "Usage: make restore DIR=path/to/backup (into DATABASE_URL and MEDIA_ROOT, both fresh)"; exit 2; }
	$(PY) -m warroom.backup restore "$(DIR)"

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: install
	.venv/bin/mypy .

pytest: install system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test: install system-deps lint typecheck pytest

bench: install
	$(PY) -m bench

# The demo's second factor: the code a demo login's authenticator app would show now (no database needed).
EMAIL ?= maja@northwind.example
code: install
	@DEBUG=true $(PY) manage.py demo_code "$(EMAIL)"

clean:
	rm -rf .venv .tools staticfiles .mypy_cache .ruff_cache
