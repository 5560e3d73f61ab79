"""Visits: single and batch push, cursor pull with tombstones, If-Match edits, history, GeoJSON export."""

from django.http import StreamingHttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.response import Response

from agri import errors, selectors
from agri.api.base import ConditionalGetMixin, IfMatchMixin
from agri.api.crs import CRS_PARAMETER, output_crs
from agri.api.exceptions import DatabaseUnavailable, NoLinkedPerson, validation_error_body
from agri.api.filters import VisitFilterSet
from agri.api.pagination import CappedCountPagination, SyncCursorPagination, is_pull
from agri.api.permissions import ACTOR_ROLES
from agri.api.visit_serializers import (
    VISIT_VALUES,
    VisitBatchResponseSerializer,
    VisitBatchSchemaSerializer,
    VisitBatchSerializer,
    VisitHistorySerializer,
    VisitSerializer,
    VisitWriteSerializer,
    render_rows,
    visit_page,
)
from agri.models import Role, Visit
from agri.services.visits import visit_actor, visit_delete, visit_update, visits_ingest
from geo.exports import feature_collection_stream
from geo.memory import collector_paused

GEOJSON_CHUNK_ROWS = 2000


POST_DESCRIPTION = (
    "Store one visit. **Only a 201 or a 200 whose JSON body is the visit with the id you sent means the "
    "visit is stored.** A captive portal or proxy can answer 200 with an HTML page: treat anything else "
    "as not stored and retry later; replaying is always safe. 200 = this id was already stored with "
    "the same payload; 409 = this id is taken (another payload, or a visit that is not yours to replay; "
    "nothing changes)."
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
    ConditionalGetMixin,
    IfMatchMixin,
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
    ordering_fields = ["started_at", "updated_at", "received_at"]
    search_fields = ["notes"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = CappedCountPagination  # ?updated_since= pulls with SyncCursorPagination
    precondition_message = _("Send If-Match with the visit's ETag to edit it.")
    stale_error = errors.StaleVisit
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
        body = render_rows([row], output_crs(self.request), self.request.user)[0]
        return body, Visit(id=row["id"], version=row["version"]).etag

    def list(self, request, *args, **kwargs):
        crs = output_crs(request)
        queryset = self.filter_queryset(self.get_queryset())
        # The paginators page through keys (a pull's cursor is made of these two); the page's visits are then read
        # in bulk. A visit that left the filter between the two reads is left out rather than shown stale.
        with collector_paused():
            page = self.paginate_queryset(queryset.values("id", "updated_at"))
            if page is None:
                return Response(visit_page(queryset, crs, request.user))
            keys = [row["id"] for row in page]
            found = {item["id"]: item for item in visit_page(queryset.filter(pk__in=keys), crs, request.user)}
            return self.get_paginated_response([found[k] for k in map(str, keys) if k in found])

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
            raise errors.Conflict()
        if outcome == "failed":
            raise DatabaseUnavailable()
        body, etag = self._one(serializer.validated_data["id"])
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        return Response(body, status=code, headers={"ETag": etag})

    def _check_owner(self, visit):
        user = self.request.user
        if not (user.is_superuser or user.role == Role.BUREAU_ADMIN or visit.user_id == user.pk):
            raise PermissionDenied(_("Only the person who recorded a visit, or a bureau admin, may change it."))

    def update(self, request, *args, **kwargs):
        visit = self.get_object()
        self._check_owner(visit)
        expected = self.expected_version(visit, required=True)
        lookups = selectors.visit_lookups(request.user, [request.data])
        serializer = VisitWriteSerializer(
            data=request.data, partial=True, context={"request": request, "lookups": lookups}
        )
        serializer.is_valid(raise_exception=True)
        # A bureau admin corrects the visits of its jurisdiction: it may not move one into another's.
        visit_update(
            visit=visit,
            user=request.user,
            changes=serializer.validated_data,
            expected_version=expected,
            scope=Visit.objects.visible_to(request.user),
        )
        body, etag = self._one(visit.pk)
        return Response(body, headers={"ETag": etag})

    def destroy(self, request, *args, **kwargs):
        visit = self.get_object()
        self._check_owner(visit)
        visit_delete(visit=visit, user=request.user, expected_version=self.expected_version(visit, required=False))
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
    write_roles = {"*": ACTOR_ROLES}

    @extend_schema(
        summary="Push a batch of visits (idempotent per item)",
        description=(
            "Each item is validated and stored on its own: one bad item never blocks the others. Each result is "
            "`created`, `unchanged` (same id and payload already stored), `conflict` (the id is taken: another "
            "payload, or a visit that is not yours to replay; the stored visit is kept, and the result gives its "
            "`version` and `etag`, null when you may not read it), `invalid` (with field errors) or "
            "`failed` (code `retry_later`, with a `message`: the database failed before this item was stored, and "
            "nothing of it was written; send it again later). New visits are committed in chunks "
            "(`VISIT_SYNC_CHUNK_SIZE`, 100 by default): when the database fails part-way, the items already answered "
            "`created` stay stored and the rest are `failed`. Replaying a batch is always safe: the stored items "
            "answer `unchanged`, the missing ones are created."
        ),
        request=VisitBatchSchemaSerializer,
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
        _add_stored_versions(request.user, results)
        return Response({"results": results})


def _add_stored_versions(user, results: list[dict]) -> None:
    """A conflict names the stored visit's version and ETag, so that the phone can show both sides; all of them
    are read in one query."""
    conflicts = [result for result in results if result["status"] == "conflict"]
    versions = selectors.visit_versions(user, [result["id"] for result in conflicts])
    for result in conflicts:
        version = versions.get(result["id"])
        result["version"] = version
        result["etag"] = None if version is None else Visit(id=result["id"], version=version).etag


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
        response = StreamingHttpResponse(
            feature_collection_stream(visit_features(queryset, crs, request.user)), content_type="application/geo+json"
        )
        response["Content-Disposition"] = 'attachment; filename="visits.geojson"'
        return response


def visit_features(queryset, crs: str, user):
    """Chunks of (properties, points, ids) for a streamed FeatureCollection: each visit as the API shows it."""
    rows = []
    for row in queryset.iterator(chunk_size=GEOJSON_CHUNK_ROWS):
        rows.append(row)
        if len(rows) == GEOJSON_CHUNK_ROWS:
            yield _features(rows, crs, user)
            rows = []
    if rows:
        yield _features(rows, crs, user)


def _features(rows: list[dict], crs: str, user):
    objects = render_rows(rows, crs, user)
    points = [{"type": "Point", "coordinates": [o.pop("lon"), o.pop("lat")]} for o in objects]
    return objects, points, [o["id"] for o in objects]
