"""Maps for the bureau: the coverage choropleth as a PNG, and the web map page (``/map/``, session login).

The PNG view reads ``agri.selectors.coverage_by_division`` and hands the features to ``geo.maps`` to draw.
The web map page is a Django template with Leaflet from the django-leaflet package's static files; its script
(``agri/static/agri/map.js``) reads the coverage, hexagon and visit GeoJSON endpoints with the session cookie.
"""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from agri.api.base import FileView, validated_query
from agri.api.coverage_serializers import (
    CoverageFileQuerySerializer,
    classes_field,
    coverage_filter,
    scheme_field,
    value_field,
)
from agri.api.crs import OUTPUT_CRS
from agri.api.pages import BureauPageMixin
from agri.api.permissions import RolePermission
from agri.api.renderers import FirstRendererNegotiation, PNGRenderer
from agri.models import Industry, VisitKind
from agri.selectors.coverage import coverage_by_division, coverage_classification, jurisdiction_name
from geo.codes import Level, full_code
from geo.models import AdminDivision

# agri.selectors.coverage.MAP_VALUES -> (title wording, legend title, shown as a percentage), for the PNG's Chinese
MAP_VALUES = {
    "coverage": ("示范户走访覆盖率", "覆盖率", True),
    "visits": ("服务次数", "服务次数", False),
    "households_visited": ("走访示范户数", "示范户（户）", False),
    "workers_active": ("开展服务的农技推广人员", "人数", False),
    "commissioners_active": ("开展服务的科技特派员", "人数", False),
}
LEVEL_WORDS = {Level.COUNTY: "区县", Level.TOWNSHIP: "乡镇", Level.VILLAGE: "村"}


def kind_words() -> dict[str, str]:
    """Visit kinds in Chinese, from the zh-hans catalogue: the map's texts are Chinese whatever the request's
    language (it is handed upward as it is)."""
    with translation.override("zh-hans"):
        return {kind.value: str(kind.label) for kind in VisitKind}


class CoverageMapQuerySerializer(CoverageFileQuerySerializer):
    value = value_field()
    scheme = scheme_field(default="fisher_jenks")
    classes = classes_field()
    labels = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text=_("Division names on the map (default: if few).")
    )


@extend_schema(
    summary="Coverage choropleth map as a PNG",
    description=(
        "The coverage of `GET /coverage/divisions/` (same filters and scoping) drawn as a classed choropleth: "
        "Chinese title and names (Noto Sans CJK SC), legend, scale bar and north arrow. Divisions without a "
        "boundary are left out; synthetic boundaries are footnoted."
    ),
    parameters=[CoverageMapQuerySerializer],
    responses={
        (200, "image/png"): OpenApiTypes.BINARY,
        400: OpenApiResponse(description="invalid filter"),
        403: OpenApiResponse(description="no coverage slice for this account"),
        404: OpenApiResponse(description="no division at this level has a boundary"),
    },
)
class CoverageMapView(FileView):
    renderer_classes = [PNGRenderer]
    content_negotiation_class = FirstRendererNegotiation
    # Whoever has a coverage slice (bureau staff; experts, workers, commissioners: their own visits), as in
    # GET /coverage/divisions/; coverage_by_division raises the 403 for the others.
    permission_classes = [RolePermission]

    def get(self, request):
        # matplotlib and geopandas' plotting take seconds to import: loaded with the first map, not with the URLconf
        # (which every manage.py command and worker start loads).
        from geo.maps import ChoroplethSpec, NothingToDraw, render_choropleth

        q = validated_query(CoverageMapQuerySerializer, request)
        industry = q.get("industry")
        features = coverage_by_division(user=request.user, level=q["level"], only=coverage_filter(q))
        wording, legend_title, percent = MAP_VALUES[q["value"]]
        # The web map's classes (coverage/divisions/?scheme=…), the special classes named in Chinese like the rest.
        with translation.override("zh-hans"):
            classification = coverage_classification(
                features, value=q["value"], scheme=q["scheme"], classes=q["classes"]
            )
        jurisdiction = request.user.jurisdiction
        spec = ChoroplethSpec(
            title=f"{jurisdiction_name(jurisdiction)}各{LEVEL_WORDS[q['level']]}{wording}",
            legend_title=legend_title,
            subtitle=self.subtitle(q, industry),
            footnote=self.footnote(q["level"], jurisdiction),
            percent=percent,
            scheme=q["scheme"],
            classes=q["classes"],
            labels=q.get("labels"),
            classification=classification,
        )
        try:
            png = render_choropleth(features, q["value"], spec)
        except NothingToDraw as exc:
            raise NotFound(_("No division at this level has a boundary to draw.")) from exc
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = (
            f'inline; filename="coverage-{q["level"]}-{q["value"]}-{timezone.localdate():%Y%m%d}.png"'
        )
        return response

    @staticmethod
    def subtitle(q: dict, industry: Industry | None) -> str:
        start, end = q.get("date_from"), q.get("date_to")
        if start or end:
            period = f"{start.isoformat() if start else '最早'} 至 {end.isoformat() if end else '今'}"
        else:
            period = "全部日期"
        parts = [period]
        if industry:
            parts.append(f"产业：{industry.name}")
        if q.get("kind"):
            parts.append(f"服务类型：{kind_words()[q['kind']]}")
        return " · ".join(parts)

    @staticmethod
    def footnote(level: str, jurisdiction: str) -> str:
        synthetic = AdminDivision.objects.filter(level=level, boundary_synthetic=True).within(jurisdiction).exists()
        note = "注：边界为合成示意，非官方边界。" if synthetic else ""
        return f"{note}制图：农技 Nongji，{timezone.localtime():%Y-%m-%d %H:%M}"


