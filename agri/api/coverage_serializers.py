"""Query parameters (validated, with the API's error shape) and response shapes (for the schema) of the coverage,
gaps, service-area and indicator endpoints. The views return plain data built by the selectors."""

import math

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from agri.api.crs import OUTPUT_CRS
from agri.api.fields import ScopedRelationsMixin
from agri.api.network_serializers import StatusChoice
from agri.models import Industry, VisitKind
from agri.selectors.coverage import COVERAGE_LEVELS, MAP_VALUES, CoverageFilter
from geo.classes import SCHEMES
from geo.codes import Level
from geo.h3cells import H3_RESOLUTIONS

MAX_GAP_DAYS = 3660
MAX_RADIUS_KM = 100


# --- query parameters -------------------------------------------------------------------------------


class CrsQuerySerializer(ScopedRelationsMixin, serializers.Serializer):
    crs = serializers.ChoiceField(
        choices=OUTPUT_CRS,
        default="wgs84",
        help_text=_("Return coordinates in this system (gcj02 for Amap/Tencent maps, bd09 for Baidu)."),
    )


class CoverageFilterSerializer(CrsQuerySerializer):
    date_from = serializers.DateField(required=False, help_text=_("First visit date counted (Asia/Shanghai)."))
    date_to = serializers.DateField(required=False, help_text=_("Last visit date counted (Asia/Shanghai)."))
    industry = serializers.SlugRelatedField(
        slug_field="code", queryset=Industry.objects.all(), required=False, help_text=_("Industry code.")
    )
    kind = serializers.ChoiceField(choices=VisitKind.choices, required=False, help_text=_("Visit kind."))

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": [_("date_to is before date_from.")]}, code="invalid")
        return attrs


def coverage_filter(params: dict) -> CoverageFilter:
    """The validated filters of a coverage query as the selectors take them."""
    industry = params.get("industry")
    return CoverageFilter(
        date_from=params.get("date_from"),
        date_to=params.get("date_to"),
        industry=industry.code if industry else None,
        kind=params.get("kind"),
    )


class LevelQuerySerializer(CoverageFilterSerializer):
    level = serializers.ChoiceField(
        choices=[(level, Level(level).label) for level in COVERAGE_LEVELS],
        default=Level.TOWNSHIP,
        help_text=_("county, township or village."),
    )


def value_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(MAP_VALUES), default="coverage", help_text=_("What to colour by."))


def scheme_field(**kwargs) -> serializers.ChoiceField:
    kwargs.setdefault("help_text", _("How to class it."))
    return serializers.ChoiceField(choices=list(SCHEMES), **kwargs)


def classes_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=2, max_value=9, default=5, help_text=_("Number of classes (at most)."))


class DivisionCoverageQuerySerializer(LevelQuerySerializer):
    value = value_field()
    scheme = scheme_field(
        required=False,
        help_text=_(
            "Class `value` for a map: the response then has a `classification` (the legend) and each feature a "
            "`map_class`, the same classes as the PNG map's."
        ),
    )
    classes = classes_field()


class CoverageFileQuerySerializer(LevelQuerySerializer):
    """The coverage filters of a file (a GIS export, a PNG map): always WGS-84."""

    crs = None


class BboxField(serializers.CharField):
    """``minLon,minLat,maxLon,maxLat`` in WGS-84, as a tuple of four floats."""

    default_error_messages = {"invalid": _("Give minLon,minLat,maxLon,maxLat (WGS-84) with min < max.")}

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            values = tuple(float(p) for p in text.split(","))
        except ValueError:
            self.fail("invalid")
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            self.fail("invalid")
        min_lon, min_lat, max_lon, max_lat = values
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            self.fail("invalid")
        return values


class HexagonQuerySerializer(CoverageFilterSerializer):
    resolution = serializers.ChoiceField(
        choices=list(H3_RESOLUTIONS),
        default=7,
        help_text=_(
            "H3 resolution. Bureau viewers get no finer than the configured grid (7 by default): a finer request is "
            "answered at that resolution, which each feature's `resolution` gives."
        ),
    )
    bbox = BboxField(required=False, help_text=_("minLon,minLat,maxLon,maxLat (WGS-84)."))
    scheme = scheme_field(
        required=False,
        help_text=_("Class the cells' visits for a map: the response then has a `classification` (the legend)."),
    )
    classes = classes_field()


