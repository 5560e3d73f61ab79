"""Test settings: fast password hashing, in-memory cache, throttles out of the way."""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tests log in and write thousands of times a minute; tests/security sets low rates where it tests throttles.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000000/min", "write": "1000000/min"}}
DEMO_PASSWORD = "demo-pass-for-tests"
# WhiteNoise serves from the app finders here; there is no collectstatic output to look in.
STATIC_ROOT = None
# Rebuild-check the point-assignment index on every use: tests change divisions constantly.
DIVISION_INDEX_CHECK_SECONDS = 0

# SQLite: a file (not shared-cache memory) so that concurrent connections wait on busy_timeout the way
# they do in production, instead of failing with "table is locked".
# One file per test process, so that two runs side by side never share (and destroy) a database.
import os  # noqa: E402
import tempfile  # noqa: E402

from .base import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"nongji-test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

# Jobs: a queue of this test process's own, so that two test runs sharing the machine's Redis (tests/agri/api/
# test_jobs.py, REQUIRE_REDIS=1 in CI) never run each other's jobs; Redis database 6 unless RQ_URL says otherwise.
from .base import env  # noqa: E402

JOB_QUEUE = env("JOB_QUEUE", default=f"nongji-test-{os.getpid()}")
RQ_QUEUES = {JOB_QUEUE: {"URL": env("RQ_URL", default="redis://127.0.0.1:6379/6"), "DEFAULT_TIMEOUT": 600}}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": [JOB_QUEUE]}}
