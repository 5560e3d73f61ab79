"""The extension network: industries, divisions, stations, bases and field schools, experts, workers,
commissioners, model households and farmers; the network tree and summary (responses only)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import UniqueValidator

from agri.api.crs import convert_geojson, convert_point, output_crs
from agri.api.fields import DivisionCodeField, QuerySerializer, StrictJSONTypesMixin
from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    Industry,
    ModelHousehold,
    Station,
    TechCommissioner,
)
from agri.privacy import FARMER, HOUSEHOLD, PERSON, personal_data_owner, redact
from geo.codes import Level
from geo.models import AdminDivision


class MaskedPersonalDataMixin:
    """Responses show what the caller may see of a person's record by the one rule (``agri.privacy``): numbers
    masked, and for bureau viewers families' names, addresses and positions coarsened. It runs on WGS-84 positions,
    so it comes after ``LocatedFieldsMixin`` (which converts them for ``?crs=``) in a serializer's bases."""

    private = PERSON

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        return redact([data], getattr(request, "user", None), self.private, [personal_data_owner(instance)])[0]


class IndustryRef(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "code")
        kwargs.setdefault("queryset", Industry.objects.all())
        super().__init__(**kwargs)


class ImmutableCodeMixin:
    """A code that phones store and send back (an industry's, a division's) is set when the row is created and never
    changes: a write that changes it is refused (400, field error ``immutable``) and stores nothing."""

    def validate_code(self, value):
        if self.instance is not None and value != self.instance.code:
            raise serializers.ValidationError(
                _("A code never changes once created: phones store it. Create a new record instead."), code="immutable"
            )
        return value


class IndustrySerializer(ImmutableCodeMixin, StrictJSONTypesMixin, serializers.ModelSerializer):
    class Meta:
        model = Industry
        fields = ["id", "code", "name", "name_en", "sort_order"]


class DivisionSerializer(ImmutableCodeMixin, StrictJSONTypesMixin, serializers.ModelSerializer):
    code = serializers.RegexField(
        r"^[0-9]{12}$",
        max_length=12,
        validators=[UniqueValidator(queryset=AdminDivision.objects.all())],
        error_messages={"invalid": _("A division code has exactly 12 digits.")},
        help_text=_("12-digit division code."),
    )
    parent = serializers.PrimaryKeyRelatedField(
        queryset=AdminDivision.objects.all(), allow_null=True, required=False, help_text=_("Parent's 12-digit code.")
    )

    class Meta:
        model = AdminDivision
        fields = [
            "code",
            "name",
            "level",
            "parent",
            "boundary_synthetic",
            "fictional",
            "area_km2",
            "rep_lat",
            "rep_lon",
        ]
        read_only_fields = ["boundary_synthetic", "fictional", "area_km2"]
        # The table's check constraints, checked here: out of range is a 400, not an IntegrityError.
        extra_kwargs = {
            "rep_lat": {"min_value": -90, "max_value": 90},
            "rep_lon": {"min_value": -180, "max_value": 180},
        }

    def to_representation(self, instance):
        data = super().to_representation(instance)
        crs = output_crs(self.context.get("request"))
        data["rep_lon"], data["rep_lat"] = convert_point(data["rep_lon"], data["rep_lat"], crs)
        return data

    def validate(self, attrs):
        from geo.codes import PARENT_LEVEL, code_errors

        code = attrs.get("code", getattr(self.instance, "code", None))
        level = attrs.get("level", getattr(self.instance, "level", None))
        parent = attrs.get("parent", getattr(self.instance, "parent", None))
        errors = code_errors(code, level, parent.code if parent else None, parent.level if parent else None)
        if errors:
            raise serializers.ValidationError({"code": errors})
        # As import_divisions has it: counties and above may start a tree, a township or village hangs below its
        # parent (whose code the coverage outputs give as its township's).
        if parent is None and level in (Level.TOWNSHIP, Level.VILLAGE):
            message = _("A %(level)s needs its parent, the %(parent)s it belongs to.") % {
                "level": Level(level).label,
                "parent": Level(PARENT_LEVEL[level]).label,
            }
            raise serializers.ValidationError({"parent": [ErrorDetail(message, code="required")]})
        request = self.context.get("request")
        jurisdiction = request.user.jurisdiction if request else ""
        if jurisdiction and not code.startswith(jurisdiction):
            raise serializers.ValidationError({"code": [_("This code is outside your jurisdiction.")]})
        return attrs


