"""The sync feed's shapes: every kind of record a phone keeps, typed by ``type``, and tombstones."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from agri.api.fields import QuerySerializer
from agri.api.network_serializers import (
    DemonstrationBaseSerializer,
    FarmerSerializer,
    IndustrySerializer,
    ModelHouseholdSerializer,
    StationSerializer,
)
from agri.api.photo_serializers import PhotoSerializer
from agri.api.visit_serializers import VisitSerializer
from agri.models import ChangeKind


class SyncQuerySerializer(QuerySerializer):
    sync_token = serializers.CharField(
        required=False,
        max_length=4000,
        help_text=_("The sync_token of the previous page or pull; none for a first sync."),
    )
    page_size = serializers.IntegerField(
        min_value=1, max_value=1000, default=500, help_text=_("Records and tombstones per page, at most 1000.")
    )


class DivisionRecordSerializer(serializers.Serializer):
    id = serializers.CharField(help_text=_("The 12-digit code, as tombstones name it."))
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField()
    parent = serializers.CharField(allow_null=True)
    boundary = serializers.JSONField(
        allow_null=True, help_text=_("Simplified GeoJSON boundary of a township or village (WGS-84); else null.")
    )


@extend_schema_field({"type": "boolean", "enum": [True]})
class TrueField(serializers.BooleanField):
    """Always true (what tells a tombstone from a record, whose ``deleted`` is false or absent)."""


class SyncTombstoneSerializer(serializers.Serializer):
    id = serializers.CharField(help_text=_("The record's id (a division's code)."))
    type = serializers.ChoiceField(choices=[c for c in ChangeKind.choices if c[0] != ChangeKind.EPOCH])
    deleted = TrueField(help_text=_("Always true: delete this record and what hangs on it."))
    updated_at = serializers.DateTimeField()


def _typed(kind: str, base: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """``base`` with the ``type`` discriminator, for the schema (the view adds the key to what ``base`` renders)."""
    attrs = {"type": serializers.ChoiceField(choices=[kind], help_text=_("The kind of record."))}
    meta = getattr(base, "Meta", None)
    if meta is not None and hasattr(meta, "fields"):
        attrs["Meta"] = type("Meta", (meta,), {"fields": ["type", *meta.fields]})
    return type(f"Sync{base.__name__.removesuffix('Serializer')}", (base,), attrs)


SYNC_RECORD_SERIALIZERS = {
    ChangeKind.INDUSTRY: IndustrySerializer,
    ChangeKind.DIVISION: DivisionRecordSerializer,
    ChangeKind.STATION: StationSerializer,
    ChangeKind.BASE: DemonstrationBaseSerializer,
    ChangeKind.HOUSEHOLD: ModelHouseholdSerializer,
    ChangeKind.FARMER: FarmerSerializer,
    ChangeKind.VISIT: VisitSerializer,
    ChangeKind.PHOTO: PhotoSerializer,
}

SyncItemSerializer = PolymorphicProxySerializer(
    component_name="SyncItem",
    serializers=[*(_typed(str(k), s) for k, s in SYNC_RECORD_SERIALIZERS.items()), SyncTombstoneSerializer],
    resource_type_field_name=None,
    many=True,
)


class SyncPageSerializer(serializers.Serializer):
    results = SyncItemSerializer
    next = serializers.URLField(allow_null=True, help_text=_("The next page of this pull, or null at its end."))
    sync_token = serializers.CharField(
        help_text=_("Keep it: the next pull (or, mid-pull, the next page) starts from it. Opaque; valid only for you.")
    )
