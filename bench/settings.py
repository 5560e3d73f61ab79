"""Benchmark settings: production-like (DEBUG off, real password hashing and token auth), with the bench URLconf.

The database comes from ``DATABASE_URL`` as in every environment; the bench runner points it at its own
database (``.bench/*.sqlite3``, or ``<name>_bench_*`` on the PostgreSQL server), never at the one you work in.
"""

from pathlib import Path

from backend.settings.base import *  # noqa: F403
from backend.settings.base import LOGGING, REST_FRAMEWORK, STATIC_ROOT

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# A request log line per request would be measured too; keep warnings and errors only.
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}
# As in dev.py: WhiteNoise serves from the app finders until someone runs collectstatic.
if STATIC_ROOT and not Path(str(STATIC_ROOT)).exists():
    STATIC_ROOT = None
# The per-account write throttle (600/min) would turn a load test from one account into 429s. Its code still runs
# on every write; only the rate is out of reach.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {**REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "write": "100000000/min"},
}
