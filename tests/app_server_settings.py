"""Settings of the app servers that tests start in processes of their own (``tests.agri.upload_support.AppServer``
with ``DJANGO_SETTINGS_MODULE=tests.app_server_settings``): the test settings, plus what production reads from the
environment and the test settings fix for the test process itself: the shared cache (``CACHE_URL``, with
``CACHE_KEY_PREFIX`` to keep one test run's keys apart) and the throttle rates (``THROTTLE_LOGIN``,
``THROTTLE_WRITE``)."""

from backend.settings.base import env
from backend.settings.test import *  # noqa: F403
from backend.settings.test import REST_FRAMEWORK

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="")
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "login": env("THROTTLE_LOGIN", default="1000000/min"),
        "write": env("THROTTLE_WRITE", default="1000000/min"),
    },
}
