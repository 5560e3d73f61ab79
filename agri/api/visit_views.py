"""Visits: single and batch push, cursor pull with tombstones, If-Match edits, history, GeoJSON export."""

import numpy as np
import orjson
from django.db.models import F
from django.db.models.functions import Cos, Radians, Sin
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils import encoders

from agri import selectors
from agri.api.crs import CRS_PARAMETER, output_crs
from agri.api.exceptions import Conflict, DatabaseUnavailable, validation_error_body
from agri.api.filters import (
    FilterSet,
    IsoDateTimeFilter,
    RadiusFilter,
    StrictBooleanFilter,
    division_choice,
    scoped,
)
from agri.api.pagination import PullablePagination, SyncCursorPagination, is_pull
from agri.api.visit_serializers import (
    VISIT_VALUES,
    VisitBatchResponseSerializer,
    VisitBatchSerializer,
    VisitHistorySerializer,
    VisitSerializer,
    VisitWriteSerializer,
    check_visit,
    visit_representation,
)
from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    ModelHousehold,
    Role,
    Station,
    TechCommissioner,
    Visit,
    VisitFlag,
    VisitKind,
)
from agri.services.visits import (
    LeavesScope,
    StaleVersion,
    visit_actor,
    visit_client_data,
    visit_delete,
    visit_update,
    visits_ingest,
)
from geo.codes import significant_prefix
from geo.crs import from_wgs84

ACTOR_ROLES = (Role.EXPERT, Role.WORKER, Role.COMMISSIONER)
EARTH_RADIUS_KM = 6371.0088


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = _("Send If-Match with the visit's ETag to edit it.")
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    status_code = 412
    default_detail = _("The visit was changed since you read it. Fetch it again and reapply your edit.")
    default_code = "precondition_failed"


class NoLinkedPerson(APIException):
    status_code = 403
    default_detail = _("This account is not linked to an expert, worker or commissioner, so it cannot record visits.")
    default_code = "no_linked_person"


def render_rows(rows, crs: str) -> list[dict]:
    """Rows from ``.values(*VISIT_VALUES)`` as API objects, converting coordinates for the whole page at once."""
    rows = list(rows)
    tz = timezone.get_current_timezone()
    out = [visit_representation(row, tz) for row in rows]
    # Training attendance: one query for the whole page (by the rows' UUIDs: no string parsing per id).
    attendance: dict[str, list[str]] = {}
    if out:
        pairs = Visit.attendees.through.objects.filter(visit_id__in=[row["id"] for row in rows]).values_list(
            "visit_id", "farmer_id"
        )
        for visit_id, farmer_id in pairs.order_by("visit_id", "farmer_id"):
            attendance.setdefault(str(visit_id), []).append(str(farmer_id))
    for o in out:
        o["attendees"] = attendance.get(o["id"], [])
    if crs != "wgs84" and out:
        lon, lat = from_wgs84(np.array([o["lon"] for o in out]), np.array([o["lat"] for o in out]), crs)
        for o, x, y in zip(out, lon.tolist(), lat.tolist(), strict=True):
            o["lon"], o["lat"] = round(x, 7), round(y, 7)
    return out


class VisitJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, with orjson doing the work for visit pages (about 10x faster than ``json.dumps``).

    The output is the same JSON: compact separators, UTF-8 rather than ASCII escapes, U+2028/U+2029 escaped.
    Pretty-printed output (the browsable API, ``; indent=``) and non-default JSON settings go to DRF's renderer.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is None
            or self.ensure_ascii
            or not self.compact
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        out = orjson.dumps(data, default=_json_default, option=_ORJSON_OPTIONS)
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out


# Dates, times and dataclasses go through DRF's encoder (e.g. "Z" for UTC), and keys are stringified as json does.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _json_default(obj):
    """What orjson does not know natively (lazy translations, Decimals, ...), as DRF's encoder converts it."""
    return encoders.JSONEncoder().default(obj)


VISIT_RENDERERS = [VisitJSONRenderer if cls is JSONRenderer else cls for cls in api_settings.DEFAULT_RENDERER_CLASSES]


