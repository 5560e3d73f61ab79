"""GIS exports for the bureau: visits, model households, demonstration bases and coverage.

``GET /api/v1/exports/<resource>/?format=geojson|gpkg|shp|kml`` with the same filters as the resource's list.
Bureau roles (and superusers) only: a bulk export is a bureau task, and the rows are scoped to the caller's
jurisdiction as in the lists. Personal data is masked as in the API (bureau viewers see masked phones).

GeoJSON and KML stream chunk by chunk; GeoPackage and Shapefile are written in chunks of ``EXPORT_CHUNK_ROWS``
to a temporary file, which is then streamed (see ``geo.exports``). The rows come from ``agri.selectors.exports``.
All coordinates are WGS-84. A ``POST`` to the same URL and query runs the export as a job instead (``agri.api.jobs``):
202 at once, and the file kept for download.
"""

import tempfile

from django.conf import settings
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from agri.api.base import FileView
from agri.api.coverage_serializers import CoverageFileQuerySerializer, coverage_filter
from agri.api.fields import QuerySerializer
from agri.api.filters import (
    DemonstrationBaseFilterSet,
    FilterBackend,
    ModelHouseholdFilterSet,
    PrivateSearchFilter,
    VisitFilterSet,
)
from agri.api.jobs import export_job_schema, start_export_job
from agri.api.renderers import QueryFormatNegotiation, download_renderer
from agri.models import DemonstrationBase, ModelHousehold, Visit
from agri.privacy import HOUSEHOLD
from agri.selectors.coverage import coverage_by_division
from agri.selectors.exports import (
    BASE_PARCEL_LAYER,
    BASE_POINT_LAYER,
    COVERAGE_LAYER,
    HOUSEHOLD_LAYER,
    VISIT_LAYER,
    base_export_chunks,
    coverage_export_chunks,
    household_export_chunks,
    visit_export_chunks,
)
from agri.services.jobs import JobProgress, JobResult, job_counted
from geo.exports import EXTENSIONS, FORMATS, MEDIA_TYPES, Layer, geojson_stream, kml_stream, write_file

DEFAULT_CHUNK_ROWS = 5000
EXPORT_RENDERERS = [download_renderer(fmt, MEDIA_TYPES[fmt]) for fmt in FORMATS]


