"""The failed-login lockout.

The lockout is kept in Django's cache (per-process memory, or Redis shared by every app process). Two counters,
each over a window that starts at its first failure: one per account (whatever the IP) and one per client IP
(whatever the account). When a counter reaches its limit, that account or IP is locked for a whole window: every
login, even with the right password, is refused until it ends. Every ``authenticate()`` call goes through
:class:`LockoutModelBackend`, so the API, the admin and the session logins share the counters; the API's login
view also checks first, to answer 429 ``login_locked`` instead of "wrong password". The client IP is the one the
API's throttles see (:func:`agri.api.authentication.client_ip`).
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

logger = logging.getLogger(__name__)

# Set on a request whose login was refused while locked: that attempt never reached a password check,
# so it does not count as one more failure.
LOCKED_ATTR = "_login_locked"


def client_ip(request) -> str | None:
    """The client's address as the API's throttles see it: ``REMOTE_ADDR``, or, behind ``NUM_PROXIES`` reverse
    proxies, the address the outermost of them appended to ``X-Forwarded-For`` (DRF's rule, which
    ``tests/security/test_login_lockout.py`` checks this against)."""
    if request is None:
        return None
    meta = request.META
    forwarded, remote = meta.get("HTTP_X_FORWARDED_FOR"), meta.get("REMOTE_ADDR")
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    if proxies is None:
        return ("".join(forwarded.split()) if forwarded else remote) or None
    if proxies == 0 or forwarded is None:
        return remote or None
    addresses = forwarded.split(",")
    return addresses[-min(proxies, len(addresses))].strip() or None


def _scopes(request, username: str | None) -> list[tuple[str, str, int]]:
    """(what, cache key stem, failure limit) for the account and the client IP of one attempt."""
    config = settings.LOGIN_LOCKOUT
    scopes = []
    if username:
        # Hashed: usernames are personal data and arbitrary input, neither belongs in a cache key.
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        scopes.append((f"account {digest}", f"login-lockout:account:{digest}", config["account_failures"]))
    ip = client_ip(request)
    if ip:
        scopes.append((f"IP {ip}", f"login-lockout:ip:{ip}", config["ip_failures"]))
    return scopes


def login_locked_seconds(request, username: str | None) -> int:
    """Seconds until this account and this client may try again; 0 when neither is locked."""
    scopes = _scopes(request, username)
    if not scopes:
        return 0
    now = time.time()
    until = cache.get_many([f"{stem}:locked" for _what, stem, _limit in scopes]).values()
    return max((math.ceil(u - now) for u in until if u > now), default=0)


def login_failure_record(request, username: str | None) -> None:
    """Count one failed password check; lock the account or the IP that reaches its limit."""
    window = settings.LOGIN_LOCKOUT["window_seconds"]
    for what, stem, limit in _scopes(request, username):
        key = f"{stem}:failures"
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(f"{stem}:locked", time.time() + window, timeout=window)
            cache.delete(key)
            logger.warning("Login lockout for %s after %d failures", what, failures)


def login_success_record(username: str) -> None:
    """A successful login clears its account's failures (never the IP's: one good account must not reset them)."""
    for _what, stem, _limit in _scopes(None, username):  # no request: the account only
        cache.delete(f"{stem}:failures")


def on_login_failed(sender, credentials, request=None, **kwargs):
    """``user_login_failed`` receiver: every path that calls ``authenticate()`` counts."""
    if request is not None and getattr(request, LOCKED_ATTR, False):
        return
    login_failure_record(request, credentials.get(get_user_model().USERNAME_FIELD))


def on_logged_in(sender, user, request=None, **kwargs):
    """``user_logged_in`` receiver."""
    login_success_record(user.get_username())


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend, refusing any login of a locked account or from a locked IP, password right or not."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if login_locked_seconds(request, name):
            if request is not None:
                setattr(request, LOCKED_ATTR, True)
            raise PermissionDenied  # stops authenticate() at once
        return super().authenticate(request, username=username, password=password, **kwargs)
