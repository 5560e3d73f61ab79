"""Read replicas: the bureau's reads go to a PostgreSQL streaming replica, everything else to the primary.

With ``DATABASE_REPLICA_URL`` set, ``DATABASES["replica"]`` is a hot standby of ``DATABASES["default"]``. Without
it both classes here do nothing: the router answers None (Django's default alias) and the middleware passes the
request through.

A query reads from the replica only when all of these hold (:meth:`PrimaryReplicaRouter.db_for_read`):

- it runs while a ``GET`` or ``HEAD`` of one of ``settings.REPLICA_READ_VIEWS`` is answered (coverage, the maps,
  the lists, the exports), streamed content included. Sync pulls, uploads, logins, the admin, detail pages and
  everything outside a request (management commands, jobs, the shell) read from the primary;
- the request has written nothing so far (any write through the ORM pins the rest of the request to the primary);
- the primary has no transaction open (a transaction reads what it wrote);
- the model is not one that authenticates a request (users, device tokens, sessions: a token just issued or just
  revoked counts at once, whatever the replica's lag);
- the account has not written within ``REPLICA_PIN_SECONDS`` (read-your-writes): a request by an authenticated
  account that writes, or that uses an unsafe method, leaves a key in the cache for that long, and that account's
  reads go to the primary meanwhile. The cache must be the shared one (Redis, ``CACHE_URL``) when there is more
  than one app process.
"""

import contextvars
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import FileResponse
from redis.exceptions import RedisError

REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The models that authenticate a request, and Django's own bookkeeping: always the primary.
PRIMARY_ONLY_APPS = frozenset({"admin", "auth", "contenttypes", "sessions", "knox"})
PRIMARY_ONLY_MODELS = frozenset({"agri.user", "agri.devicetoken", "agri.retiredtoken"})


def replica_configured() -> bool:
    return REPLICA in connections.settings


def pin_key(user_id) -> str:
    return f"db-primary-pin:user:{user_id}"


@dataclass
class RequestReads:
    """Where one request's reads may go, as it is answered."""

    request: object
    replica_allowed: bool = False
    wrote: bool = False
    _user_pinned: bool | None = field(default=None, repr=False)

    def user_pinned(self) -> bool:
        """Whether the request's account wrote within ``REPLICA_PIN_SECONDS`` (asked of the cache once per request,
        once the account is known: DRF authenticates tokens inside the view)."""
        if self._user_pinned is None:
            user = getattr(self.request, "user", None)
            if user is None or not user.is_authenticated:
                return False
            try:
                self._user_pinned = bool(cache.get(pin_key(user.pk)))
            except RedisError:  # without the cache no pin can be seen: read what is certainly current
                self._user_pinned = True
        return self._user_pinned


_reads: contextvars.ContextVar[RequestReads | None] = contextvars.ContextVar("nongji_request_reads", default=None)


def _primary_only(model) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS


class PrimaryReplicaRouter:
    """Sends the reads allowed above to ``replica``; every write, and every other read, to the primary."""

    def db_for_read(self, model, **hints):
        reads = _reads.get()
        if reads is None or not reads.replica_allowed or reads.wrote or _primary_only(model):
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block or not replica_configured():
            return None
        if reads.user_pinned():
            return None
        return REPLICA

    def db_for_write(self, model, **hints):
        reads = _reads.get()
        if reads is not None and not _primary_only(model):
            reads.wrote = True  # token renewals and session saves do not count: those models are read from the primary
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database and its copy

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None  # a standby is read-only: migrations run on the primary


class ReplicaRoutingMiddleware:
    """Opens the request's :class:`RequestReads` for the router, and pins the account to the primary for
    ``REPLICA_PIN_SECONDS`` after a request of it that wrote."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        reads = RequestReads(request)
        token = _reads.set(reads)
        try:
            response = self.get_response(request)
        finally:
            _reads.reset(token)
        if response.streaming and not isinstance(response, FileResponse):
            # A streamed export reads as it is sent, after this method returned.
            response.streaming_content = _within(reads, response.streaming_content)
        if reads.wrote or request.method not in SAFE_METHODS:
            self.pin(request)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        reads = _reads.get()
        if reads is not None and request.method in ("GET", "HEAD"):
            reads.replica_allowed = request.resolver_match.view_name in settings.REPLICA_READ_VIEWS

    @staticmethod
    def pin(request) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        try:
            cache.set(pin_key(user.pk), 1, timeout=settings.REPLICA_PIN_SECONDS)
        except RedisError:  # the write is done; while the cache is down every read goes to the primary anyway
            pass


def _within(reads: RequestReads, content):
    """``content``, each chunk produced with the request's reads open."""
    iterator = iter(content)
    while True:
        token = _reads.set(reads)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _reads.reset(token)
        yield chunk