class LocatedFieldsMixin(serializers.Serializer):
    """WGS-84 ``lat``/``lon`` and ``village_code``; responses honour ``?crs=gcj02|bd09`` (``parcel`` too)."""

    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("Latitude, WGS-84 (or ?crs= in responses)."))
    lon = serializers.FloatField(min_value=-180, max_value=180, help_text=_("Longitude, WGS-84."))
    village_code = DivisionCodeField(Level.VILLAGE, source="village", help_text=_("12-digit village code."))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        crs = output_crs(self.context.get("request"))
        if crs != "wgs84":
            data["lon"], data["lat"] = convert_point(data["lon"], data["lat"], crs)
            if data.get("parcel"):
                data["parcel"] = convert_geojson(data["parcel"], crs)
        return data


class StationSerializer(StrictJSONTypesMixin, LocatedFieldsMixin, serializers.ModelSerializer):
    industries = IndustryRef(many=True, required=False)

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "host_org",
            "host_type",
            "industries",
            "lat",
            "lon",
            "village_code",
            "established_on",
            "created_at",
            "updated_at",
        ]


def _positions(depth: int) -> serializers.ListField:
    """``depth`` nested arrays around a GeoJSON position ([lon, lat], WGS-84)."""
    field = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=3)
    for _level in range(depth):
        field = serializers.ListField(child=field)
    return field


class PolygonGeometrySerializer(serializers.Serializer):
    """A GeoJSON Polygon: its linear rings of [lon, lat] positions (WGS-84), the outer ring first."""

    type = serializers.ChoiceField(choices=["Polygon"])
    coordinates = _positions(2)


class MultiPolygonGeometrySerializer(serializers.Serializer):
    """A GeoJSON MultiPolygon: its polygons, each its linear rings of [lon, lat] positions (WGS-84)."""

    type = serializers.ChoiceField(choices=["MultiPolygon"])
    coordinates = _positions(3)


# Documentation only: typed to the position, so that a generated client has a type for every level.
@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="Parcel",
        serializers={"Polygon": PolygonGeometrySerializer, "MultiPolygon": MultiPolygonGeometrySerializer},
        resource_type_field_name=None,  # each variant's `type` enum tells them apart
    )
)
class ParcelField(serializers.JSONField):
    """A GeoJSON polygon (checked by DemonstrationBaseSerializer.validate_parcel)."""


class DemonstrationBaseSerializer(StrictJSONTypesMixin, LocatedFieldsMixin, serializers.ModelSerializer):
    industry = IndustryRef()
    parcel = ParcelField(required=False, allow_null=True, help_text=_("GeoJSON Polygon or MultiPolygon, WGS-84."))
    field_school = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = DemonstrationBase
        fields = [
            "id",
            "name",
            "industry",
            "operator",
            "lat",
            "lon",
            "village_code",
            "parcel",
            "area_mu",
            "certified_on",
            "status",
            "field_school",
            "created_at",
            "updated_at",
        ]

    def validate_parcel(self, value):
        if value is None:
            return value
        import shapely
        from shapely.geometry import shape

        try:
            geom = shape(value)
        except Exception as exc:
            raise serializers.ValidationError(_("Not a GeoJSON geometry."), code="invalid_geometry") from exc
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise serializers.ValidationError(
                _("The parcel must be a Polygon or MultiPolygon."), code="invalid_geometry"
            )
        bounds = geom.bounds
        if not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
            raise serializers.ValidationError(_("Parcel coordinates are out of range."), code="invalid_geometry")
        if not geom.is_valid:
            raise serializers.ValidationError(
                _("The parcel polygon is invalid: %(reason)s") % {"reason": shapely.is_valid_reason(geom)},
                code="invalid_geometry",
            )
        return value

    def validate(self, attrs):
        status = attrs.get("status", getattr(self.instance, "status", None))
        certified_on = attrs.get("certified_on", getattr(self.instance, "certified_on", None))
        if status == "certified" and not certified_on:
            raise serializers.ValidationError(
                {"certified_on": [_("A certified base needs its certification date.")]}, code="required"
            )
        return attrs


class FieldSchoolSerializer(StrictJSONTypesMixin, serializers.ModelSerializer):
    base = serializers.PrimaryKeyRelatedField(read_only=True)
    base_name = serializers.CharField(source="base.name", read_only=True)

    class Meta:
        model = FieldSchool
        fields = ["id", "base", "base_name", "name", "established_on", "capacity", "created_at", "updated_at"]