class VisitFilterSet(FilterSet):
    bbox = filters.CharFilter(method="filter_bbox", label="minLon,minLat,maxLon,maxLat (WGS-84)")
    near = filters.CharFilter(method="filter_near", label="lon,lat (WGS-84); use with radius_km")
    radius_km = RadiusFilter(method="filter_noop", label="radius for near, km (default 1)")
    division = filters.CharFilter(method="filter_division", label="division code prefix")
    date_from = filters.DateFilter(field_name="visit_date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="visit_date", lookup_expr="lte")
    industry = filters.CharFilter(field_name="industry__code")
    kind = filters.ChoiceFilter(choices=VisitKind.choices)
    flag = filters.ChoiceFilter(choices=[(c, c) for c in VisitFlag.CODES], method="filter_flag")
    flagged = StrictBooleanFilter(method="filter_flagged")
    updated_since = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    incomplete = StrictBooleanFilter(method="filter_incomplete")

    expert = scoped(Expert, "expert")
    worker = scoped(ExtensionWorker, "worker")
    commissioner = scoped(TechCommissioner, "commissioner")
    household = scoped(ModelHousehold, "household")
    farmer = scoped(Farmer, "farmer")
    base = scoped(DemonstrationBase, "base")
    station = scoped(Station, "station")
    village = division_choice("village")

    @staticmethod
    def _floats(value: str, n: int, name: str) -> list[float]:
        try:
            numbers = [float(p) for p in value.split(",")]
        except ValueError:
            numbers = []
        if len(numbers) != n or not all(np.isfinite(numbers)):
            raise ValidationError({name: [_("Give %(n)d comma-separated numbers.") % {"n": n}]}, code="invalid")
        return numbers

    def filter_bbox(self, queryset, name, value):
        min_lon, min_lat, max_lon, max_lat = self._floats(value, 4, "bbox")
        return queryset.filter(lat__gte=min_lat, lat__lte=max_lat, lon__gte=min_lon, lon__lte=max_lon)

    def filter_near(self, queryset, name, value):
        lon, lat = self._floats(value, 2, "near")
        radius = float(self.data.get("radius_km") or 1)
        if not (0 < radius <= 500) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValidationError({"near": [_("Give a point and a radius of at most 500 km.")]}, code="invalid")
        # Bounding box first (uses the (lat, lon) index), then the exact great-circle distance.
        dlat = np.degrees(radius / EARTH_RADIUS_KM)
        dlon = dlat / max(np.cos(np.radians(lat)), 1e-6)
        queryset = queryset.filter(lat__gte=lat - dlat, lat__lte=lat + dlat, lon__gte=lon - dlon, lon__lte=lon + dlon)
        rad_lat, rad_lon = np.radians(lat), np.radians(lon)
        cos_angle = Sin(Radians(F("lat"))) * float(np.sin(rad_lat)) + Cos(Radians(F("lat"))) * float(
            np.cos(rad_lat)
        ) * Cos(Radians(F("lon")) - float(rad_lon))
        return queryset.alias(cos_angle=cos_angle).filter(cos_angle__gte=float(np.cos(radius / EARTH_RADIUS_KM)))

    def filter_noop(self, queryset, name, value):
        return queryset

    def filter_division(self, queryset, name, value):
        return queryset.filter(division__code__startswith=significant_prefix(value))

    def filter_flag(self, queryset, name, value):
        bit = VisitFlag.BITS[value]
        return queryset.alias(flag_hit=F("flag_bits").bitand(bit)).filter(flag_hit=bit)

    def filter_flagged(self, queryset, name, value):
        return queryset.filter(flag_bits__gt=0) if value else queryset.filter(flag_bits=0)

    def filter_incomplete(self, queryset, name, value):
        if value:
            return queryset.filter(photos_present__lt=F("photos_expected"))
        return queryset.filter(photos_present__gte=F("photos_expected"))


POST_DESCRIPTION = (
    "Store one visit. **Only a 201 or a 200 whose JSON body is the visit with the id you sent means the "
    "visit is stored.** A captive portal or proxy can answer 200 with an HTML page: treat anything else "
    "as not stored and retry later; replaying is always safe. 200 = this id was already stored with "
    "the same payload; 409 = this id is stored with a different payload (the stored visit is unchanged)."
)


@extend_schema_view(
    list=extend_schema(
        summary="List or pull visits",
        description=(
            "Without `updated_since`: page-numbered list of live visits. With `updated_since`: cursor-paginated "
            "pull in (updated_at, id) order that includes deleted visits as tombstones (`deleted: true`)."
        ),
        parameters=[CRS_PARAMETER],
        responses=VisitSerializer(many=True),
    ),
    retrieve=extend_schema(summary="Get one visit (with its ETag)", parameters=[CRS_PARAMETER]),
    create=extend_schema(
        summary="Push one visit (idempotent on its id)",
        description=POST_DESCRIPTION,
        request=VisitWriteSerializer,
        responses={
            201: VisitSerializer,
            200: VisitSerializer,
            409: OpenApiResponse(description="id conflict"),
            503: OpenApiResponse(description="the database is unavailable (code `retry_later`): send it again later"),
        },
    ),
    partial_update=extend_schema(
        summary="Edit a visit (If-Match required)",
        parameters=[
            OpenApiParameter("If-Match", {"type": "string", "minLength": 1}, OpenApiParameter.HEADER, required=True)
        ],
        request=VisitWriteSerializer,
        responses={
            200: VisitSerializer,
            412: OpenApiResponse(description="stale ETag"),
            428: OpenApiResponse(description="If-Match missing"),
        },
    ),
    destroy=extend_schema(summary="Delete a visit (kept as a tombstone for sync)"),
)
class VisitViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Visit.objects.all()
    serializer_class = VisitSerializer
    filterset_class = VisitFilterSet
    renderer_classes = VISIT_RENDERERS
    ordering_fields = ["started_at", "updated_at", "received_at"]
    search_fields = ["notes"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = PullablePagination  # ?updated_since= pulls with SyncCursorPagination
    write_roles = {
        "create": ACTOR_ROLES,
        "update": (Role.BUREAU_ADMIN, *ACTOR_ROLES),
        "destroy": (Role.BUREAU_ADMIN, *ACTOR_ROLES),
    }

    def get_queryset(self):
        queryset = Visit.objects.visible_to(self.request.user)
        if not is_pull(self):
            queryset = queryset.alive()
        return queryset

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = SyncCursorPagination() if is_pull(self) else super().paginator
        return self._paginator

    def _one(self, pk) -> tuple[dict, str]:
        """The visit as the API shows it, and its ETag, from one query."""
        row = Visit.objects.filter(pk=pk).values(*VISIT_VALUES, "version").get()
        return render_rows([row], output_crs(self.request))[0], Visit(id=row["id"], version=row["version"]).etag

    def list(self, request, *args, **kwargs):
        crs = output_crs(request)
        queryset = self.filter_queryset(self.get_queryset()).values(*VISIT_VALUES)
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(render_rows(queryset, crs))
        return self.get_paginated_response(render_rows(page, crs))

    def retrieve(self, request, *args, **kwargs):
        visit = self.get_object()
        return Response(self._one(visit.pk)[0], headers={"ETag": visit.etag})

    def create(self, request, *args, **kwargs):
        actor = visit_actor(request.user)
        if actor is None:
            raise NoLinkedPerson()
        lookups = selectors.visit_lookups(request.user, [request.data])
        serializer = VisitWriteSerializer(data=request.data, context={"request": request, "lookups": lookups})
        serializer.is_valid(raise_exception=True)
        outcome = visits_ingest(user=request.user, actor=actor, items=[serializer.validated_data])[0]
        if outcome == "conflict":
            raise Conflict()
        if outcome == "failed":
            raise DatabaseUnavailable()
        body, etag = self._one(serializer.validated_data["id"])
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        return Response(body, status=code, headers={"ETag": etag})

    def _expected_version(self, visit, required: bool) -> int | None:
        header = self.request.headers.get("If-Match")
        if not header:
            if required:
                raise PreconditionRequired()
            return None
        if header.strip() not in (visit.etag, "*"):
            raise PreconditionFailed()
        return visit.version

    def _check_owner(self, visit):
        user = self.request.user
        if not (user.is_superuser or user.role == Role.BUREAU_ADMIN or visit.user_id == user.pk):
            raise PermissionDenied(_("Only the person who recorded a visit, or a bureau admin, may change it."))

    def update(self, request, *args, **kwargs):
        visit = self.get_object()
        self._check_owner(visit)
        expected = self._expected_version(visit, required=True)
        lookups = selectors.visit_lookups(request.user, [request.data])
        serializer = VisitWriteSerializer(
            data=request.data, partial=True, context={"request": request, "lookups": lookups}
        )
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k != "id"}
        merged = visit_client_data(visit)
        if any(changes.get(name) is not None for name in ("household", "farmer", "base", "station", "village")):
            for name in ("household", "farmer", "base", "station", "village"):
                merged[name] = None
        merged.update(changes)
        check_visit(merged)
        try:
            # A bureau admin corrects the visits of its jurisdiction: it may not move one into another's.
            updated = visit_update(
                visit=visit,
                user=request.user,
                merged=merged,
                changed=list(changes),
                expected_version=expected,
                scope=Visit.objects.visible_to(request.user),
            )
        except StaleVersion as exc:
            raise PreconditionFailed() from exc
        except LeavesScope as exc:
            message = _("This point lies outside your jurisdiction: the visit would leave it.")
            raise ValidationError({"lat": [message], "lon": [message]}, code="outside_jurisdiction") from exc
        return Response(self._one(updated.pk)[0], headers={"ETag": updated.etag})

    def destroy(self, request, *args, **kwargs):
        visit = self.get_object()
        self._check_owner(visit)
        try:
            visit_delete(visit=visit, user=request.user, expected_version=self._expected_version(visit, required=False))
        except StaleVersion as exc:
            raise PreconditionFailed() from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Audit history of a visit (bureau admins)",
        description="Every create, update and delete, oldest first; a deleted visit keeps its history.",
        responses=VisitHistorySerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def history(self, request, pk=None):
        if not (request.user.is_superuser or request.user.role == Role.BUREAU_ADMIN):
            raise PermissionDenied()
        # DRF's get_object_or_404: a pk that is not a UUID is a 404 too, not a ValidationError from the query.
        visit = get_object_or_404(Visit.objects.visible_to(request.user), pk=pk)
        events = visit.events.select_related("user")
        return Response(VisitHistorySerializer(events, many=True).data)


class VisitSyncView(GenericAPIView):
    """Batch push of up to 500 visits; each item is answered on its own, in request order."""

    serializer_class = VisitBatchSerializer
    renderer_classes = VISIT_RENDERERS
    write_roles = {"*": ACTOR_ROLES}

    @extend_schema(
        summary="Push a batch of visits (idempotent per item)",
        description=(
            "Each item is validated and stored on its own: one bad item never blocks the others. Each result is "
            "`created`, `unchanged` (same id and payload already stored), `conflict` (same id, other payload; "
            "the stored visit is kept), `invalid` (with field errors) or `failed` (code `retry_later`, with a "
            "`message`: the database failed before this item was stored, and nothing of it was written; send it "
            "again later). New visits are committed in chunks (`VISIT_SYNC_CHUNK_SIZE`, 100 by default): when the "
            "database fails part-way, the items already answered `created` stay stored and the rest are `failed`. "
            "Replaying a batch is always safe: the stored items answer `unchanged`, the missing ones are created."
        ),
        responses={
            200: VisitBatchResponseSerializer,
            503: OpenApiResponse(
                description="the database is unavailable (code `retry_later`, `Retry-After`): nothing was stored"
            ),
        },
    )
    def post(self, request):
        actor = visit_actor(request.user)
        if actor is None:
            raise NoLinkedPerson()
        batch = VisitBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        raw_items = batch.validated_data["visits"]
        context = {"request": request, "lookups": selectors.visit_lookups(request.user, raw_items)}
        results: list[dict | None] = [None] * len(raw_items)
        valid_index, valid_items = [], []
        # One serializer validates every item: building one copies its twenty fields, which cost more than the
        # validation itself. run_validation() is what is_valid() runs; the items are dicts (the batch checked it).
        serializer = VisitWriteSerializer(context=context)
        for i, raw in enumerate(raw_items):
            try:
                validated = serializer.run_validation(raw)
            except ValidationError as exc:
                body = validation_error_body(exc.detail)
                results[i] = {"id": _raw_id(raw), "status": "invalid", "code": body["code"], "errors": body["fields"]}
            else:
                valid_index.append(i)
                valid_items.append(validated)
        if valid_items:
            outcomes = visits_ingest(user=request.user, actor=actor, items=valid_items)
            for i, item, outcome in zip(valid_index, valid_items, outcomes, strict=True):
                if outcome == "failed":
                    results[i] = {
                        "id": str(item["id"]),
                        "status": outcome,
                        "code": "retry_later",
                        "message": gettext("This visit could not be stored just now. Send it again later."),
                        "errors": {},
                    }
                else:
                    results[i] = {"id": str(item["id"]), "status": outcome, "code": outcome, "errors": {}}
        return Response({"results": results})


def _raw_id(raw) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value) if isinstance(value, str | int) else None