class GapQuerySerializer(CrsQuerySerializer):
    days = serializers.IntegerField(
        min_value=1, max_value=MAX_GAP_DAYS, default=90, help_text=_("The period: the last N days, today included.")
    )


class ServiceAreaQuerySerializer(GapQuerySerializer):
    radius_km = serializers.FloatField(
        min_value=0.01, max_value=MAX_RADIUS_KM, default=5.0, help_text=_("Radius around the station (km).")
    )


class IndicatorQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False, help_text=_("Default: this year."))

    def validate(self, attrs):
        attrs.setdefault("year", timezone.localdate().year)
        return attrs


# --- responses (schema only) ---------------------------------------------------------------------------


class GeometrySerializer(serializers.Serializer):
    type = serializers.CharField(help_text=_("Polygon or MultiPolygon."))
    coordinates = serializers.JSONField()


class DivisionCoveragePropertiesSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField(help_text=_("county, township or village."))
    visits = serializers.IntegerField(help_text=_("Visits whose point lies in the division."))
    households_visited = serializers.IntegerField(help_text=_("Registered households with a visit in the period."))
    households = serializers.IntegerField(help_text=_("Registered model households."))
    coverage = serializers.FloatField(
        allow_null=True, help_text=_("households_visited / households (0-1); null without households.")
    )
    workers_active = serializers.IntegerField(help_text=_("Extension workers with a visit here in the period."))
    commissioners_active = serializers.IntegerField(help_text=_("Tech commissioners with a visit here in the period."))
    last_visit = serializers.DateField(allow_null=True)
    label_lon = serializers.FloatField(allow_null=True, help_text=_("Where to write the name: a point inside."))
    label_lat = serializers.FloatField(allow_null=True)
    map_class = serializers.CharField(
        required=False,
        allow_null=True,
        help_text=_("With `scheme`: the key of the division's class in `classification` (null without boundary)."),
    )


class MapClassSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_("1, 2, … (value classes, ascending), unvisited or missing."))
    label = serializers.CharField(help_text=_("The legend text: 12–29%, 4–10, or the special class's name."))
    colour = serializers.CharField(help_text="#rrggbb")
    count = serializers.IntegerField(help_text=_("How many features are in the class."))
    lower = serializers.FloatField(allow_null=True, help_text=_("Inclusive bound (shares 0-1 for coverage)."))
    upper = serializers.FloatField(allow_null=True, help_text=_("Inclusive bound."))


class ClassificationSerializer(serializers.Serializer):
    value = serializers.CharField()
    scheme = serializers.CharField()
    percent = serializers.BooleanField()
    classes = MapClassSerializer(many=True)


class DivisionCoverageFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Feature")
    id = serializers.CharField()
    geometry = GeometrySerializer(allow_null=True)
    properties = DivisionCoveragePropertiesSerializer()


class DivisionCoverageSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="FeatureCollection")
    features = DivisionCoverageFeatureSerializer(many=True)
    classification = ClassificationSerializer(required=False, help_text=_("With `scheme`: the legend."))


class HexagonPropertiesSerializer(serializers.Serializer):
    h3 = serializers.CharField(help_text=_("H3 cell index, hex string."))
    resolution = serializers.IntegerField()
    visits = serializers.IntegerField()
    last_visit = serializers.DateField()
    map_class = serializers.CharField(required=False, help_text=_("With `scheme`: the key of the cell's class."))


class HexagonFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Feature")
    id = serializers.CharField()
    geometry = GeometrySerializer()
    properties = HexagonPropertiesSerializer()


class HexagonCoverageSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="FeatureCollection")
    features = HexagonFeatureSerializer(many=True)
    classification = ClassificationSerializer(required=False, help_text=_("With `scheme`: the legend."))


