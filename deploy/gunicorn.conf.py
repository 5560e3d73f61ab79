"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py backend.wsgi``.

Every value can be overridden from the environment (``GUNICORN_*`` below) or on the command line. The figures
behind the defaults are in docs/reliability.md (soak) and docs/scaling.md.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")  # behind the TLS proxy (NUM_PROXIES=1)
# Sync workers: the API is CPU-bound (validation, geometry, photo decoding), so one per core plus one to cover
# a worker blocked on the database or the photo store.
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1)
worker_class = "sync"
# Exports stream up to a million visits and a GeoPackage of a whole county is written before it is sent: minutes,
# not seconds. The proxy's read timeout must be at least as long.
timeout = _int("GUNICORN_TIMEOUT", 300)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 60)
# A worker keeps the memory of the largest photo it decoded (a 16 MP HEIC is ~48 MB as RGB, with derivatives on
# top): the soak saw workers level off at 350-370 MB. Recycling after this many requests (with jitter, so that the
# workers do not restart together) returns that memory; 0 turns it off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
# Load the app once in the master: workers fork with Django, GEOS and the division index already imported.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() == "true"
# Photo uploads are written to a temporary file past Django's memory limit: keep them off a small /tmp if needed.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# The access log records query strings (?search=<name>): treat it as personal data (docs/security.md).
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
