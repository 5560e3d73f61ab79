"""The failed-login lockout and the login throttle, for every login path.

The lockout is kept in Django's cache (per-process memory, or Redis shared by every app process). Two counters,
each over a window that starts at its first failure: one per account (whatever the IP) and one per client IP
(whatever the account). When a counter reaches its limit, that account or IP is locked for a whole window: every
login, even with the right password, is refused until it ends.

The throttle counts every login attempt per client IP, right password or wrong, against the ``login`` rate of
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (20 a minute by default), as a sliding window in the same cache.

Every ``authenticate()`` call goes through :class:`LockoutModelBackend`, which applies both before any password is
checked, so the API, the admin, ``/accounts/login/`` and the browsable API's login share the counters and the
budget. A refused session login is answered 429 with a page that says why (``agri.middleware.LoginRefusedMiddleware``);
the API's login view checks first, to answer 429 ``login_locked`` or ``throttled`` instead of "wrong password". The
client IP is the one the API's throttles see (:func:`client_ip`).
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

# Set on a request whose login was refused (locked or throttled) to ``(reason, seconds to wait)``: that attempt never
# reached a password check, so it does not count as one more failure.
REFUSED_ATTR = "_login_refused"
LOCKED, THROTTLED = "locked", "throttled"
# Set on a request whose attempt the throttle has counted already (the API's login view counts before it validates).
COUNTED_ATTR = "_login_attempt_counted"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


def login_rate() -> tuple[int, int] | None:
    """``(attempts, seconds)`` of the ``login`` throttle rate ("20/min" is ``(20, 60)``), as DRF reads it; None when
    there is none."""
    rate = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get("login")
    if not rate:
        return None
    attempts, period = rate.split("/")
    return int(attempts), _PERIODS[period.strip()[0]]


def login_attempt_throttle(request) -> int:
    """Count one login attempt from this request's client IP; 0 when it is within the ``login`` rate, else the
    seconds until one more fits (and the refused attempt is not counted).

    A sliding window: the attempts of the current fixed window plus those of the previous one, weighted by how much
    of it still lies within the last period. Two cache keys per IP, each incremented atomically (Redis ``INCR``).
    """
    rate, ip = login_rate(), client_ip(request)
    if rate is None or not ip:
        return 0
    limit, period = rate
    now = time.time()
    window = int(now // period)
    elapsed = now - window * period
    current_key, previous_key = f"login-rate:ip:{ip}:{window}", f"login-rate:ip:{ip}:{window - 1}"
    counts = cache.get_many([current_key, previous_key])
    current, previous = counts.get(current_key, 0), counts.get(previous_key, 0)
    if previous * (1 - elapsed / period) + current >= limit:
        if current >= limit:  # wait for this window to end and then its weight to fall below the limit
            wait = (period - elapsed) + period * (1 - limit / current)
        else:  # the previous window's weight falls as time passes
            wait = period * (1 - (limit - current) / previous) - elapsed
        return max(1, math.ceil(wait))
    cache.add(current_key, 0, timeout=2 * period)
    try:
        cache.incr(current_key)
    except ValueError:  # expired between add() and incr()
        cache.set(current_key, 1, timeout=2 * period)
    return 0


def login_refusal(request) -> tuple[str, int] | None:
    """``(LOCKED or THROTTLED, seconds to wait)`` when ``LockoutModelBackend`` refused this request's login."""
    return getattr(request, REFUSED_ATTR, None) if request is not None else None


def on_login_failed(sender, credentials, request=None, **kwargs):
    """``user_login_failed`` receiver: every path that calls ``authenticate()`` counts."""
    if login_refusal(request):
        return
    login_failure_record(request, credentials.get(get_user_model().USERNAME_FIELD))


def on_logged_in(sender, user, request=None, **kwargs):
    """``user_logged_in`` receiver."""
    login_success_record(user.get_username())


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend, refusing any login of a locked account or from a locked IP, password right or not, and
    any login past the ``login`` rate of its client IP; the refusal is noted on the request (:func:`login_refusal`)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        refusal = None
        wait = login_locked_seconds(request, name)
        if wait:
            refusal = (LOCKED, wait)
        elif request is not None and not getattr(request, COUNTED_ATTR, False):
            setattr(request, COUNTED_ATTR, True)
            wait = login_attempt_throttle(request)
            if wait:
                refusal = (THROTTLED, wait)
        if refusal:
            if request is not None:
                setattr(request, REFUSED_ATTR, refusal)
            raise PermissionDenied  # stops authenticate() at once
        return super().authenticate(request, username=username, password=password, **kwargs)
