"""Visit photos: multipart upload by client UUID (idempotent), metadata, the three files, and the bureau's ZIP."""

import tempfile
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from agri.api.base import ConditionalGetMixin, FileView
from agri.api.fields import QuerySerializer
from agri.api.filters import FilterBackend, VisitFilterSet
from agri.api.jobs import export_job_schema, start_export_job
from agri.api.permissions import ACTOR_ROLES
from agri.api.photo_serializers import PhotoPutSerializer, PhotoSerializer, PhotoUploadSerializer
from agri.api.renderers import JSONRenderer, MultiPartParser
from agri.models import Photo, Visit
from agri.models.photos import photo_storage
from agri.privacy import PHOTO, may_see_original_photos, redact
from agri.selectors.photos import photo_archive_rows, photo_archive_stream
from agri.services.jobs import JobProgress, JobResult
from agri.services.photos import file_too_large, photo_ingest, photo_visit

# Multipart framing on top of the file itself; a body larger than the limit plus this is refused unread.
MULTIPART_SLACK_BYTES = 64 * 1024
VARIANTS = ("original", "display", "thumbnail")
ORIGINAL_REFUSED = _(
    "The original file carries the exact GPS position of the photo; bureau viewers get the display image instead."
)

UPLOAD_RESPONSES = {
    201: PhotoSerializer,
    200: PhotoSerializer,
    400: OpenApiResponse(description="missing id or file, or an empty file"),
    403: OpenApiResponse(description="not the person who recorded the visit"),
    404: OpenApiResponse(description="visit not found (not synced yet, or not visible)"),
    409: OpenApiResponse(description="this photo id is taken (code `conflict`): nothing was changed"),
    413: OpenApiResponse(description="file over the size limit (PHOTO_MAX_BYTES, default 25 MB)"),
    415: OpenApiResponse(
        description="not a JPEG, PNG, WebP or HEIC/HEIF image, or one carrying markup in its metadata or another file "
        "(code `polyglot`)"
    ),
    422: OpenApiResponse(
        description="truncated or corrupt, over the pixel limit, over the decode memory limit (code "
        "`image_too_large`, PHOTO_MAX_DECODE_BYTES, default 256 MB), or the visit is full"
    ),
    503: OpenApiResponse(
        description="the photo store (code `storage_unavailable`) or the database (code `retry_later`) cannot take "
        "the upload just now, or the server is decoding as many photos as it may at once (code `decode_busy`); "
        "nothing was kept: upload it again later (`Retry-After`)"
    ),
}
UPLOAD_DESCRIPTION = (
    "Multipart upload of one photo. The format is decided by the content (JPEG, PNG, WebP, HEIC/HEIF), never "
    "by the file name or the part's content type. **201** = stored now; **200** = this id was already stored "
    "with the same file (nothing new is created: retrying is always safe); **409** = this id is taken "
    "(another file, another visit). EXIF time, GPS and camera are read; evidence checks flag the photo and its "
    "visit but never reject it. The visit's `photos_present` counts its photos."
)


class UploadLimitMixin:
    """Refuse an oversized body from its Content-Length, before the multipart parser spools it to disk."""

    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT"):
            limit = settings.PHOTOS["max_bytes"]
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit + MULTIPART_SLACK_BYTES:
                raise file_too_large(limit)

    def ingest(self, request, visit_id, photo_id, upload) -> Response:
        visit = photo_visit(user=request.user, visit_id=visit_id)
        photo, created = photo_ingest(user=request.user, visit=visit, photo_id=photo_id, upload=upload)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(PhotoSerializer(photo, context={"request": request}).data, status=code)


class VisitPhotosView(UploadLimitMixin, GenericAPIView):
    """The photos of one visit: list them, or upload one."""

    queryset = Photo.objects.all()
    serializer_class = PhotoSerializer
    pagination_class = None
    filter_backends = []
    write_roles = {"*": ACTOR_ROLES}

    @extend_schema(summary="List a visit's photos", responses=PhotoSerializer(many=True))
    def get(self, request, visit_id):
        if not Visit.objects.visible_to(request.user).alive().filter(pk=visit_id).exists():
            raise NotFound()
        photos = Photo.objects.filter(visit_id=visit_id).order_by("created_at", "id")
        return Response(PhotoSerializer(photos, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Upload a photo of a visit (idempotent on its id)",
        description=UPLOAD_DESCRIPTION,
        request={"multipart/form-data": PhotoUploadSerializer},
        responses=UPLOAD_RESPONSES,
    )
    def post(self, request, visit_id):
        serializer = PhotoUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return self.ingest(request, visit_id, data["id"], data["file"])


def _serve_schema(variant: str, description: str, content_types=("image/jpeg",)):
    return extend_schema(
        summary=f"Download a photo's {variant}",
        description=description
        + " Scoped like the visit (404 otherwise). Strong ETag: send If-None-Match to get a 304. Private caching.",
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in content_types},
            304: OpenApiResponse(description="not modified (If-None-Match matched)"),
            404: OpenApiResponse(description="not found or not visible"),
            **(
                {403: OpenApiResponse(description="bureau viewers: the original carries the exact GPS")}
                if variant == "original"
                else {}
            ),
        },
    )


