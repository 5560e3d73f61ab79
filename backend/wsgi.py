"""WSGI entry point (gunicorn backend.wsgi).

The URLconf, and with it every view module, is imported here rather than on the first request; then everything
start-up loaded, which lives as long as the process, is moved out of the garbage collector's reach (``gc.freeze``):
its full passes would otherwise walk all of it every so often, a pause of tens of milliseconds in some request (see
``geo.memory.collector_paused`` and docs/performance.md). With ``preload_app`` (deploy/gunicorn.conf.py) this
happens once in the master, and the workers share those pages with it instead of copying them.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.production")
application = get_wsgi_application()
URL_PATTERNS = get_resolver().url_patterns
gc.freeze()
