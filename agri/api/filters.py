"""List filters. Filters on foreign keys offer only rows the caller may see, so an out-of-scope id is
refused exactly like an unknown one (400) and never reveals that it exists."""

import datetime

import django_filters as filters
import numpy as np
from django import forms
from django.db import connection, models
from django.db.models import F
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.fields import BooleanField
from rest_framework.filters import OrderingFilter, SearchFilter

from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    ModelHousehold,
    Station,
    TechCommissioner,
    VisitFlag,
    VisitKind,
)
from agri.privacy import location_grid
from agri.selectors.spatial import within_radius
from geo.codes import JURISDICTION_LENGTHS, Level, full_code, significant_prefix
from geo.models import AdminDivision


class StrictBooleanFormField(forms.Field):
    """``true`` or ``false`` (empty: not filtered). django-filter's own reads anything else, ``null`` or
    ``yes``, as "not filtered" and answers the whole list."""

    widget = forms.TextInput
    default_error_messages = {"invalid": BooleanField.default_error_messages["invalid"]}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanFormField


class UtcIsoDateTimeField(filters.fields.IsoDateTimeField):
    """An ISO 8601 time with any UTC offset, converted to UTC: PostgreSQL refuses offsets beyond ±15:59 that
    Python accepts (up to ±23:59). A time whose UTC equivalent falls outside years 1-9999 is refused."""

    default_error_messages = {"overflow": _("Datetime value out of range.")}

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["overflow"], code="overflow") from None


class IsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class UpdatedSinceFilter(IsoDateTimeFilter):
    """``?updated_since=``: ``updated_at >= value``, which makes a list a pull (``SyncCursorPagination``).

    On a pull's later pages the cursor adds ``updated_at > position``, and a position not before ``value`` already
    implies this filter, so it steps aside: given both bounds on ``updated_at``, SQLite walks the index from the
    lower one, and each page of a long pull would read every row of the pages before it again.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, field_name="updated_at", lookup_expr="gte", **kwargs)

    def filter(self, qs, value):
        if value not in (None, "") and (position := self._position()) is not None and position >= value:
            return qs
        return super().filter(qs, value)

    def _position(self) -> datetime.datetime | None:
        from agri.api.pagination import SyncCursorPagination

        request = getattr(self.parent, "request", None)
        if request is None or not request.query_params.get(SyncCursorPagination.cursor_query_param):
            return None
        cursor = SyncCursorPagination().decode_cursor(request)  # a bad cursor is the pagination's 400
        if cursor is None or cursor.reverse or cursor.position is None:
            return None
        return datetime.datetime.fromisoformat(cursor.position)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 9999})
class YearFilter(filters.NumberFilter):
    """A year: a whole number from 1 to 9999 (django-filter's NumberFilter takes decimals up to 1e50)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=9999, **kwargs)


@extend_schema_field({"type": "number", "minimum": 0, "maximum": 500})
class RadiusFilter(filters.NumberFilter):
    """A radius in km, 0 to 500 (django-filter's NumberFilter takes up to 1e50)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=500, **kwargs)


class PrivateSearchFilter(SearchFilter):
    """DRF's ``?search=``, without the fields the caller is not shown: a view's ``coarse_hidden_fields`` (a family's
    names and address, ``agri.privacy``) are left out for readers of coarsened positions, or a search would confirm
    them."""

    def get_search_fields(self, view, request):
        fields = super().get_search_fields(view, request)
        hidden = getattr(view, "coarse_hidden_fields", ())
        if fields and hidden and location_grid(getattr(request, "user", None)) is not None:
            return [name for name in fields if name not in hidden]
        return fields


class PrivateOrderingFilter(OrderingFilter):
    """DRF's ``?ordering=``, without the fields the caller is not shown (``coarse_hidden_fields``, as for
    :class:`PrivateSearchFilter`): sorting by a masked name would give its alphabetical order away. Such a field is
    ignored, as DRF ignores any field a view does not offer."""

    def get_valid_fields(self, queryset, view, context=None):
        fields = super().get_valid_fields(queryset, view, context or {})
        hidden = getattr(view, "coarse_hidden_fields", ())
        request = (context or {}).get("request")
        if hidden and location_grid(getattr(request, "user", None)) is not None:
            return [(name, label) for name, label in fields if name not in hidden]
        return fields


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, which skips building the filter set when the query names none of its filters.

    Building one deep-copies every filter and makes its form (with the scoped querysets of the key filters) on
    each request; for the usual unfiltered list that is about a fifth of the request's time, and the result is
    the queryset unchanged. (No filter set here has a default value or a multi-part parameter name.)
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or filterset_class.base_filters.keys().isdisjoint(request.query_params.keys()):
            return queryset
        return super().filter_queryset(request, queryset, view)


class FilterSet(filters.FilterSet):
    """The project's filter sets: boolean model fields get the strict boolean filter."""

    FILTER_DEFAULTS = {**filters.FilterSet.FILTER_DEFAULTS, models.BooleanField: {"filter_class": StrictBooleanFilter}}


