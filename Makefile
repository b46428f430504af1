# modqueue: `make demo` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WEB_CONCURRENCY ?= 4
WORKERS ?= 2
# pytest-xdist processes for `make test` (each with its own test database and Redis database)
TEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(TEST_WORKERS) --dist loadfile
export DATABASE_URL_TEST_DEFAULT := postgres://postgres@127.0.0.1:5432/modqueue
export REDIS_URL_TEST_DEFAULT := redis://127.0.0.1:6379/15

.PHONY: demo test serve worker bench services lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# axe-core, injected by the browser tests' accessibility check (npm is installed by services)
node_modules/axe-core/axe.min.js: package.json package-lock.json | services
	npm ci --no-audit --no-fund
	touch $@

## demo: SQLite and in-process jobs unless DATABASE_URL / REDIS_URL say otherwise
demo: $(VENV)/.installed
	@DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput -v0
	@DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	@echo "modqueue demo on http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	@if [ -n "$$REDIS_URL" ]; then \
		DEBUG=$${DEBUG:-true} $(PY) manage.py rqworker ingest enforcement default & \
		trap "kill $$! 2>/dev/null" EXIT; \
		DEBUG=$${DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:$(PORT); \
	else \
		DEBUG=$${DEBUG:-true} $(PY) manage.py periodic & \
		trap "kill $$! 2>/dev/null" EXIT; \
		DEBUG=$${DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:$(PORT); \
	fi

## test: the whole suite against PostgreSQL and Redis (local servers started if needed)
test: $(VENV)/.installed-test services node_modules/axe-core/axe.min.js
	DATABASE_URL=$${DATABASE_URL:-$$DATABASE_URL_TEST_DEFAULT} \
	REDIS_URL=$${REDIS_URL:-$$REDIS_URL_TEST_DEFAULT} \
	SECRET_KEY=$${SECRET_KEY:-test-secret-key} \
	MODQUEUE_SUBJECT_PEPPER=$${MODQUEUE_SUBJECT_PEPPER:-test-pepper} \
	$(PY) -m pytest $(PYTEST_ARGS)

services:
	@bash .ci/services

## serve: the production web server (gunicorn; whitenoise serves the static files).
## Migrates as MIGRATE_DATABASE_URL's owner role when set, then gives DATABASE_URL's app
## role its grants again (docs/deploy.md), and serves without the owner's URL; migrates as
## DATABASE_URL otherwise.
serve: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput -v0
	DATABASE_URL="$${MIGRATE_DATABASE_URL:-$$DATABASE_URL}" $(PY) manage.py migrate --noinput -v0
	@if [ -n "$$MIGRATE_DATABASE_URL" ]; then \
		app_role=$$(psql "$${DATABASE_URL:?must name the app role}" -XAtc 'SELECT current_user') && \
		owner=$$(psql "$$MIGRATE_DATABASE_URL" -XAtc 'SELECT current_user') && \
		if [ "$$app_role" = "$$owner" ]; then \
			echo "DATABASE_URL connects as the owner role $$owner: see docs/deploy.md" >&2; exit 1; \
		fi && \
		psql "$$MIGRATE_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v app_role="$$app_role" \
			-f docs/deploy/app-role.sql; \
	fi
	env -u MIGRATE_DATABASE_URL $(VENV)/bin/gunicorn moderation.wsgi:application \
		--bind 127.0.0.1:$(PORT) --workers $(WEB_CONCURRENCY) --access-logfile - --graceful-timeout 10

## worker: every kind of background work; WORKERS processes (default 2), each running its
## jobs in itself rather than in a forked work horse (moderation/workers.py InProcessWorker)
worker: $(VENV)/.installed
	@pids=(); for i in $$(seq $(WORKERS)); do \
		$(PY) manage.py rqworker --worker-class moderation.workers.InProcessWorker \
			ingest enforcement default & pids+=($$!); \
	done; trap 'kill $${pids[*]} 2>/dev/null' INT TERM EXIT; wait

## bench: ingest and claim throughput, the operations dashboard and the pages at 1,000,000 items, memory, and scaling out, on PostgreSQL
bench: $(VENV)/.installed-test services
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/ingest.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench_claims} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/claims.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench_operations} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/operations.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench_cycle} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/cycle.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench_pages} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/pages.py
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/modqueue_bench_scaling} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} \
	$(PY) tests/bench/scaling.py

## lint: ruff (lint and format) and mypy with django-stubs; CI runs it before the tests
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SECRET_KEY=$${SECRET_KEY:-lint-secret-key} \
	MODQUEUE_SUBJECT_PEPPER=$${MODQUEUE_SUBJECT_PEPPER:-lint-pepper} \
	$(VENV)/bin/mypy moderation accounts

clean:
	rm -rf $(VENV) node_modules staticfiles modqueue.sqlite3