# Responses with household positions, which bureau viewers get coarsened to a grid. (A comment, not a docstring:
# the schema would show a docstring as the description of every response built on it.)
class LocationGridSerializer(serializers.Serializer):
    location_grid = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Null: household positions are exact. A number: they are the centres of H3 cells of this resolution "
            "(bureau viewers; the distances are taken from those centres)."
        ),
    )


class GapHouseholdSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    head_name = serializers.CharField()
    worker_id = serializers.IntegerField()
    worker_name = serializers.CharField()
    village_code = serializers.CharField()
    village_name = serializers.CharField()
    township_code = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    last_visit = serializers.DateField(allow_null=True, help_text=_("Last visit ever, or null."))


class GapVillageSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    township_code = serializers.CharField()
    households = serializers.IntegerField(help_text=_("Registered model households."))
    last_visit = serializers.DateField(allow_null=True, help_text=_("Last visit ever, or null."))
    rep_lat = serializers.FloatField(allow_null=True)
    rep_lon = serializers.FloatField(allow_null=True)
    geometry = GeometrySerializer(allow_null=True)


class CoverageGapsSerializer(LocationGridSerializer):
    days = serializers.IntegerField()
    since = serializers.DateField()
    until = serializers.DateField()
    households = GapHouseholdSerializer(many=True)
    villages = GapVillageSerializer(many=True)


class ServiceAreaStationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()


class ServiceAreaHouseholdSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    head_name = serializers.CharField()
    village_code = serializers.CharField()
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    distance_km = serializers.FloatField()
    visited = serializers.BooleanField()
    last_visit = serializers.DateField(allow_null=True)


class ServiceAreaSerializer(LocationGridSerializer):
    station = ServiceAreaStationSerializer()
    radius_km = serializers.FloatField()
    days = serializers.IntegerField()
    since = serializers.DateField()
    until = serializers.DateField()
    households = serializers.IntegerField()
    households_visited = serializers.IntegerField()
    coverage = serializers.FloatField(allow_null=True)
    items = ServiceAreaHouseholdSerializer(many=True)


class IndicatorValueSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text=_("Null where a ratio has no denominator."))
    target = serializers.FloatField(allow_null=True, help_text=_("Null where the plan sets none for this group."))
    target_max = serializers.FloatField(allow_null=True)
    status = StatusChoice(allow_null=True)
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)


class IndicatorGroupSerializer(IndicatorValueSerializer):
    code = serializers.CharField(help_text=_("Industry code, or the 12-digit code of a township, county or city."))
    name = serializers.CharField()


class PlanIndicatorSerializer(IndicatorValueSerializer):
    code = serializers.CharField()
    name = serializers.CharField(help_text=_("The plan's wording (Chinese)."))
    name_en = serializers.CharField()
    unit = serializers.CharField()
    by_industry = IndicatorGroupSerializer(many=True)
    by_township = IndicatorGroupSerializer(many=True)
    by_county = IndicatorGroupSerializer(many=True, help_text=_("Each county in the slice, with a county's targets."))
    by_city = IndicatorGroupSerializer(
        many=True,
        help_text=_("Each city in the slice, with the targets of its counties (a county's, times their number)."),
    )


class PlanIndicatorsSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    indicators = PlanIndicatorSerializer(many=True)


class MonthlyFiguresSerializer(serializers.Serializer):
    visits = serializers.IntegerField()
    trainings = serializers.IntegerField()
    training_attendance = serializers.IntegerField()
    workers_active = serializers.IntegerField(help_text=_("Extension workers with at least one visit."))
    commissioners_active = serializers.IntegerField(help_text=_("Tech commissioners with at least one visit."))


class MonthFiguresSerializer(MonthlyFiguresSerializer):
    month = serializers.CharField(help_text=_("YYYY-MM."))


class MonthlyActivitySerializer(serializers.Serializer):
    year = serializers.IntegerField()
    months = MonthFiguresSerializer(many=True)
    total = MonthlyFiguresSerializer(help_text=_("The whole year: active people counted over the year."))
    workers_registered = serializers.IntegerField(help_text=_("Active extension workers registered."))
    commissioners_in_service = serializers.IntegerField(help_text=_("Tech commissioners in service that year."))