def visible(model):
    """A ModelChoiceFilter queryset limited to what the requesting user may see."""

    def queryset(request):
        return model.objects.visible_to(getattr(request, "user", None))

    return queryset


def divisions_in_scope(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return AdminDivision.objects.none()
    return AdminDivision.objects.within(user.jurisdiction)


def scoped(model, field_name=None, **kwargs):
    return filters.ModelChoiceFilter(queryset=visible(model), field_name=field_name, **kwargs)


class KeyRangeModelMultipleChoiceField(filters.fields.ModelMultipleChoiceField):
    """Refuses an integer key the database cannot hold as "not one of the available choices" before querying:
    ``pk__in`` (unlike ``pk=``) sends an out-of-range integer to the driver, and SQLite raises OverflowError."""

    def _check_values(self, value):
        pk = self.queryset.model._meta.pk
        low, high = connection.ops.integer_field_range(pk.get_internal_type())
        for item in value:
            try:
                number = int(item)
            except (TypeError, ValueError):
                continue  # Django answers invalid_pk_value for these
            if (low is not None and number < low) or (high is not None and number > high):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": item}
                )
        return super()._check_values(value)


class KeyRangeModelMultipleChoiceFilter(filters.ModelMultipleChoiceFilter):
    field_class = KeyRangeModelMultipleChoiceField


def scoped_many(model, field_name):
    return KeyRangeModelMultipleChoiceFilter(queryset=visible(model), field_name=field_name)


def division_choice(field_name):
    return filters.ModelChoiceFilter(queryset=divisions_in_scope, field_name=field_name)


DIVISION_PREFIX_LABEL = _(
    "Only records in the division whose code starts with this prefix (a township's 9 digits, say)."
)
COUNTY_PREFIX_LABEL = _(
    "Only people serving the county of this division code prefix (a township's or village's code means its county)."
)


class DivisionPrefixFilter(filters.CharFilter):
    """Matches records whose division code starts with the given prefix (a township's 9 digits, say)."""

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__prefix": significant_prefix(value)})


class DivisionCodeFilter(filters.CharFilter):
    """Matches a division by its 12-digit code, or by the significant digits a jurisdiction gives (``/me/``'s
    ``500235124`` is ``500235124000``)."""

    def filter(self, qs, value):
        if value and value.isascii() and value.isdigit() and len(value) in JURISDICTION_LENGTHS:
            value = full_code(value)
        return super().filter(qs, value)


class CountyPrefixFilter(DivisionPrefixFilter):
    """For people who serve a whole county (experts, commissioners): a township's or village's code matches its
    county's people, as a township account sees them."""

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__prefix": significant_prefix(value)[:6]})


class DivisionFilterSet(FilterSet):
    level = filters.ChoiceFilter(choices=Level.choices)
    parent = DivisionCodeFilter(
        field_name="parent_id",
        label=_("Only divisions whose parent has this code: 12 digits, or a jurisdiction's prefix as /me/ gives it."),
    )
    within = DivisionPrefixFilter(field_name="code", label=_("Only divisions whose code starts with this prefix."))
    fictional = StrictBooleanFilter(
        label=_("true: only the divisions the demo invented (name, code and boundary); false: only real ones.")
    )

    class Meta:
        model = AdminDivision
        fields = ["level", "parent", "boundary_synthetic", "fictional"]


class StationFilterSet(FilterSet):
    industry = filters.CharFilter(field_name="industries__code")
    division = DivisionPrefixFilter(field_name="village__code", label=DIVISION_PREFIX_LABEL)
    village = division_choice("village")

    class Meta:
        model = Station
        fields = ["host_type"]


