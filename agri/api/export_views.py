"""GIS exports for the bureau: visits, model households, demonstration bases and coverage.

``GET /api/v1/exports/<resource>/?format=geojson|gpkg|shp|kml`` with the same filters as the resource's list.
Bureau roles (and superusers) only: a bulk export is a bureau task, and the rows are scoped to the caller's
jurisdiction as in the lists. Personal data is masked as in the API (bureau viewers see masked phones).

GeoJSON and KML stream chunk by chunk; GeoPackage and Shapefile are written in chunks of ``EXPORT_CHUNK_ROWS``
to a temporary file, which is then streamed (see ``geo.exports``). All coordinates are WGS-84.
"""

from itertools import islice

import shapely
from django.conf import settings
from django.db.models import Count, Q
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from agri.api.coverage_serializers import DivisionCoverageQuerySerializer
from agri.api.coverage_views import DownloadRenderer, QueryFormatNegotiation
from agri.api.filters import DemonstrationBaseFilterSet, FilterBackend, ModelHouseholdFilterSet
from agri.api.serializers import can_see_personal_data
from agri.api.visit_views import VisitFilterSet
from agri.models import DemonstrationBase, ModelHousehold, Visit, VisitFlag
from agri.selectors.coverage import NoCoverageSlice, coverage_by_division
from agri.validators import mask
from geo.exports import EXTENSIONS, FORMATS, MEDIA_TYPES, Field, Layer, geojson_stream, kml_stream, write_file
from geo.geometry import from_geojson

DEFAULT_CHUNK_ROWS = 5000


# --- format selection -----------------------------------------------------------------------------


def _renderer(fmt: str) -> type[DownloadRenderer]:
    """Names a format for ``?format=`` (GeoJSON, the first, by default); the view writes the bytes itself."""
    return type(
        f"{fmt.capitalize()}ExportRenderer", (DownloadRenderer,), {"format": fmt, "media_type": MEDIA_TYPES[fmt]}
    )


EXPORT_RENDERERS = [_renderer(fmt) for fmt in FORMATS]


class IsBureauStaff(BasePermission):
    """Bureau admins, bureau viewers and superusers."""

    message = _("Bulk exports are for bureau staff.")

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.is_bureau))


