"""The project's middleware.

- :class:`ServiceUnavailableMiddleware`: a 503 page, not a 500, when a service the server depends on is down, for
  the pages outside the API (admin, the map's login): the API's own exception handler (agri.api.exceptions) already
  answers 503 in its error shape.
- :class:`CompressionMiddleware`: zstd, Brotli or gzip bodies for clients that ask, with the ETag left strong and
  unchanged, streamed responses compressed as they stream, and responses that carry a secret left alone (BREACH).
- :class:`NulCharacterMiddleware`: a NUL character (U+0000) in the path or the query string is a 400 before any view
  sees it: PostgreSQL's text cannot hold one, so every lookup, filter and search with it would otherwise fail.
- :class:`ContentETagMiddleware`: a GET answered 200 without an ETag of its own gets the hash of its (uncompressed)
  body as a strong ETag, and ``If-None-Match`` with it a 304.
- :class:`LoginRefusedMiddleware`: a session login (the admin's, ``/accounts/login/``, the browsable API's) that
  ``agri.lockout`` refused, locked or throttled, is a 429 page that says why and for how long, in the user's
  language, instead of "wrong password".
- :class:`PrivacyReaderMiddleware`: while a request is answered, records show their personal data as its account
  may see them (``agri.privacy.reading_as``): a household's or farmer's name wherever the page prints the record
  itself (the admin's breadcrumbs, titles, select options, autocompletes, delete confirmations).
- :class:`ReleaseRenderedMiddleware`: a rendered API response lets go of its data, view and request at once, rather
  than at the garbage collector's next full pass.
"""

import gzip
import hashlib
import logging
import re
import zlib
from functools import wraps

import brotli
import zstandard
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.translation import gettext as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agri.errors import RETRY_AFTER_SECONDS
from agri.lockout import LOCKED, login_refusal
from agri.privacy import reading_as

UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
logger = logging.getLogger(__name__)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, UNAVAILABLE):
            return None
        logger.error("service unavailable on %s: %s", request.path, exception, exc_info=exception)
        response = HttpResponse(
            _("The service is unavailable just now. Try again in a minute."),
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class NulCharacterMiddleware:
    """Refuse a NUL character in the path or in any query parameter's name or value, once for every view: the
    API's error shape (``nul_character``, 400) under ``/api/``, plain text elsewhere (the admin, the map)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            message = _("The request contains a NUL character (U+0000), which is not allowed.")
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "nul_character", "message": message, "fields": {}}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class LoginRefusedMiddleware:
    """Replaces the answer to a login that ``LockoutModelBackend`` refused with a 429 page and ``Retry-After``.

    The backend refuses before any password is checked, for every caller of ``authenticate()``; Django's login forms
    would then say "wrong username or password", which is neither true nor helpful. The API's login view answers its
    own 429 (``login_locked`` or ``throttled``) and never reaches this: its request object is DRF's.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        refusal = login_refusal(request)
        if refusal is None:
            return response
        reason, wait = refusal
        minutes = max(1, -(-wait // 60))
        if reason == LOCKED:
            message = _("Too many failed logins for this account or from this network. Try again later.")
        else:
            message = _("Too many login attempts from this network.")
        again = _("You can try again in %(minutes)d min.") % {"minutes": minutes}
        page = render(
            request,
            "agri/login_refused.html",
            {"message": message, "again": again, "login_url": request.get_full_path()},
            status=429,
        )
        page["Retry-After"] = str(wait)
        return page


class PrivacyReaderMiddleware:
    """The request's account is the reader of every record shown while it is answered, templates rendered
    included (``agri.privacy.reading_as``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with reading_as(request):
            return self.get_response(request)


# --- compression ------------------------------------------------------------------------------------------------

COMPRESS_MIN_BYTES = 1024  # below this the coding's own overhead eats the gain
# Text only: images, ZIP, XLSX and GeoPackage are compressed already, or not worth it.
COMPRESSIBLE = re.compile(r"^(text/[^;]+|application/([^;]*[+/])?(json|xml|javascript|vnd\.oai\.openapi))\s*(;|$)")
# Fast levels: a page of 1,000 visits in 4-7 ms of CPU at 8.7-9.7x (bench/compression.py).
GZIP_LEVEL, BROTLI_QUALITY, ZSTD_LEVEL = 6, 5, 6
CODINGS = ("zstd", "br", "gzip")  # the server's preference when the client's q-values tie
NEVER_COMPRESS = "never_compress"


def never_compress(response):
    """Mark a response that carries a secret (a token, a CSRF token): it is sent as it is, never compressed, so
    that its length cannot leak the secret byte by byte (BREACH)."""
    setattr(response, NEVER_COMPRESS, True)
    return response


def never_compress_view(view):
    """The same, for every response of a view (e.g. the session login page)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return never_compress(view(request, *args, **kwargs))

    return wrapped


def carries_secret(request, response) -> bool:
    """A response marked with :func:`never_compress`, or one that hands out a CSRF token (a form, the session
    login, the browsable API)."""
    if getattr(response, NEVER_COMPRESS, False):
        return True
    return bool(request.META.get("CSRF_COOKIE_NEEDS_UPDATE")) or settings.CSRF_COOKIE_NAME in response.cookies


def chosen_coding(accept_encoding: str) -> str | None:
    """The coding to use for an ``Accept-Encoding`` header: the client's highest q-value among ours, ties going to
    the order of ``CODINGS``; ``None`` for identity."""
    weights = {}
    for part in accept_encoding.split(","):
        name, _sep, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"\bq\s*=\s*([0-9.]+)", params, re.IGNORECASE)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        if name.strip():
            weights[name.strip().lower()] = q
    star = weights.get("*", 0.0)
    best = max(CODINGS, key=lambda coding: (weights.get(coding, star), -CODINGS.index(coding)))
    return best if weights.get(best, star) > 0 else None


def _compress(coding: str, data: bytes) -> bytes:
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    if coding == "br":
        return brotli.compress(data, quality=BROTLI_QUALITY)
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


class _Stream:
    """One coding's streaming compressor: ``feed`` returns what is ready, ``finish`` the rest."""

    def __init__(self, coding: str):
        if coding == "zstd":
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
            self.feed, self.finish = compressor.compress, compressor.flush
        elif coding == "br":
            compressor = brotli.Compressor(quality=BROTLI_QUALITY)
            self.feed, self.finish = compressor.process, compressor.finish
        else:
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip wrapper
            self.feed, self.finish = compressor.compress, compressor.flush


def _compressed_stream(coding, chunks):
    stream = _Stream(coding)
    for chunk in chunks:
        if out := stream.feed(bytes(chunk)):
            yield out
    yield stream.finish()


async def _compressed_async_stream(coding, chunks):
    stream = _Stream(coding)
    async for chunk in chunks:
        if out := stream.feed(bytes(chunk)):
            yield out
    yield stream.finish()


class CompressionMiddleware:
    """Compress text responses of at least ``COMPRESS_MIN_BYTES`` for clients that send ``Accept-Encoding``.

    Unlike Django's GZipMiddleware, the ``ETag`` is left as it is, strong: it names the content, whatever coding
    carries it, so ``If-Match`` and ``If-None-Match`` compare against the same validator with or without
    compression (docs/api.md, "Compression"). Streaming responses (GeoJSON, KML) are compressed chunk by chunk, never
    buffered. Not compressed: HEAD, 204 and 304, bodies already coded or not text, and responses that carry a secret:
    those marked with :func:`never_compress` and any that hands out a CSRF token.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 304:  # it carries the Vary of the 200 it stands for
            patch_vary_headers(response, ("Accept-Encoding",))
        if not self._eligible(request, response):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        coding = chosen_coding(request.headers.get("Accept-Encoding", ""))
        if coding is None:
            return response
        if response.streaming:
            if response.is_async:
                response.streaming_content = _compressed_async_stream(coding, response.streaming_content)
            else:
                response.streaming_content = _compressed_stream(coding, response.streaming_content)
            del response.headers["Content-Length"]
        else:
            compressed = _compress(coding, response.content)
            if len(compressed) >= len(response.content):
                return response
            response.content = compressed
            response.headers["Content-Length"] = str(len(compressed))
        response.headers["Content-Encoding"] = coding
        return response

    @staticmethod
    def _eligible(request, response) -> bool:
        if request.method == "HEAD" or response.status_code in (204, 304) or response.status_code < 200:
            return False
        if response.has_header("Content-Encoding") or not COMPRESSIBLE.match(response.get("Content-Type", "")):
            return False
        if carries_secret(request, response):
            return False
        if response.streaming:
            length = response.get("Content-Length")
            return length is None or int(length) >= COMPRESS_MIN_BYTES
        return len(response.content) >= COMPRESS_MIN_BYTES


class ContentETagMiddleware:
    """A GET answered 200 without an ETag of its own (lists, pulls, coverage) gets ``"<hash of the body>"``, strong,
    computed before any compression; one with its own (a record's version) keeps it. ``If-None-Match`` naming the
    ETag gets a 304 and no body: the one place the API answers 304 for its JSON (photo files answer their own).
    Streaming responses, ``no-store`` ones and those carrying a secret get none. Sits below
    :class:`CompressionMiddleware`, so that it hashes the body as the view wrote it, and the 304 is decided before
    anything is compressed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or response.streaming
            or "no-store" in response.get("Cache-Control", "")
            or carries_secret(request, response)
        ):
            return response
        if not response.has_header("ETag"):
            response.headers["ETag"] = f'"{hashlib.blake2b(response.content, digest_size=16).hexdigest()}"'
        return get_conditional_response(request, etag=response.headers["ETag"], response=response)


class ReleaseRenderedMiddleware:
    """Once an API response is rendered, let go of what rendered it: its data, its view and its request.

    DRF ties a response, its view and its request together in reference cycles (``view.response``,
    ``response.renderer_context["view"]``, ``request.parser_context["view"]``), which reference counting cannot free:
    a page of a thousand records, the paginator's keys and a batch push's parsed body then stayed in memory until the
    cyclic collector's next full pass, and that pass, walking the pages of every request since the last one, took
    hundreds of milliseconds in the middle of some later request (the sync feed's bench found ~5,000 such objects a
    page). Nothing reads them after rendering: the body is bytes by then. Innermost of the middleware, so that the
    response it sees is the rendered one; responses that are not DRF's, or not rendered, are left as they are.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        context = getattr(response, "renderer_context", None)
        if context is None or not getattr(response, "is_rendered", False):
            return response
        view, api_request = context.get("view"), context.get("request")
        response.data = None
        response.renderer_context = None
        if view is not None:
            vars(view).clear()
        if api_request is not None:
            api_request.parser_context = None
        return response
