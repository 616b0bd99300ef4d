# make run   - install (if needed), migrate + load the demo catalog, serve on :5000 (gunicorn)
#              with a task queue worker beside it (Procfile)
# make dev   - the same with Flask's development server (reloads on changes)
# make test  - install (if needed), run the whole test suite on SQLite
# make test-postgres - run the database tests against $$DATABASE_URL (a throwaway database)

# The interpreter: a distribution's build of 3.11 where there is one (Debian's and Ubuntu's are
# compiled with profile-guided and link-time optimisation: pricing and PDF rendering measured
# about a quarter less CPU than with a plain source build), else python3.11 from the PATH.
# It needs venv's ensurepip (Debian: python3.11-venv). PYTHON=... chooses another.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(or $(firstword $(foreach p,/usr/bin/python3.11 python3.11,$(if $(shell $(p) -c 'import ensurepip' 2>/dev/null && echo ok),$(p)))),python3.11)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SECRET := var/secret_key

.PHONY: install prepare run dev test test-postgres clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies may have changed.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# A random secret made on the first run and kept (var/ is not in git); SECRET_KEY wins if set.
$(SECRET):
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

# Every process gets the same key: the web app signs with it, and stored secrets are
# encrypted with a key derived from it (the database upgrade encrypts, the worker decrypts).
KEY := SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET))}"

prepare: $(STAMP) $(SECRET)
	$(KEY) $(BIN)/cpq db upgrade
	$(KEY) $(BIN)/cpq models load-demo

# Documents, e-mail, webhooks and the daily jobs go through the task queue; without a broker
# its messages are files in var/queue, read by the one worker the Procfile starts.
QUEUE := CPQ_QUEUE_URL="$${CPQ_QUEUE_URL:-filesystem://var/queue}"

run: prepare
	$(KEY) $(QUEUE) $(BIN)/honcho start -f Procfile

# The development server: reloads on code changes, shows tracebacks. Never expose it.
dev: prepare
	$(KEY) $(BIN)/flask --app api.app:create_app run --debug --host 127.0.0.1 --port 5000

# DATABASE_URL is cleared so an exported production/dev URL is never wiped by tests.
test: $(STAMP)
	env -u DATABASE_URL $(BIN)/python -m pytest -q -n auto

test-postgres: $(STAMP)
	@test -n "$$DATABASE_URL" || { echo "set DATABASE_URL to a throwaway PostgreSQL database" >&2; exit 2; }
	$(BIN)/python -m pytest -q -m postgres

clean:
	rm -rf var .pytest_cache .hypothesis
