"""Resumable photo uploads: a tus 1.0 server (core protocol, creation, creation-with-upload, termination, checksum,
expiration) under ``/api/v1/uploads/``. A finished upload becomes exactly the photo the multipart upload would make.

Authentication, scoping, throttling and the JSON error shape are the API's; the status codes and headers are
tus's, so that tus clients (tus-android-client, TUSKit, tus-js-client, tuspy) work as they are. docs/mobile.md
describes the flow for phone developers.
"""

import base64
import binascii
import logging

from django.conf import settings
from django.urls import reverse
from django.utils.http import http_date
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agri.api.exceptions import TusVersionUnsupported
from agri.api.permissions import ACTOR_ROLES
from agri.api.renderers import JSONRenderer
from agri.api.upload_serializers import UploadMetadataSerializer, parse_upload_metadata
from agri.models import PhotoUpload
from agri.services import uploads as upload_service
from agri.services.photos import file_too_large, photo_visit

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
READ_BLOCK_BYTES = 64 * 1024
CHECKSUM_MISMATCH = 460  # tus's own status for a piece that does not match Upload-Checksum


def _header_int(request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None and not required:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise exceptions.ValidationError(
            {name: [_("Send %(header)s as a whole number of bytes.") % {"header": name}]}, code="invalid"
        )
    return value


def _checksum(request) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``, or None."""
    raw = request.headers.get("Upload-Checksum")
    if not raw:
        return None
    algorithm, _sep, encoded = raw.strip().partition(" ")
    if algorithm not in upload_service.CHECKSUM_ALGORITHMS:
        raise exceptions.ValidationError(
            _("Unsupported Upload-Checksum algorithm; use sha256, sha1 or md5."), code="checksum_algorithm_unsupported"
        )
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise exceptions.ValidationError(
            {"Upload-Checksum": [_("The checksum must be Base64.")]}, code="invalid"
        ) from exc


def _read_body(request, length: int) -> bytes:
    """Up to ``length`` bytes of the body, as many as arrive: a connection cut part-way gives what came before the
    cut (tus keeps those bytes, so that the client resumes after them)."""
    stream = request.stream
    received = bytearray()
    while stream is not None and len(received) < length:
        try:
            block = stream.read(min(READ_BLOCK_BYTES, length - len(received)))
        except OSError:  # a reset connection; Django's UnreadablePostError is one too
            logger.info("upload body cut after %d of %d bytes", len(received), length)
            break
        if not block:
            break
        received += block
    return bytes(received)


class TusView(APIView):
    """The tus floor shared by the upload endpoints: the version check, tus's headers on every answer (errors
    included), and discovery by OPTIONS without a login."""

    renderer_classes = [JSONRenderer]
    parser_classes = []  # the body is the file's bytes, read by the view as they arrive
    write_roles = {"*": ACTOR_ROLES}

    def get_permissions(self):
        if self.request is not None and self.request.method == "OPTIONS":
            return []
        return super().get_permissions()

    def perform_authentication(self, request):
        if request.method != "OPTIONS":
            super().perform_authentication(request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # the login first: without one, a 401 as anywhere in the API
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusVersionUnsupported()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Cache-Control"] = "no-store"
        if response.status_code == CHECKSUM_MISMATCH:
            response.reason_phrase = "Checksum Mismatch"
        if request.method == "OPTIONS" or response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = TUS_VERSION
        return response

    def options(self, request, *args, **kwargs):
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.PHOTOS["max_bytes"]),
                "Tus-Checksum-Algorithm": ",".join(upload_service.CHECKSUM_ALGORITHMS),
            },
        )

    def progress_headers(self, upload: PhotoUpload) -> dict[str, str]:
        headers = {"Upload-Offset": str(upload.offset)}
        if upload.completed_at is None:
            headers["Upload-Expires"] = http_date(upload.expires_at.timestamp())
        return headers

    def append(self, request, upload: PhotoUpload, offset: int) -> PhotoUpload:
        """Take the body (``Content-Type: application/offset+octet-stream``) as the bytes from ``offset``."""
        length = _header_int(request, "Content-Length", required=False) or 0
        checksum = _checksum(request)
        # Before the body is read: on a wrong offset the client asks (HEAD) and resumes.
        upload_service.upload_check_piece(upload=upload, offset=offset, size=length)
        data = _read_body(request, length)
        if checksum is not None and len(data) < length:
            return upload  # cut short: a partial piece cannot match its checksum, so none of it is kept
        return upload_service.upload_append(upload=upload, offset=offset, data=data, checksum=checksum)


TUS_RESUMABLE = OpenApiParameter(
    "Tus-Resumable",
    {"type": "string", "enum": [TUS_VERSION]},
    OpenApiParameter.HEADER,
    required=True,
    description="The tus version: 1.0.0 (412 otherwise).",
)
UPLOAD_EXPIRES = OpenApiParameter(
    "Upload-Expires",
    str,
    OpenApiParameter.HEADER,
    response=[201, 204],
    description="When the unfinished upload expires (RFC 9110 date); every piece received moves it on.",
)
UPLOAD_OFFSET_OUT = OpenApiParameter(
    "Upload-Offset", int, OpenApiParameter.HEADER, response=[201, 204], description="Bytes received so far."
)
TUS_ERRORS = {
    400: OpenApiResponse(description="a tus header missing or malformed, or Upload-Metadata without visit and id"),
    403: OpenApiResponse(description="not the person who recorded the visit"),
    404: OpenApiResponse(description="no such upload of this account, or the visit is not found (sync it first)"),
    409: OpenApiResponse(
        description="`offset_mismatch`: Upload-Offset is not the upload's offset (ask by HEAD, resume from there); "
        "`conflict`: this photo id is stored with another file"
    ),
    410: OpenApiResponse(description="`upload_expired`: the upload expired unfinished; start again"),
    412: OpenApiResponse(description="`tus_version_unsupported`: Tus-Resumable is not 1.0.0"),
    413: OpenApiResponse(
        description="`file_too_large` (Upload-Length over Tus-Max-Size), `upload_length_exceeded` (bytes past "
        "Upload-Length) or `pending_uploads_too_large` (the account's unfinished uploads would hold too much)"
    ),
    415: OpenApiResponse(
        description="`unsupported_format` / `polyglot`: the first bytes are not an accepted photo (the upload is "
        "removed); or the PATCH body is not application/offset+octet-stream"
    ),
    422: OpenApiResponse(description="the whole file is truncated or corrupt, over the pixel limit; the visit is full"),
    429: OpenApiResponse(description="`too_many_uploads`: the account has its most unfinished uploads; or throttled"),
    460: OpenApiResponse(description="`checksum_mismatch`: the piece does not match Upload-Checksum; nothing kept"),
    503: OpenApiResponse(description="the store or database cannot take the bytes just now; retry (`Retry-After`)"),
}


class PhotoUploadsView(TusView):
    """Resumable photo uploads (tus 1.0): discovery and creation."""

    @extend_schema(
        summary="Discover the tus server (no login)",
        description="tus 1.0 discovery: Tus-Version, Tus-Extension, Tus-Max-Size (PHOTO_MAX_BYTES) and "
        "Tus-Checksum-Algorithm in the headers.",
        responses={204: OpenApiResponse(description="the capabilities, in the headers")},
    )
    def options(self, request, *args, **kwargs):
        return super().options(request, *args, **kwargs)

    @extend_schema(
        summary="Start a resumable photo upload (tus creation)",
        description=(
            "tus 1.0 creation (and creation-with-upload): `Upload-Length` is the file's size, `Upload-Metadata` "
            "names the photo as the multipart upload does: `visit` (the visit's id) and `id` (the photo's client "
            "UUID), each Base64-encoded. **201** with `Location`, the upload's URL: send the bytes there by PATCH. "
            "A body of type application/offset+octet-stream is taken as the first piece. The file is checked as soon "
            "as its first bytes are in (415) and, once whole, becomes the same photo as a multipart upload of the same "
            "file: same id, checks, flags and derivatives; the same bytes under a stored id are a replay, other bytes "
            "a 409. See docs/mobile.md."
        ),
        parameters=[
            TUS_RESUMABLE,
            OpenApiParameter(
                "Upload-Length",
                {"type": "integer", "minimum": 1, "maximum": settings.PHOTOS["max_bytes"]},
                OpenApiParameter.HEADER,
                required=True,
                description="The file's size in bytes, at most Tus-Max-Size (413 otherwise, before any byte is sent).",
            ),
            OpenApiParameter(
                "Upload-Metadata",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="`visit <base64 uuid>,id <base64 uuid>` (other keys are ignored).",
            ),
            OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=[201], description="The upload's URL."),
            UPLOAD_EXPIRES,
            UPLOAD_OFFSET_OUT,
        ],
        request={OFFSET_STREAM: OpenApiTypes.BINARY},
        responses={201: OpenApiResponse(description="upload created"), **TUS_ERRORS},
    )
    def post(self, request):
        length = _header_int(request, "Upload-Length")
        if length > settings.PHOTOS["max_bytes"]:
            raise file_too_large(settings.PHOTOS["max_bytes"])
        metadata = parse_upload_metadata(request.headers.get("Upload-Metadata", ""))
        serializer = UploadMetadataSerializer(data=metadata)
        serializer.is_valid(raise_exception=True)
        visit = photo_visit(user=request.user, visit_id=serializer.validated_data["visit"])
        upload = upload_service.upload_create(
            user=request.user,
            visit=visit,
            photo_id=serializer.validated_data["id"],
            length=length,
            metadata={"pairs": metadata, "header": request.headers.get("Upload-Metadata", "")},
        )
        if request.content_type == OFFSET_STREAM:
            upload = self.append(request, upload, 0)
        headers = {
            "Location": request.build_absolute_uri(reverse("agri:upload-detail", kwargs={"pk": upload.pk})),
            **self.progress_headers(upload),
        }
        return Response(status=status.HTTP_201_CREATED, headers=headers)


class PhotoUploadView(TusView):
    """One resumable photo upload: its offset (HEAD), its next bytes (PATCH), its end (DELETE)."""

    def dispatch(self, request, *args, **kwargs):
        # tus core: a client that cannot send PATCH, HEAD or DELETE (WeChat's wx.request has no PATCH) POSTs with
        # X-HTTP-Method-Override naming the method meant.
        override = request.headers.get("X-HTTP-Method-Override", "").upper()
        if request.method == "POST" and override in ("PATCH", "HEAD", "DELETE"):
            request.method = override
        return super().dispatch(request, *args, **kwargs)

    def get_upload(self, pk) -> PhotoUpload:
        upload = PhotoUpload.objects.filter(pk=pk, user=self.request.user).select_related("visit", "user").first()
        if upload is None:
            raise exceptions.NotFound()
        return upload

    def head(self, request, pk):
        upload = self.get_upload(pk)
        upload_service.upload_check_live(upload=upload)
        headers = {
            **self.progress_headers(upload),
            "Upload-Length": str(upload.length),
            "Upload-Metadata": upload.metadata.get("header", ""),
        }
        return Response(status=status.HTTP_200_OK, headers=headers)

    @extend_schema(
        summary="Send the next bytes of a resumable photo upload (tus PATCH)",
        description=(
            "The bytes from `Upload-Offset` on, as application/offset+octet-stream; any size (the client chooses "
            "its chunk). **204** with the new `Upload-Offset`. A connection cut part-way keeps the bytes that "
            "arrived: ask `HEAD` for the offset and send the rest from there. When the last byte is in, the photo is "
            "made before the answer (the errors of the multipart upload apply: 409, 413, 415, 422). A PATCH with no "
            "body at the final offset retries a completion that met a 503. `HEAD` on the same URL answers "
            "`Upload-Offset`, `Upload-Length`, `Upload-Metadata` and `Upload-Expires`."
        ),
        parameters=[
            TUS_RESUMABLE,
            OpenApiParameter(
                "Upload-Offset",
                {"type": "integer", "minimum": 0},
                OpenApiParameter.HEADER,
                required=True,
                description="The upload's offset, as the last answer or HEAD gave it (409 otherwise).",
            ),
            OpenApiParameter(
                "Upload-Checksum",
                {"type": "string", "pattern": r"^(sha256|sha1|md5) [A-Za-z0-9+/]+={0,2}$"},
                OpenApiParameter.HEADER,
                description="`sha256 <base64 digest>` (or sha1, md5) of this request's body: 460 if it differs.",
            ),
            UPLOAD_EXPIRES,
            UPLOAD_OFFSET_OUT,
        ],
        request={OFFSET_STREAM: OpenApiTypes.BINARY},
        responses={204: OpenApiResponse(description="bytes received"), **TUS_ERRORS},
    )
    def patch(self, request, pk):
        if request.content_type != OFFSET_STREAM:
            raise exceptions.UnsupportedMediaType(request.content_type)
        offset = _header_int(request, "Upload-Offset")
        upload = self.append(request, self.get_upload(pk), offset)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=self.progress_headers(upload))

    @extend_schema(
        summary="Cancel a resumable photo upload (tus termination)",
        description="Removes the upload and every byte it stored. A photo already made from it stays.",
        parameters=[TUS_RESUMABLE],
        responses={204: OpenApiResponse(description="removed"), 404: TUS_ERRORS[404], 412: TUS_ERRORS[412]},
    )
    def delete(self, request, pk):
        upload_service.upload_terminate(upload=self.get_upload(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Discover the tus server on an upload's URL (no login)",
        responses={204: OpenApiResponse(description="the capabilities, in the headers")},
    )
    def options(self, request, *args, **kwargs):
        return super().options(request, *args, **kwargs)