# The web map: visit points from this zoom (below it, counts per H3 cell on request), village names from this one.
POINTS_ZOOM = 13
VILLAGE_LABELS_ZOOM = 12
VALUE_NAMES = {
    "coverage": _("Coverage of model households"),
    "visits": _("Visits"),
    "households_visited": _("Model households visited"),
    "workers_active": _("Extension workers active"),
    "commissioners_active": _("Tech commissioners active"),
}
SCHEME_NAMES = {
    "fisher_jenks": _("Natural breaks (Jenks)"),
    "quantiles": _("Quantiles"),
    "equal_interval": _("Equal intervals"),
}
# The script's texts ({n}-style placeholders), in the page's language.
PAGE_TEXT = {
    "layerDivisions": _("Townships / villages (classed)"),
    "layerLabels": _("Names"),
    "layerHexagons": _("H3 hexagons (visits)"),
    "layerClusters": _("Visits per cell (counts)"),
    "layerPoints": _("Visit points (from zoom {zoom})"),
    "basePlain": _("Plain background"),
    "baseTiles": _("Basemap"),
    "legendHexagons": _("Visits per hexagon"),
    "legendClusters": _("Visits per cell"),
    "legendClusterSample": _("number of visits in the cell"),
    "legendPoints": _("Visits"),
    "legendPoint": _("one visit"),
    "legendPointsHidden": _("zoom in to level {zoom} to see them"),
    "loading": _("Loading coverage…"),
    "summaryTownships": _("{n} townships, {visits} visits"),
    "summaryVillages": _("{n} villages, {visits} visits"),
    "withoutBoundary": _("({n} without boundary)"),
    "divisionsFailed": _("Coverage failed to load: {error}"),
    "hexagonsFailed": _("Hexagons failed to load: {error}"),
    "pointsFailed": _("Visit points failed to load: {error}"),
    "visitsCount": _("{n} visits"),
    "hexagonTip": _("{n} visits ({cell})"),
    "figureClass": _("Class"),
    "figureVisits": _("Visits"),
    "figureHouseholdsVisited": _("Model households visited"),
    "figureHouseholds": _("Model households registered"),
    "figureCoverage": _("Coverage"),
    "figureWorkers": _("Extension workers active"),
    "figureCommissioners": _("Tech commissioners active"),
    "figureLastVisit": _("Last visit"),
    "synthetic": _("Boundaries are synthetic, not official"),
}


class WebMapView(BureauPageMixin, TemplateView):
    """The bureau's web map. Anonymous visitors are sent to the login page; other roles get 403."""

    template_name = "agri/map.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        crs = self.request.GET.get("crs") or settings.MAP_CRS
        if crs not in OUTPUT_CRS:
            crs = "wgs84"
        user = self.request.user
        kinds = {kind.value: str(kind.label) for kind in VisitKind}  # in the page's language
        home = (
            AdminDivision.objects.filter(code=full_code(user.jurisdiction), rep_lat__isnull=False)
            .values("name", "rep_lat", "rep_lon")
            .first()
            if user.jurisdiction
            else None
        )
        synthetic = (
            AdminDivision.objects.filter(level__in=[Level.TOWNSHIP, Level.VILLAGE], boundary_synthetic=True)
            .within(user.jurisdiction)
            .exists()
        )
        config = {
            "crs": crs,
            # No basemap unless one is configured: the page then asks nothing of any other host.
            "tileUrl": settings.MAP_TILE_URL,
            "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
            "tileSubdomains": settings.MAP_TILE_SUBDOMAINS,
            "center": [home["rep_lat"], home["rep_lon"]] if home else [31.0, 108.8],
            "zoom": 9,
            "pointsZoom": POINTS_ZOOM,
            "villageLabelsZoom": VILLAGE_LABELS_ZOOM,
            "kinds": kinds,
            "values": {value: str(label) for value, label in VALUE_NAMES.items()},
            "text": {key: str(text) for key, text in PAGE_TEXT.items()},
            "synthetic": synthetic,
            "api": {
                "divisions": reverse("agri:coverage-divisions"),
                "hexagons": reverse("agri:coverage-hexagons"),
                "visits": reverse("agri:visit-geojson"),
                "exportVisits": reverse("agri:export-visits"),
                "mapPng": reverse("agri:coverage-map"),
            },
        }
        context.update(
            config=config,
            area=home["name"] if home else jurisdiction_name(user.jurisdiction),
            industries=Industry.objects.order_by("sort_order", "code").values("code", "name"),
            kinds=list(kinds.items()),
            values=list(config["values"].items()),
            schemes=[(scheme, str(label)) for scheme, label in SCHEME_NAMES.items()],
        )
        return context