class FileView(GenericAPIView):
    """A GET that answers with a file, whose errors are still the API's JSON error body."""

    permission_classes = [IsBureauStaff]
    pagination_class = None
    serializer_class = None

    def handle_exception(self, exc):
        if isinstance(exc, NoCoverageSlice):  # a Django PermissionDenied that carries its own message
            exc = PermissionDenied(exc.message, code=exc.code)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error: render it as JSON whatever format was asked for
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def chunked(iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def chunk_rows() -> int:
    return int(getattr(settings, "EXPORT_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))


def export_response(layer: Layer, chunks, fmt: str):
    """Stream GeoJSON/KML as they are produced; write GeoPackage/Shapefile in chunks, then stream the file."""
    filename = f"{layer.name}-{timezone.localdate():%Y%m%d}.{EXTENSIONS[fmt]}"
    if fmt in ("geojson", "kml"):
        stream = geojson_stream if fmt == "geojson" else kml_stream
        response = StreamingHttpResponse(stream(layer, chunks), content_type=MEDIA_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        write_file(layer, chunks, fmt), as_attachment=True, filename=filename, content_type=MEDIA_TYPES[fmt]
    )


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
    filter_backends = [FilterBackend, SearchFilter]
    schema_list_filters = True  # api_docs: document the list's filters although the answer is a file
    layer: Layer

    def chunks(self, queryset):
        raise NotImplementedError

    def get(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        return export_response(self.get_layer(), self.chunks(queryset), request.accepted_renderer.format)

    def get_layer(self) -> Layer:
        return self.layer


def points(rows: list[dict]) -> list:
    return list(shapely.points([r["lon"] for r in rows], [r["lat"] for r in rows]))


# --- visits ---------------------------------------------------------------------------------------

VISIT_LAYER = Layer(
    "visits",
    (
        Field("id"),
        Field("kind"),
        Field("industry"),
        Field("actor_type"),
        Field("actor_id", "int"),
        Field("actor_name"),
        Field("household"),
        Field("farmer"),
        Field("base", "int"),
        Field("station", "int"),
        Field("target_village", shp="target_vil"),
        Field("village_code", shp="vill_code"),
        Field("village_name", shp="vill_name"),
        Field("township_code", shp="town_code"),
        Field("started_at", "datetime"),
        Field("ended_at", "datetime"),
        Field("visit_date", "date"),
        Field("accuracy_m", "float"),
        Field("altitude_m", "float"),
        Field("source_crs"),
        Field("mock_location", "bool", shp="mock_loc"),
        Field("participants", "int", shp="particip"),
        Field("photos_expected", "int", shp="photos_exp"),
        Field("photos_present", "int", shp="photos_got"),
        Field("flags"),
        Field("notes"),
        Field("updated_at", "datetime"),
    ),
    "Point",
    title="village_name",
)
VISIT_EXPORT_VALUES = (
    "id",
    "kind",
    "industry__code",
    "worker_id",
    "worker__name",
    "expert_id",
    "expert__name",
    "commissioner_id",
    "commissioner__name",
    "household_id",
    "farmer_id",
    "base_id",
    "station_id",
    "village_id",
    "division_id",
    "division__name",
    "township_code",
    "started_at",
    "ended_at",
    "visit_date",
    "lat",
    "lon",
    "accuracy_m",
    "altitude_m",
    "source_crs",
    "mock_location",
    "participants",
    "photos_expected",
    "photos_present",
    "flag_bits",
    "notes",
    "updated_at",
)


def visit_export_row(row: dict) -> dict:
    for actor in ("worker", "expert", "commissioner"):
        if row[f"{actor}_id"]:
            break
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "industry": row["industry__code"],
        "actor_type": actor,
        "actor_id": row[f"{actor}_id"],
        "actor_name": row[f"{actor}__name"],
        "household": str(row["household_id"]) if row["household_id"] else None,
        "farmer": str(row["farmer_id"]) if row["farmer_id"] else None,
        "base": row["base_id"],
        "station": row["station_id"],
        "target_village": row["village_id"],
        "village_code": row["division_id"],
        "village_name": row["division__name"],
        "township_code": row["township_code"] or None,
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "visit_date": row["visit_date"],
        "accuracy_m": row["accuracy_m"],
        "altitude_m": row["altitude_m"],
        "source_crs": row["source_crs"],
        "mock_location": row["mock_location"],
        "participants": row["participants"],
        "photos_expected": row["photos_expected"],
        "photos_present": row["photos_present"],
        "flags": ",".join(VisitFlag.decode(row["flag_bits"])),
        "notes": row["notes"],
        "updated_at": row["updated_at"],
    }


@export_schema(
    "Export visits (GeoJSON, GeoPackage, Shapefile, KML)", "Live visits as points, same filters as the list."
)
class VisitExportView(ExportView):
    queryset = Visit.objects.all()
    filterset_class = VisitFilterSet
    search_fields = ["notes"]
    layer = VISIT_LAYER

    def get_queryset(self):
        return Visit.objects.visible_to(self.request.user).alive().order_by("started_at", "id")

    def chunks(self, queryset):
        size = chunk_rows()
        for rows in chunked(queryset.values(*VISIT_EXPORT_VALUES).iterator(chunk_size=size), size):
            yield [visit_export_row(row) for row in rows], points(rows)


# --- model households -----------------------------------------------------------------------------

HOUSEHOLD_LAYER = Layer(
    "model_households",
    (
        Field("id"),
        Field("head_name"),
        Field("phone"),
        Field("address"),
        Field("village_code", shp="vill_code"),
        Field("village_name", shp="vill_name"),
        Field("worker_id", "int"),
        Field("worker_name", shp="worker_nm"),
        Field("industries"),
        Field("farmers", "int"),
        Field("created_at", "datetime"),
        Field("updated_at", "datetime"),
    ),
    "Point",
    title="head_name",
)


@export_schema("Export model households", "Live model households as points, same filters as the list.")
class ModelHouseholdExportView(ExportView):
    queryset = ModelHousehold.objects.all()
    filterset_class = ModelHouseholdFilterSet
    search_fields = ["head_name", "address"]
    layer = HOUSEHOLD_LAYER

    def get_queryset(self):
        return ModelHousehold.objects.visible_to(self.request.user).alive().order_by("created_at", "id")

    def chunks(self, queryset):
        user = self.request.user
        size = chunk_rows()
        rows_iter = (
            queryset.annotate(n_farmers=Count("farmers", filter=Q(farmers__deleted_at__isnull=True)))
            .values(
                "id",
                "head_name",
                "phone",
                "address",
                "lat",
                "lon",
                "village_id",
                "village__name",
                "worker_id",
                "worker__name",
                "worker__user_id",
                "n_farmers",
                "created_at",
                "updated_at",
            )
            .iterator(chunk_size=size)
        )
        through = ModelHousehold.industries.through
        for rows in chunked(rows_iter, size):
            industries: dict = {}
            pairs = through.objects.filter(modelhousehold_id__in=[r["id"] for r in rows]).order_by(
                "industry__sort_order"
            )
            for household_id, code in pairs.values_list("modelhousehold_id", "industry__code"):
                industries.setdefault(household_id, []).append(code)
            out = []
            for r in rows:
                phone = r["phone"]
                if phone and not can_see_personal_data(user, r["worker__user_id"]):
                    phone = mask(phone)
                out.append(
                    {
                        "id": str(r["id"]),
                        "head_name": r["head_name"],
                        "phone": phone or None,
                        "address": r["address"] or None,
                        "village_code": r["village_id"],
                        "village_name": r["village__name"],
                        "worker_id": r["worker_id"],
                        "worker_name": r["worker__name"],
                        "industries": ",".join(industries.get(r["id"], [])),
                        "farmers": r["n_farmers"],
                        "created_at": r["created_at"],
                        "updated_at": r["updated_at"],
                    }
                )
            yield out, points(rows)


# --- demonstration bases --------------------------------------------------------------------------

BASE_FIELDS = (
    Field("id", "int"),
    Field("name"),
    Field("industry"),
    Field("operator"),
    Field("status"),
    Field("area_mu", "float"),
    Field("certified_on", "date", shp="certified"),
    Field("field_school", shp="school"),
    Field("village_code", shp="vill_code"),
    Field("village_name", shp="vill_name"),
    Field("updated_at", "datetime"),
)
BASE_POINT_LAYER = Layer("demonstration_bases", BASE_FIELDS, "Point", title="name")
BASE_PARCEL_LAYER = Layer("demonstration_base_parcels", BASE_FIELDS, "MultiPolygon", title="name")
GEOMETRY_PARAMETER = OpenApiParameter(
    "geometry",
    OpenApiTypes.STR,
    enum=["point", "parcel"],
    description="point (default): each base's location; parcel: its parcel polygon (empty where none is recorded).",
)


@export_schema(
    "Export demonstration bases",
    "Bases as points, or as parcel polygons with `geometry=parcel`; same filters as the list.",
    [GEOMETRY_PARAMETER],
)
class DemonstrationBaseExportView(ExportView):
    queryset = DemonstrationBase.objects.all()
    filterset_class = DemonstrationBaseFilterSet
    search_fields = ["name", "operator"]

    def get_queryset(self):
        return DemonstrationBase.objects.visible_to(self.request.user).order_by("name", "id")

    def get_layer(self) -> Layer:
        geometry = self.request.query_params.get("geometry") or "point"
        if geometry not in ("point", "parcel"):
            raise ValidationError({"geometry": [_("Use point or parcel.")]}, code="invalid")
        return BASE_PARCEL_LAYER if geometry == "parcel" else BASE_POINT_LAYER

    def chunks(self, queryset):
        parcels = self.get_layer() is BASE_PARCEL_LAYER
        size = chunk_rows()
        rows_iter = queryset.values(
            "id",
            "name",
            "industry__code",
            "operator",
            "status",
            "area_mu",
            "certified_on",
            "field_school__name",
            "village_id",
            "village__name",
            "updated_at",
            "lat",
            "lon",
            "parcel",
        ).iterator(chunk_size=size)
        for rows in chunked(rows_iter, size):
            out = [
                {
                    "id": r["id"],
                    "name": r["name"],
                    "industry": r["industry__code"],
                    "operator": r["operator"] or None,
                    "status": r["status"],
                    "area_mu": float(r["area_mu"]) if r["area_mu"] is not None else None,
                    "certified_on": r["certified_on"],
                    "field_school": r["field_school__name"],
                    "village_code": r["village_id"],
                    "village_name": r["village__name"],
                    "updated_at": r["updated_at"],
                }
                for r in rows
            ]
            if parcels:
                geometries = [from_geojson(r["parcel"]) if r["parcel"] else None for r in rows]
            else:
                geometries = points(rows)
            yield out, geometries


# --- coverage -------------------------------------------------------------------------------------

COVERAGE_LAYER = Layer(
    "coverage",
    (
        Field("code"),
        Field("name"),
        Field("level"),
        Field("visits", "int"),
        Field("households_visited", "int", shp="hh_visited"),
        Field("households", "int"),
        Field("coverage", "float"),
        Field("workers_active", "int", shp="workers"),
        Field("commissioners_active", "int", shp="commission"),
        Field("last_visit", "date"),
    ),
    "MultiPolygon",
    title="name",
)


class CoverageQuerySerializer(DivisionCoverageQuerySerializer):
    crs = None  # GIS files are in WGS-84


@export_schema(
    "Export coverage by division",
    "The figures of `GET /coverage/divisions/` (same filters) with each division's simplified boundary.",
    [CoverageQuerySerializer],
)
class CoverageExportView(ExportView):
    filter_backends = []

    def get(self, request):
        query = CoverageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        features = coverage_by_division(
            user=request.user,
            level=q["level"],
            date_from=q.get("date_from"),
            date_to=q.get("date_to"),
            industry=q["industry"].code if q.get("industry") else None,
            kind=q.get("kind"),
        )
        # One chunk: the rows are divisions (hundreds), already in memory from the selector.
        names = [f.name for f in COVERAGE_LAYER.fields]
        rows = [{name: feature[name] for name in names} for feature in features]
        geometries = [from_geojson(f["geometry"]) if f["geometry"] else None for f in features]
        return export_response(COVERAGE_LAYER, [(rows, geometries)], request.accepted_renderer.format)