def chunk_rows() -> int:
    return int(getattr(settings, "EXPORT_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))


def export_filename(layer: Layer, fmt: str) -> str:
    return f"{layer.name}-{timezone.localdate():%Y%m%d}.{EXTENSIONS[fmt]}"


def export_response(layer: Layer, chunks, fmt: str):
    """Stream GeoJSON/KML as they are produced; write GeoPackage/Shapefile in chunks, then stream the file."""
    filename = export_filename(layer, fmt)
    if fmt in ("geojson", "kml"):
        stream = geojson_stream if fmt == "geojson" else kml_stream
        response = StreamingHttpResponse(stream(layer, chunks), content_type=MEDIA_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        write_file(layer, chunks, fmt), as_attachment=True, filename=filename, content_type=MEDIA_TYPES[fmt]
    )


def export_file(layer: Layer, chunks, fmt: str) -> JobResult:
    """The export as a file for a job: GeoPackage/Shapefile as ``geo.exports`` writes them, GeoJSON/KML streamed
    into an unnamed temporary file (never held in memory)."""
    if fmt in ("geojson", "kml"):
        stream = geojson_stream if fmt == "geojson" else kml_stream
        file = tempfile.TemporaryFile(prefix="nongji-export-")
        for part in stream(layer, chunks):
            file.write(part)
        file.seek(0)
    else:
        file = write_file(layer, chunks, fmt)
    return JobResult(file, export_filename(layer, fmt), MEDIA_TYPES[fmt])


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=list(FORMATS),
    description="geojson (default, streamed), gpkg (GeoPackage), shp (zipped Shapefile, UTF-8 .cpg) or kml.",
)
FILE_RESPONSES = {
    # GeoJSON is JSON (a FeatureCollection); the other formats are files.
    **{(200, MEDIA_TYPES[fmt]): OpenApiTypes.OBJECT if fmt == "geojson" else OpenApiTypes.BINARY for fmt in FORMATS},
    400: OpenApiResponse(description="invalid filter or format"),
    403: OpenApiResponse(description="not bureau staff"),
}


def export_schema(summary: str, description: str, parameters=()):
    return extend_schema(
        summary=summary,
        description=description + " Bureau roles only; rows scoped to the caller's jurisdiction. WGS-84.",
        parameters=[FORMAT_PARAMETER, *parameters],
        responses=FILE_RESPONSES,
    )


class ExportView(FileView):
    """Base of the per-resource exports: a scoped, filtered queryset turned into chunks of (rows, geometries)."""

    renderer_classes = EXPORT_RENDERERS
    content_negotiation_class = QueryFormatNegotiation  # an unknown ?format= is a 400, not DRF's 404
    filter_backends = [FilterBackend, PrivateSearchFilter]
    schema_list_filters = True  # api_docs: document the list's filters although the answer is a file
    layer: Layer

    def chunks(self, queryset):
        raise NotImplementedError

    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        return export_response(self.get_layer(), self.chunks(queryset), request.accepted_renderer.format)

    @export_job_schema
    def post(self, request):
        self.filter_queryset(self.get_queryset())  # a bad filter is a 400 now, not a failed job later
        self.get_layer()
        return start_export_job(request, self.job_kind, {"format": request.accepted_renderer.format})

    def job_chunks(self, progress: JobProgress):
        """The export's chunks as a job writes them: the rows counted first, each chunk reported done."""
        queryset = self.filter_queryset(self.get_queryset())
        progress.total(queryset.count())
        return job_counted(self.chunks(queryset), progress)

    def get_layer(self) -> Layer:
        return self.layer

    def job_file(self, job, progress: JobProgress) -> JobResult:
        return export_file(self.get_layer(), self.job_chunks(progress), job.parameters["format"])


@export_schema(
    "Export visits (GeoJSON, GeoPackage, Shapefile, KML)", "Live visits as points, same filters as the list."
)
class VisitExportView(ExportView):
    queryset = Visit.objects.all()
    filterset_class = VisitFilterSet
    search_fields = ["notes"]
    layer = VISIT_LAYER
    job_kind = "export-visits"

    def get_queryset(self):
        return Visit.objects.visible_to(self.request.user).alive().order_by("started_at", "id")

    def chunks(self, queryset):
        return visit_export_chunks(queryset, user=self.request.user, size=chunk_rows())


@export_schema("Export model households", "Live model households as points, same filters as the list.")
class ModelHouseholdExportView(ExportView):
    queryset = ModelHousehold.objects.all()
    filterset_class = ModelHouseholdFilterSet
    search_fields = ["head_name", "address"]
    coarse_hidden_fields = HOUSEHOLD.names + HOUSEHOLD.addresses
    layer = HOUSEHOLD_LAYER
    job_kind = "export-model-households"

    def get_queryset(self):
        return ModelHousehold.objects.visible_to(self.request.user).alive().order_by("created_at", "id")

    def chunks(self, queryset):
        return household_export_chunks(queryset, user=self.request.user, size=chunk_rows())


class BaseExportQuerySerializer(QuerySerializer):
    geometry = serializers.ChoiceField(
        choices=["point", "parcel"],
        default="point",
        help_text=_("point: each base's location; parcel: its parcel polygon (empty where none is recorded)."),
    )


@export_schema(
    "Export demonstration bases",
    "Bases as points, or as parcel polygons with `geometry=parcel`; same filters as the list.",
    [BaseExportQuerySerializer],
)
class DemonstrationBaseExportView(ExportView):
    queryset = DemonstrationBase.objects.all()
    filterset_class = DemonstrationBaseFilterSet
    search_fields = ["name", "operator"]
    query_serializer_class = BaseExportQuerySerializer
    job_kind = "export-demonstration-bases"

    def get_queryset(self):
        return DemonstrationBase.objects.visible_to(self.request.user).order_by("name", "id")

    def get_layer(self) -> Layer:
        return BASE_PARCEL_LAYER if self.query()["geometry"] == "parcel" else BASE_POINT_LAYER

    def chunks(self, queryset):
        return base_export_chunks(queryset, parcels=self.get_layer() is BASE_PARCEL_LAYER, size=chunk_rows())


@export_schema(
    "Export coverage by division",
    "The figures of `GET /coverage/divisions/` (same filters) with each division's simplified boundary.",
    [CoverageFileQuerySerializer],
)
class CoverageExportView(ExportView):
    filter_backends = []
    query_serializer_class = CoverageFileQuerySerializer
    layer = COVERAGE_LAYER
    job_kind = "export-coverage"

    def get(self, request):
        return export_response(COVERAGE_LAYER, self.coverage_chunks(), request.accepted_renderer.format)

    @export_job_schema
    def post(self, request):
        self.query()
        return start_export_job(request, self.job_kind, {"format": request.accepted_renderer.format})

    def coverage_chunks(self):
        q = self.query()
        return coverage_export_chunks(
            coverage_by_division(user=self.request.user, level=q["level"], only=coverage_filter(q))
        )

    def job_chunks(self, progress: JobProgress):
        chunks = self.coverage_chunks()
        progress.total(len(chunks[0][0]))
        return job_counted(chunks, progress)