@extend_schema(
    summary="Visits as a streamed GeoJSON FeatureCollection",
    description="Same filters as the visit list; streamed, so any number of visits can be exported.",
    parameters=[CRS_PARAMETER],
    responses={(200, "application/geo+json"): OpenApiTypes.OBJECT},
)
class VisitGeoJSONView(GenericAPIView):
    queryset = Visit.objects.all()
    filterset_class = VisitFilterSet
    serializer_class = None
    pagination_class = None

    def get(self, request):
        crs = output_crs(request)
        queryset = self.filter_queryset(Visit.objects.visible_to(request.user).alive()).values(*VISIT_VALUES)

        def chunks():
            yield b'{"type":"FeatureCollection","features":['
            first = True
            batch = []
            for row in queryset.iterator(chunk_size=2000):
                batch.append(row)
                if len(batch) == 2000:
                    yield from _features(batch, crs, first)
                    first = False
                    batch = []
            if batch:
                yield from _features(batch, crs, first)
            yield b"]}"

        response = StreamingHttpResponse(chunks(), content_type="application/geo+json")
        response["Content-Disposition"] = 'attachment; filename="visits.geojson"'
        return response


def _features(rows, crs, first):
    features = []
    for obj in render_rows(rows, crs):
        lon, lat = obj.pop("lon"), obj.pop("lat")
        features.append(
            {
                "type": "Feature",
                "id": obj["id"],
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": obj,
            }
        )
    if features:
        # One orjson call per batch; its list brackets are dropped, so batches join into one array.
        yield (b"" if first else b",") + orjson.dumps(features)[1:-1]
