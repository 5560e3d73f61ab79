# Two commands on a fresh machine with Python 3.11 and make:  make run  /  make test
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint format check schema docs migrate seed clean bench soak field-day fuzz

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# Seed the Yunyang demo only when the database has no divisions yet.
seed: migrate
	@if $(PY) manage.py shell -c "from geo.models import AdminDivision; import sys; sys.exit(0 if AdminDivision.objects.exists() else 1)"; \
	then echo "database already has data: demo seed skipped (run '$(PY) manage.py seed_demo' to top it up)"; \
	else $(PY) manage.py seed_demo; fi

# The job worker of the embedded engine (the database queue: long exports, docs/operations.md "Jobs") runs beside the
# server and stops with it. With TASK_BACKEND=rq the jobs go to Redis instead: start `manage.py rqworker` yourself.
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/  (API docs at /api/docs/, admin at /admin/), with a job worker beside it"
	@if [ "$${TASK_BACKEND:-database}" = database ]; then \
		$(PY) manage.py db_worker --queue-name "$${JOB_QUEUE:-default}" & worker=$$!; \
		trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	fi; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# The suite runs in one process per core (pytest-xdist; each has its own test database), a test file per process at a
# time so that a file's fixtures are built once. PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= auto
test: install-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: install-dev
	DJANGO_SETTINGS_MODULE=backend.settings.test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=backend.settings.test $(PY) manage.py makemigrations --check --dry-run

schema: install-dev
	DJANGO_SETTINGS_MODULE=backend.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# The docs site (mkdocs.yml): docs/ into .site/, strict, so that a broken link or anchor fails. The variable only
# quiets Material's banner announcing its end of life (May 2027; Zensical is its successor).
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site

# Issue 6's benchmark suite (not a test): SQLite, plus PostgreSQL when reachable. BENCH_SCALE=small takes under 2 min.
BENCH_SCALE ?= full
bench: install-dev
	BENCH_SCALE=$(BENCH_SCALE) $(PY) -m bench $(BENCH_ARGS)

# Issue 7's soak (not a test): a fresh demo database, gunicorn on 127.0.0.1, SOAK_USERS phones and SOAK_BUREAU bureau
# readers for SOAK_SECONDS; SQLite, plus PostgreSQL when DATABASE_URL is postgres://. See docs/reliability.md.
SOAK_SECONDS ?= 300
SOAK_USERS ?= 8
SOAK_BUREAU ?= 2
SOAK_THINK ?= 2
soak: install-dev
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_USERS=$(SOAK_USERS) SOAK_BUREAU=$(SOAK_BUREAU) SOAK_THINK=$(SOAK_THINK) \
		$(PY) -m bench.soak $(SOAK_ARGS)

# Issue 13's field day (not a test): demo-worker's day (FIELD_DAY_PHOTOS photos of FIELD_DAY_PHOTO_MB MB, 10 visits,
# one pull) over bench.netem's FIELD_DAY_PROFILE link, photos by multipart with a naive retry and by tus (tuspy).
# The default is the full day: about an hour per mode on 2g. See docs/performance.md.
FIELD_DAY_PROFILE ?= 2g
FIELD_DAY_PHOTOS ?= 20
FIELD_DAY_PHOTO_MB ?= 3-5
field-day: install-dev
	$(PY) -m bench.field_day --profile $(FIELD_DAY_PROFILE) --photos $(FIELD_DAY_PHOTOS) \
		--photo-mb $(FIELD_DAY_PHOTO_MB) $(FIELD_DAY_ARGS)

# Deep schema fuzzing over HTTP (not part of make test): tests/fuzz/test_schemathesis.py against gunicorn
# (deploy/gunicorn.conf.py, production settings) on a fresh database: PostgreSQL when DATABASE_URL is postgres://,
# else SQLite. One run per seed; see tests/fuzz/deep.py and docs/reliability.md.
FUZZ_SEEDS ?= 1,2,3
FUZZ_MAX_EXAMPLES ?= 50
FUZZ_STATEFUL_EXAMPLES ?= 20
FUZZ_ROLES ?= worker,admin,anonymous
fuzz: install-dev
	FUZZ_SEEDS=$(FUZZ_SEEDS) FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_STATEFUL_EXAMPLES=$(FUZZ_STATEFUL_EXAMPLES) \
		FUZZ_ROLES=$(FUZZ_ROLES) $(PY) -m tests.fuzz.deep

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .site
