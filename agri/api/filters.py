import django_filters as filters

from agri.models import DemonstrationBase, Expert, ExtensionWorker, Farmer, ModelHousehold, Station, TechCommissioner
from geo.codes import Level, significant_prefix
from geo.models import AdminDivision


class DivisionPrefixFilter(filters.CharFilter):
    """Matches records whose division code starts with the given prefix (a township's 9 digits, say)."""

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__startswith": significant_prefix(value)})


class DivisionFilterSet(filters.FilterSet):
    level = filters.ChoiceFilter(choices=Level.choices)
    parent = filters.CharFilter(field_name="parent_id")
    within = DivisionPrefixFilter(field_name="code", label="code prefix")

    class Meta:
        model = AdminDivision
        fields = ["level", "parent", "boundary_synthetic"]


class StationFilterSet(filters.FilterSet):
    industry = filters.CharFilter(field_name="industries__code")
    division = DivisionPrefixFilter(field_name="village__code", label="division code prefix")

    class Meta:
        model = Station
        fields = ["host_type", "village"]


class DemonstrationBaseFilterSet(filters.FilterSet):
    industry = filters.CharFilter(field_name="industry__code")
    division = DivisionPrefixFilter(field_name="village__code", label="division code prefix")

    class Meta:
        model = DemonstrationBase
        fields = ["status", "village"]


class ExpertFilterSet(filters.FilterSet):
    industry = filters.CharFilter(field_name="industry__code")

    class Meta:
        model = Expert
        fields = ["active", "county"]


class ExtensionWorkerFilterSet(filters.FilterSet):
    industry = filters.CharFilter(field_name="expert__industry__code")
    home_township = filters.CharFilter(field_name="home_township_id")

    class Meta:
        model = ExtensionWorker
        fields = ["expert", "is_township_based", "active"]


class TechCommissionerFilterSet(filters.FilterSet):
    in_service_year = filters.NumberFilter(method="filter_in_service", label="in service in year")

    class Meta:
        model = TechCommissioner
        fields = ["affiliation_type", "active", "stations", "bases"]

    def filter_in_service(self, qs, name, value):
        return qs.in_service(int(value))


class ModelHouseholdFilterSet(filters.FilterSet):
    industry = filters.CharFilter(field_name="industries__code")
    division = DivisionPrefixFilter(field_name="village__code", label="division code prefix")
    updated_since = filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = ModelHousehold
        fields = ["worker", "village"]


class FarmerFilterSet(filters.FilterSet):
    division = DivisionPrefixFilter(field_name="village__code", label="division code prefix")
    updated_since = filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Farmer
        fields = ["household", "village"]
