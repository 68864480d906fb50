# Retarget: `make run` starts the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The demo business sells in Germany: national numbers (0151…) are read as German ones.
PHONE_DEFAULT_REGION ?= DE
DEV_ENV := DEBUG=1 PHONE_DEFAULT_REGION=$(PHONE_DEFAULT_REGION)

.PHONY: run test lint typecheck audit bench chaos install install-dev clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

# Browser tests drive Debian's Chromium (test tools' own browser downloads are not used).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	 else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	@mkdir -p var
	$(DEV_ENV) $(PY) manage.py migrate --no-input
	$(DEV_ENV) $(PY) manage.py collectstatic --no-input --verbosity 0
	$(DEV_ENV) $(PY) manage.py demo_data
	$(DEV_ENV) bash scripts/run-dev.sh

test: install-dev $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

# Linter (ruff; rules in pyproject.toml).
lint: install-dev
	$(VENV)/bin/ruff check .

# Type check (mypy with the Django and DRF plugins; options in pyproject.toml, cache in var/mypy). The
# plugin loads the settings, which need DEBUG=1 or a SECRET_KEY.
typecheck: install-dev
	DEBUG=1 $(VENV)/bin/mypy

# Known vulnerabilities in the installed dependencies (PyPI's advisory service): fails on one; only warns
# when the service cannot be reached.
audit: install-dev
	$(PY) scripts/audit_dependencies.py

# Benchmarks (issue 7): PostgreSQL and Redis (DATABASE_URL/REDIS_URL, default the local servers), on a
# database of their own (<name>_bench, recreated) and Redis db 8. BENCH_SCALE=0.01 for a quick run.
bench: install
	$(PY) -m bench

# Fault drills (issue 8): the real stack (gunicorn, Celery workers and beat, the sandbox) on PostgreSQL and
# Redis under failure, one line of figures per drill; fails on any duplicate, loss or consent violation.
# Databases retarget_chaos_<drill> (recreated), Redis dbs 10-13; the Redis-restart drill restarts a Redis of its own.
# CHAOS_SCALE=0.25 for a quicker run; CHAOS_ARGS="worker_kills cap_race" for some drills.
chaos: install
	$(PY) -m chaos $(CHAOS_ARGS)

clean:
	rm -rf var/ .pytest_cache