class PhotoViewSet(ConditionalGetMixin, UploadLimitMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One photo: its metadata, an upload by PUT, and its three files."""

    queryset = Photo.objects.all()
    serializer_class = PhotoSerializer
    filter_backends = []
    http_method_names = ["get", "put", "head", "options"]
    write_roles = {"update": ACTOR_ROLES}

    def get_queryset(self):
        return Photo.objects.visible_to(self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # The files ignore Accept (an image client asks for image/*); errors are the API's JSON all the same.
        if self.action in VARIANTS:
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(summary="Get one photo's metadata")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a photo by its id (idempotent)",
        description=UPLOAD_DESCRIPTION + " Same as POST /visits/{visit_id}/photos/, with the visit in the body.",
        request={"multipart/form-data": PhotoPutSerializer},
        responses=UPLOAD_RESPONSES,
    )
    def update(self, request, pk=None):
        try:
            photo_id = uuid.UUID(str(pk))
        except ValueError as exc:
            raise NotFound() from exc
        serializer = PhotoPutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.ingest(request, serializer.validated_data["visit"], photo_id, serializer.validated_data["file"])

    @_serve_schema(
        "original",
        "The file exactly as uploaded, with its own content type, as an attachment.",
        ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"),
    )
    @action(detail=True, methods=["get"])
    def original(self, request, pk=None):
        return self._serve(request, "original")

    @_serve_schema("display image", "JPEG, longest side at most 1600 px, upright, without any metadata.")
    @action(detail=True, methods=["get"])
    def display(self, request, pk=None):
        return self._serve(request, "display")

    @_serve_schema("thumbnail", "JPEG, longest side at most 320 px, upright, without any metadata.")
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        return self._serve(request, "thumbnail")

    def _serve(self, request, variant: str):
        photo = self.get_object()
        if variant == "original" and not may_see_original_photos(request.user):
            raise PermissionDenied(ORIGINAL_REFUSED)
        stored = getattr(photo, variant)
        # Stored files are never rewritten (every write has a name of its own), so the name is a strong validator.
        headers = {
            "ETag": f'"{PurePosixPath(stored.name).stem}"',
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        not_modified = get_conditional_response(request, etag=headers["ETag"], response=HttpResponse(headers=headers))
        if not_modified.status_code != status.HTTP_200_OK:
            return not_modified
        content_type = photo.content_type if variant == "original" else "image/jpeg"
        extension = PurePosixPath(stored.name).suffix
        response = FileResponse(
            photo_storage().open(stored.name, "rb"),
            content_type=content_type,
            as_attachment=variant == "original",
            filename=f"{photo.pk}-{variant}{extension}",
        )
        for name, value in headers.items():
            response[name] = value
        return response


# --- bulk download for the bureau -----------------------------------------------------------------------------------


class PhotoArchiveQuerySerializer(QuerySerializer):
    variant = serializers.ChoiceField(
        choices=["original", "display"],
        required=False,
        help_text=_(
            "original: the files as uploaded (the default; not for bureau viewers); display: 1600 px JPEGs without "
            "metadata (the default for bureau viewers)."
        ),
    )


class PhotoArchiveView(FileView):
    """The photos of the visits matching the visit filters, as one streamed ZIP with a CSV manifest (``POST``: the
    same ZIP made by a job, ``agri.api.jobs``)."""

    job_kind = "export-photos"
    query_serializer_class = PhotoArchiveQuerySerializer
    queryset = Visit.objects.all()
    filterset_class = VisitFilterSet
    filter_backends = [FilterBackend]

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type  # the ZIP ignores Accept; errors are JSON

    @extend_schema(
        summary="Download visit photos as a ZIP (bureau)",
        description=(
            "The photos of the visits matching the same filters as the visit list, streamed as a ZIP: one folder "
            "per visit, and `manifest.csv` (UTF-8 with a BOM, for Excel) listing visit, photo, taken_at, GPS and "
            "flags. Bureau roles only; scoped to the caller's jurisdiction."
        ),
        parameters=[PhotoArchiveQuerySerializer],
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="invalid filter or variant"),
            403: OpenApiResponse(description="not bureau staff, or a bureau viewer asking for the originals"),
        },
    )
    def get(self, request):
        variant = self.variant()
        rows = self.archive_rows()
        response = StreamingHttpResponse(photo_archive_stream(rows, variant), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{archive_filename()}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response

    @export_job_schema(parameters=[PhotoArchiveQuerySerializer])
    def post(self, request):
        variant = self.variant()
        self.filter_queryset(Visit.objects.none())  # a bad filter is a 400 now
        return start_export_job(request, self.job_kind, {"variant": variant})

    def variant(self) -> str:
        originals = may_see_original_photos(self.request.user)
        variant = self.query().get("variant", "original" if originals else "display")
        if variant == "original" and not originals:
            raise PermissionDenied(ORIGINAL_REFUSED)
        return variant

    def archive_rows(self) -> list[dict]:
        visits = self.filter_queryset(Visit.objects.visible_to(self.request.user).alive())
        return redact(photo_archive_rows(visits), self.request.user, PHOTO)

    def job_file(self, job, progress: JobProgress) -> JobResult:
        """The ZIP written to an unnamed temporary file, a photo at a time."""
        variant = self.variant()  # the owner's right to the originals, checked again as the job runs
        rows = self.archive_rows()
        progress.total(len(rows))
        file = tempfile.TemporaryFile(prefix="nongji-photos-")
        for part in photo_archive_stream(rows, variant, on_photo=lambda: progress.advance(1)):
            file.write(part)
        file.seek(0)
        return JobResult(file, archive_filename(), "application/zip")


def archive_filename() -> str:
    return f"visit-photos-{timezone.localdate():%Y%m%d}.zip"
