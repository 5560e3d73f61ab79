"""Production: only tightens what base.py sets. SECRET_KEY and ALLOWED_HOSTS must come from the environment."""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The same TLS-terminating proxy appends the client's address to X-Forwarded-For: throttles and the login lockout
# take the address that proxy saw, not one the client wrote. Set NUM_PROXIES=0 when gunicorn faces clients directly.
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": env.int("NUM_PROXIES", default=1)}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Only consent: a host enters browsers' preload lists when its apex domain's owner submits it (hstspreload.org).
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Static files come from `manage.py collectstatic` into STATIC_ROOT.
WHITENOISE_USE_FINDERS = False