class ExpertSerializer(StrictJSONTypesMixin, MaskedPersonalDataMixin, serializers.ModelSerializer):
    industry = IndustryRef()
    county_code = DivisionCodeField(Level.COUNTY, source="county")
    workers_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Expert
        fields = [
            "id",
            "name",
            "industry",
            "county_code",
            "title",
            "organization",
            "phone",
            "active",
            "workers_count",
            "created_at",
            "updated_at",
        ]
        validators = []  # the partial unique constraint is checked in validate() with a clear message

    def validate(self, attrs):
        industry = attrs.get("industry", getattr(self.instance, "industry", None))
        county = attrs.get("county", getattr(self.instance, "county", None))
        active = attrs.get("active", getattr(self.instance, "active", True))
        if active and industry and county:
            clash = Expert.objects.filter(industry=industry, county=county, active=True)
            if self.instance:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"industry": [_("This industry already has an active expert in this county.")]}, code="unique"
                )
        return attrs


class ExtensionWorkerSerializer(StrictJSONTypesMixin, MaskedPersonalDataMixin, serializers.ModelSerializer):
    expert = serializers.PrimaryKeyRelatedField(queryset=Expert.objects.all())
    industry = serializers.SlugRelatedField(source="expert.industry", slug_field="code", read_only=True)
    home_township_code = DivisionCodeField(Level.TOWNSHIP, source="home_township")
    households_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ExtensionWorker
        fields = [
            "id",
            "name",
            "expert",
            "industry",
            "is_township_based",
            "home_township_code",
            "phone",
            "active",
            "households_count",
            "created_at",
            "updated_at",
        ]
        # The model's label carries the Chinese term in every language.
        extra_kwargs = {"is_township_based": {"label": _("Township-based")}}


