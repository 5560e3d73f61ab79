"""Token authentication in one query per request (:class:`TokenAuthentication`), and the failed-login lockout.

The lockout is kept in Django's cache (per-process memory, or Redis shared by every app process). Two counters,
each over a window that starts at its first failure: one per account (whatever the IP) and one per client IP
(whatever the account). When a counter reaches its limit, that account or IP is locked for a whole window: every
login, even with the right password, is refused until it ends. Every ``authenticate()`` call goes through
:class:`LockoutModelBackend`, so the API, the admin and the session logins share the counters; the API's login
view also checks first, to answer 429 ``login_locked`` instead of "wrong password".
"""

import binascii
import hashlib
import logging
import math
import time
from datetime import timedelta
from hmac import compare_digest

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

# The user's reverse one-to-ones to the person who records visits (see User.linked and visit_actor).
LINKED_PEOPLE = ("expert", "extension_worker", "tech_commissioner")


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication, in one query for a valid token instead of two or more.

    - The token is read with its user and the user's linked person (expert, extension worker or tech
      commissioner): row scoping and ``visit_actor`` then need no query of their own.
    - knox deletes the user's other expired tokens on every request, which is one more query each time. Here that
      clean-up runs when the token's expiry is renewed, at most once per ``MIN_REFRESH_INTERVAL`` (60 s) of use,
      and on every request when tokens are not renewed. An expired token is refused as before: its own expiry is
      checked on every request.

    A token that does not match, or has expired, goes through knox's own code, which refuses it (and deletes
    and reports an expired one) exactly as knox does.
    """

    def authenticate_credentials(self, token: bytes):
        raw = token.decode("utf-8")
        candidates = (
            get_token_model()
            .objects.filter(token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user", *(f"user__{name}" for name in LINKED_PEOPLE))
        )
        for auth_token in candidates:
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                break
            try:
                digest = hash_token(raw)
            except (TypeError, binascii.Error):
                break
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                else:
                    self._cleanup_token(auth_token)
                return self.validate_user(auth_token)
        return super().authenticate_credentials(token)

    def renew_token(self, auth_token) -> None:
        """knox's renewal; when it writes the new expiry, the user's other expired tokens are deleted too."""
        before = auth_token.expiry
        super().renew_token(auth_token)
        if auth_token.expiry - before > timedelta(seconds=knox_settings.MIN_REFRESH_INTERVAL):
            self._cleanup_token(auth_token)


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of :class:`TokenAuthentication`: knox's, under the same name."""

    target_class = "agri.auth.TokenAuthentication"


# Set on a request whose login was refused while locked: that attempt never reached a password check,
# so it does not count as one more failure.
LOCKED_ATTR = "_login_locked"


def client_ip(request) -> str | None:
    """The client's address as DRF's throttles see it (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES)."""
    if request is None:
        return None
    return BaseThrottle().get_ident(request) or None


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