class DemonstrationBaseFilterSet(FilterSet):
    industry = filters.CharFilter(field_name="industry__code")
    division = DivisionPrefixFilter(field_name="village__code", label=DIVISION_PREFIX_LABEL)
    village = division_choice("village")

    class Meta:
        model = DemonstrationBase
        fields = ["status"]


class FieldSchoolFilterSet(FilterSet):
    base = scoped(DemonstrationBase, "base")
    division = DivisionPrefixFilter(field_name="base__village__code", label=DIVISION_PREFIX_LABEL)


class ExpertFilterSet(FilterSet):
    industry = filters.CharFilter(field_name="industry__code")
    county = division_choice("county")
    division = CountyPrefixFilter(field_name="county__code", label=COUNTY_PREFIX_LABEL)

    class Meta:
        model = Expert
        fields = ["active"]


class ExtensionWorkerFilterSet(FilterSet):
    industry = filters.CharFilter(field_name="expert__industry__code")
    home_township = filters.CharFilter(field_name="home_township_id")
    division = DivisionPrefixFilter(field_name="home_township__code", label=DIVISION_PREFIX_LABEL)
    expert = scoped(Expert, "expert")

    class Meta:
        model = ExtensionWorker
        fields = ["is_township_based", "active"]


class TechCommissionerFilterSet(FilterSet):
    in_service_year = YearFilter(method="filter_in_service", label=_("Only commissioners in service in this year."))
    division = CountyPrefixFilter(field_name="county__code", label=COUNTY_PREFIX_LABEL)
    stations = scoped_many(Station, "stations")
    bases = scoped_many(DemonstrationBase, "bases")

    class Meta:
        model = TechCommissioner
        fields = ["affiliation_type", "active"]

    def filter_in_service(self, qs, name, value):
        return qs.in_service(int(value))


class ModelHouseholdFilterSet(FilterSet):
    industry = filters.CharFilter(field_name="industries__code")
    division = DivisionPrefixFilter(field_name="village__code", label=DIVISION_PREFIX_LABEL)
    updated_since = UpdatedSinceFilter()
    worker = scoped(ExtensionWorker, "worker")
    village = division_choice("village")


class FarmerFilterSet(FilterSet):
    division = DivisionPrefixFilter(field_name="village__code", label=DIVISION_PREFIX_LABEL)
    updated_since = UpdatedSinceFilter()
    household = scoped(ModelHousehold, "household")
    village = division_choice("village")


class VisitFilterSet(FilterSet):
    bbox = filters.CharFilter(
        method="filter_bbox", label=_("Only visits inside this box: minLon,minLat,maxLon,maxLat (WGS-84).")
    )
    near = filters.CharFilter(
        method="filter_near", label=_("Only visits near this point: lon,lat (WGS-84); with radius_km.")
    )
    radius_km = RadiusFilter(method="filter_noop", label=_("The radius around `near`, in km (default 1)."))
    division = filters.CharFilter(method="filter_division", label=DIVISION_PREFIX_LABEL)
    date_from = filters.DateFilter(field_name="visit_date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="visit_date", lookup_expr="lte")
    industry = filters.CharFilter(field_name="industry__code")
    kind = filters.ChoiceFilter(choices=VisitKind.choices)
    flag = filters.ChoiceFilter(choices=[(c, c) for c in VisitFlag.CODES], method="filter_flag")
    flagged = StrictBooleanFilter(method="filter_flagged")
    updated_since = UpdatedSinceFilter()
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
        return within_radius(queryset, lat=lat, lon=lon, radius_km=radius)

    def filter_noop(self, queryset, name, value):
        return queryset

    def filter_division(self, queryset, name, value):
        return queryset.filter(division__code__prefix=significant_prefix(value))

    def filter_flag(self, queryset, name, value):
        bit = VisitFlag.BITS[value]
        return queryset.alias(flag_hit=F("flag_bits").bitand(bit)).filter(flag_hit=bit)

    def filter_flagged(self, queryset, name, value):
        return queryset.filter(flag_bits__gt=0) if value else queryset.filter(flag_bits=0)

    def filter_incomplete(self, queryset, name, value):
        if value:
            return queryset.filter(photos_present__lt=F("photos_expected"))
        return queryset.filter(photos_present__gte=F("photos_expected"))
