"""``GET /api/v1/sync/``: one pull for everything a phone keeps offline, in cursor pages with one token."""

from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from agri.api import sync_serializers as ss
from agri.api.base import validated_query
from agri.api.crs import CRS_PARAMETER, convert_geojson, output_crs
from agri.api.network_serializers import (
    DemonstrationBaseSerializer,
    FarmerSerializer,
    IndustrySerializer,
    ModelHouseholdSerializer,
    StationSerializer,
)
from agri.api.photo_serializers import PhotoSerializer
from agri.api.visit_serializers import visit_page
from agri.models import ChangeKind
from agri.selectors.sync import sync_page
from geo.codes import Level
from geo.memory import collector_paused

POLYGON_LEVELS = (Level.TOWNSHIP, Level.VILLAGE)


def render(kind: str, queryset, request) -> list[dict]:
    """The records of one kind as the per-resource endpoints show them (masking and ``?crs=`` included), each
    starting with its ``type``."""
    if kind == ChangeKind.VISIT:  # most of a pull: typed as they are built, not copied
        return visit_page(queryset, output_crs(request), request.user, {"type": str(kind)})
    return [{"type": str(kind), **item} for item in _render(kind, queryset, request)]


def _render(kind: str, queryset, request) -> list[dict]:
    context = {"request": request}
    crs = output_crs(request)
    if kind == ChangeKind.DIVISION:
        rows = queryset.values("code", "name", "level", "parent_id", "boundary_display")
        return [
            {
                "id": r["code"],
                "code": r["code"],
                "name": r["name"],
                "level": r["level"],
                "parent": r["parent_id"],
                "boundary": convert_geojson(r["boundary_display"], crs) if r["level"] in POLYGON_LEVELS else None,
            }
            for r in rows
        ]
    if kind == ChangeKind.HOUSEHOLD:
        return ModelHouseholdSerializer(queryset.with_details(), many=True, context=context).data
    if kind == ChangeKind.FARMER:
        return FarmerSerializer(queryset.select_related("household__worker"), many=True, context=context).data
    if kind == ChangeKind.STATION:
        return StationSerializer(queryset.prefetch_related("industries"), many=True, context=context).data
    if kind == ChangeKind.BASE:
        queryset = queryset.select_related("industry", "field_school")
        return DemonstrationBaseSerializer(queryset, many=True, context=context).data
    if kind == ChangeKind.PHOTO:
        return PhotoSerializer(queryset, many=True, context=context).data
    return IndustrySerializer(queryset, many=True, context=context).data


class SyncView(GenericAPIView):
    """Everything a phone keeps offline, and every change to it, from one token."""

    pagination_class = None
    filter_backends = []
    serializer_class = ss.SyncPageSerializer

    @extend_schema(
        summary="Pull your whole slice, then its changes (sync token)",
        description=(
            "A first pull (no `sync_token`) pages through every record you may see: industries, the divisions of "
            "your area (townships and villages with simplified boundaries), stations, demonstration bases, model "
            "households, farmers, visits and photo metadata, each with `type`. Follow `next` to the end and keep "
            "the last page's `sync_token`; the next pull sends it and gets every change committed since, whatever "
            "the order of commits: the records as they are now, and a tombstone `{id, type, deleted: true, "
            "updated_at}` for each record deleted or moved out of your slice (delete it, and for a visit its "
            "photos). Each page's `sync_token` resumes the pull from after that page. A token is yours only: a "
            "tampered, cut or foreign one is a 400 `sync_token_invalid` (start again without a token)."
        ),
        parameters=[ss.SyncQuerySerializer, CRS_PARAMETER],
        responses={
            200: ss.SyncPageSerializer,
            400: OpenApiResponse(description="`sync_token_invalid`, or an invalid page_size or crs"),
        },
    )
    def get(self, request):
        query = validated_query(ss.SyncQuerySerializer, request)
        with collector_paused():
            page = sync_page(user=request.user, token=query.get("sync_token"), size=query["page_size"])
            results, rendered = [], {}
            for kind, queryset in page.records:
                items = render(kind, queryset, request)
                rendered.setdefault(kind, set()).update(str(item["id"]) for item in items)
                results += items
            tombstones = page.tombstones_for(rendered)
        results += ss.SyncTombstoneSerializer(tombstones, many=True, context={"request": request}).data
        next_url = None
        if page.more:
            params = {k: v for k, v in request.query_params.items() if k != "sync_token"}
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode({**params, 'sync_token': page.token})}")
        return Response({"results": results, "next": next_url, "sync_token": page.token})
