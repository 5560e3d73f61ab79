"""WSGI entry point for the load scenario: gunicorn bench.wsgi (bench settings, bench URLconf).

The URLconf, and with it every view module, is imported here rather than on the first request, so that with
``--preload`` the two workers fork already warm and no run measures a worker's start-up; then, as
``backend/wsgi.py`` does, what start-up loaded is kept out of the garbage collector's passes.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()
URL_PATTERNS = get_resolver().url_patterns
gc.freeze()
