"""One error shape for the whole API: ``{"code", "message", "fields"}``.

``code`` is machine-readable and stable; ``message`` follows the request's language (zh-hans or
en); ``fields`` maps each offending field (dotted path for nested items) to a list of
``{"code", "message"}``.
"""

import logging
from datetime import datetime

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError
from django.http import Http404, JsonResponse, UnreadablePostError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from agri import errors

logger = logging.getLogger(__name__)


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = gettext_lazy("Send If-Match with the record's ETag to edit it.")
    default_code = "precondition_required"


class TusVersionUnsupported(exceptions.APIException):
    """A tus request without ``Tus-Resumable: 1.0.0`` (the only version served)."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = gettext_lazy("This server speaks tus 1.0.0 only: send Tus-Resumable: 1.0.0.")
    default_code = "tus_version_unsupported"


class NulCharacter(exceptions.ParseError):
    """PostgreSQL's text cannot hold U+0000, and no person types it: refused wherever it comes (the query string
    and the path in ``agri.middleware.NulCharacterMiddleware``, bodies in the parsers)."""

    default_detail = gettext_lazy("The request contains a NUL character (U+0000), which is not allowed.")
    default_code = "nul_character"


class NoLinkedPerson(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = gettext_lazy(
        "This account is not linked to an expert, worker or commissioner, so it cannot record visits."
    )
    default_code = "no_linked_person"


class LoginLocked(exceptions.Throttled):
    default_detail = gettext_lazy("Too many failed logins for this account or from this network. Try again later.")
    default_code = "login_locked"


RETRY_AFTER_SECONDS = errors.RETRY_AFTER_SECONDS


class DatabaseUnavailable(exceptions.APIException):
    """The database failed in a way a later retry can get past (connection lost, disk full, lock timeout)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The database is unavailable just now. Send the request again later.")
    default_code = "retry_later"
    wait = RETRY_AFTER_SECONDS  # DRF's handler turns it into Retry-After


class CacheUnavailable(DatabaseUnavailable):
    """The shared cache (Redis, ``CACHE_URL``) that holds throttles and login lockouts does not answer. Refusing
    is the safe side: without it, login lockouts and write throttles would not hold."""

    default_detail = gettext_lazy("The server's shared cache is unavailable just now. Send the request again later.")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request body is too large. Send fewer items per request.")
    default_code = "too_large"


class IncompleteRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = gettext_lazy(
        "The connection broke before the whole request arrived. Nothing was kept: send it again."
    )
    default_code = "incomplete_request"


def flatten_errors(detail, prefix="") -> dict[str, list[dict]]:
    """Turn DRF's nested ValidationError detail into {"a.0.b": [{"code", "message"}]}."""
    fields: dict[str, list[dict]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            fields.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            fields[prefix or "non_field_errors"] = [{"code": item.code, "message": str(item)} for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    fields.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    elif isinstance(detail, exceptions.ErrorDetail):
        fields[prefix or "non_field_errors"] = [{"code": detail.code, "message": str(detail)}]
    return fields


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def validation_error_body(detail) -> dict:
    fields = flatten_errors(detail)
    only = fields.get("non_field_errors")
    if only and len(fields) == 1 and len(only) == 1:
        return error_body(only[0]["code"], only[0]["message"], fields)
    return error_body("invalid", _("The request contains invalid data."), fields)


# Each kind of domain error (agri.errors) and its status; the first match wins (subclasses first).
DOMAIN_STATUS = (
    (errors.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (errors.NotAllowed, status.HTTP_403_FORBIDDEN),
    (errors.NotFoundError, status.HTTP_404_NOT_FOUND),
    (errors.Conflict, status.HTTP_409_CONFLICT),
    (errors.InUse, status.HTTP_409_CONFLICT),
    (errors.StaleVersion, status.HTTP_412_PRECONDITION_FAILED),
    (errors.Gone, status.HTTP_410_GONE),
    (errors.ChecksumMismatch, 460),  # tus 1.0's checksum extension
    (errors.TooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (errors.UnsupportedContent, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (errors.Unprocessable, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (errors.LimitReached, status.HTTP_429_TOO_MANY_REQUESTS),
    (errors.Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def api_exception(exc: errors.ApplicationError) -> exceptions.APIException:
    """The DRF exception for a domain error, so that DRF's handler sets its headers (Retry-After on a 503)."""
    if isinstance(exc, errors.InvalidInput) and exc.fields:
        return exceptions.ValidationError(
            {
                name: [exceptions.ErrorDetail(str(m), exc.code) for m in messages]
                for name, messages in exc.fields.items()
            }
        )
    error = exceptions.APIException(exc.message, exc.code)
    error.status_code = next(code for kind, code in DOMAIN_STATUS if isinstance(exc, kind))
    if isinstance(exc, errors.Unavailable):
        error.wait = RETRY_AFTER_SECONDS
    return error


def _facts(value):
    """An ApplicationError's ``extra`` as JSON: times as the API writes them."""
    if isinstance(value, dict):
        return {key: _facts(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return serializers.DateTimeField().to_representation(value)
    return value


def exception_handler(exc, context):
    extra = {}
    if isinstance(exc, errors.ApplicationError):
        extra = _facts(exc.extra)
        exc = api_exception(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ProtectedError):
        exc = api_exception(errors.InUse())
    elif isinstance(exc, UnreadablePostError):
        # The connection broke in the middle of the body (a phone losing its signal): nothing of it is kept.
        exc = IncompleteRequest()
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        # Django's size limits (DATA_UPLOAD_MAX_*) would otherwise be a bare 400 page.
        exc = PayloadTooLarge()
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.error("database unavailable: %s", exc, exc_info=exc)
        exc = DatabaseUnavailable()
    elif isinstance(exc, RedisConnectionError | RedisTimeoutError):
        logger.error("cache unavailable: %s", exc, exc_info=exc)
        exc = CacheUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(code, str(detail))
    response.data.update(extra)
    return response


def api_error_response(code: str, message: str, http_status: int, fields: dict | None = None) -> Response:
    return Response(error_body(code, message, fields), status=http_status)


def handler404(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def handler500(request):
    return JsonResponse(error_body("server_error", _("Internal server error. It has been logged.")), status=500)