class TechCommissionerSerializer(StrictJSONTypesMixin, MaskedPersonalDataMixin, serializers.ModelSerializer):
    county_code = DivisionCodeField(Level.COUNTY, source="county")
    stations = serializers.PrimaryKeyRelatedField(queryset=Station.objects.all(), many=True, required=False)
    bases = serializers.PrimaryKeyRelatedField(queryset=DemonstrationBase.objects.all(), many=True, required=False)

    class Meta:
        model = TechCommissioner
        fields = [
            "id",
            "name",
            "affiliation",
            "affiliation_type",
            "specialty",
            "county_code",
            "service_start_year",
            "service_end_year",
            "phone",
            "active",
            "stations",
            "bases",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        start = attrs.get("service_start_year", getattr(self.instance, "service_start_year", None))
        end = attrs.get("service_end_year", getattr(self.instance, "service_end_year", None))
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError(
                {"service_end_year": [_("The last service year cannot be before the first.")]}, code="invalid"
            )
        return attrs


class ClientIdMixin(serializers.Serializer):
    """Records phones create offline: a client-generated id, and ``deleted`` for the tombstones of a pull."""

    id = serializers.UUIDField(required=False, help_text=_("Client-generated UUID; posting it again is idempotent."))
    deleted = serializers.SerializerMethodField(help_text=_("True for a tombstone in a pull (?updated_since=)."))

    def get_deleted(self, obj) -> bool:
        return obj.deleted_at is not None

    def update(self, instance, validated_data):
        validated_data.pop("id", None)  # a record's id never changes
        return super().update(instance, validated_data)


class ModelHouseholdSerializer(
    StrictJSONTypesMixin, ClientIdMixin, LocatedFieldsMixin, MaskedPersonalDataMixin, serializers.ModelSerializer
):
    private = HOUSEHOLD

    worker = serializers.PrimaryKeyRelatedField(
        queryset=ExtensionWorker.objects.all(),
        required=False,
        help_text=_("The linked extension worker; defaults to the caller when the caller is a worker."),
    )
    industries = IndustryRef(many=True, required=False)
    farmers_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModelHousehold
        fields = [
            "id",
            "worker",
            "head_name",
            "phone",
            "address",
            "industries",
            "lat",
            "lon",
            "village_code",
            "farmers_count",
            "deleted",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        if "worker" not in attrs and self.instance is None:
            request = self.context["request"]
            worker = request.user.linked("extension_worker")
            if worker is None:
                raise serializers.ValidationError({"worker": [_("This field is required.")]}, code="required")
            attrs["worker"] = worker
        return attrs


class FarmerSerializer(
    StrictJSONTypesMixin, LocatedFieldsMixin, MaskedPersonalDataMixin, ClientIdMixin, serializers.ModelSerializer
):
    private = FARMER

    household = serializers.PrimaryKeyRelatedField(queryset=ModelHousehold.objects.all())
    # A farmer has no position of its own: it stands at its household's (read with the page: household is joined).
    lat = serializers.FloatField(source="household.lat", read_only=True, help_text=_("The household's latitude."))
    lon = serializers.FloatField(source="household.lon", read_only=True, help_text=_("The household's longitude."))
    village_code = DivisionCodeField(Level.VILLAGE, source="village")

    class Meta:
        model = Farmer
        fields = [
            "id",
            "household",
            "name",
            "phone",
            "id_number",
            "lat",
            "lon",
            "village_code",
            "deleted",
            "created_at",
            "updated_at",
        ]


class PersonalDataRevealSerializer(StrictJSONTypesMixin, serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, allow_blank=True, default="", help_text=_("Why the data is needed; kept in the audit record.")
    )


class RevealedPersonalDataSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)
    id_number = serializers.CharField(allow_blank=True)


class DivisionBoundaryQuerySerializer(QuerySerializer):
    detail = serializers.ChoiceField(
        choices=["display", "full"], default="display", help_text=_("Simplified or full geometry.")
    )


YEAR_RANGE = _("Give a year between 2000 and 2100.")


class NetworkSummaryQuerySerializer(QuerySerializer):
    year = serializers.IntegerField(
        min_value=2000,
        max_value=2100,
        required=False,
        help_text=_("Year for commissioners in service."),
        error_messages={code: YEAR_RANGE for code in ("invalid", "min_value", "max_value", "max_string_length")},
    )


# --- network tree and summary (responses only) ------------------------------------------------


class IndustryBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class StatusChoice(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=["under", "met", "over"], **kwargs)


class HouseholdNodeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    head_name = serializers.CharField()
    village_code = serializers.CharField()
    farmers = serializers.IntegerField()
    status = StatusChoice()


class WorkerNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_township_based = serializers.BooleanField()
    home_township_code = serializers.CharField()
    home_township_name = serializers.CharField()
    households = serializers.IntegerField()
    farmers = serializers.IntegerField()
    target = serializers.IntegerField()
    status = StatusChoice()
    household_nodes = HouseholdNodeSerializer(many=True)


class ExpertNetworkCountsSerializer(serializers.Serializer):
    workers = serializers.IntegerField()
    township_workers = serializers.IntegerField()
    township_share = serializers.FloatField()
    households = serializers.IntegerField()
    farmers = serializers.IntegerField()


class ExpertNetworkTargetsSerializer(serializers.Serializer):
    workers = serializers.IntegerField()
    township_share = serializers.FloatField()
    households = serializers.IntegerField()
    farmers = serializers.IntegerField()


class ExpertNetworkStatusSerializer(serializers.Serializer):
    workers = StatusChoice()
    township_share = StatusChoice()


class ExpertNetworkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    industry = IndustryBriefSerializer()
    counts = ExpertNetworkCountsSerializer()
    targets = ExpertNetworkTargetsSerializer()
    status = ExpertNetworkStatusSerializer()
    workers = WorkerNodeSerializer(many=True)


class IndicatorSerializer(serializers.Serializer):
    value = serializers.FloatField()
    target = serializers.FloatField()
    status = StatusChoice()


class NodeIndicatorSerializer(IndicatorSerializer):
    under_target_nodes = serializers.IntegerField(help_text=_("Nodes below their own target."))


class RangeIndicatorSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    target_min = serializers.IntegerField()
    target_max = serializers.IntegerField()
    status = StatusChoice()


class IndustrySummarySerializer(serializers.Serializer):
    industry = IndustryBriefSerializer()
    experts = IndicatorSerializer()
    workers = NodeIndicatorSerializer()
    township_share = IndicatorSerializer()
    households = NodeIndicatorSerializer()
    farmers = IndicatorSerializer()


class NetworkSummarySerializer(serializers.Serializer):
    year = serializers.IntegerField()
    industries = IndustrySummarySerializer(many=True)
    bases = RangeIndicatorSerializer()
    field_schools = IndicatorSerializer()
    commissioners_in_service = IndicatorSerializer()
