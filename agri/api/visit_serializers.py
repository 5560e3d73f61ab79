"""Visit payloads: the write shape phones send, and the read shape (built from ``.values()`` rows)."""

import functools
import uuid

import numpy as np
import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Aggregate, OuterRef, Subquery, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from agri import errors
from agri.api.exceptions import api_exception
from agri.api.fields import StrictJSONTypesMixin
from agri.api.times import LocalTimes
from agri.models import SourceCrs, Visit, VisitFlag, VisitKind
from agri.models.base import EARLIEST_TIME, LATEST_TIME, UTCText, uuid_text
from agri.models.visits import POINT_FIELDS, TARGET_COLUMNS
from agri.privacy import VISIT, redact
from agri.services.visits import visit_check
from geo.crs import from_wgs84


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset: a phone's clock zone is not ours to guess."""

    default_error_messages = {
        "naive": _("Give the time with its UTC offset, e.g. 2025-03-14T09:30:00+08:00."),
        "min_value": _("Ensure this time is on or after {limit} (is the phone's clock set?)."),
        "max_value": _("Ensure this time is before {limit}."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well formed but impossible: minute 60, 30 February
                self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]]±hh:mm")
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        value = super().to_internal_value(value)
        if value < EARLIEST_TIME:
            self.fail("min_value", limit=EARLIEST_TIME.isoformat())
        if value >= LATEST_TIME:
            self.fail("max_value", limit=LATEST_TIME.isoformat())
        return value


class LookupField(serializers.Field):
    """An id resolved against rows preloaded for the whole batch (``context["lookups"][kind]``).

    The lookups hold only rows the caller may see, so an out-of-scope id gets the same
    "does not exist" error as an unknown one, and a batch of 500 costs one query per kind.
    """

    default_error_messages = {
        "does_not_exist": _('Invalid pk "{pk_value}" - object does not exist.'),
        "incorrect_type": _("Incorrect type. Expected pk value, received {data_type}."),
    }

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    @property
    def json_type(self) -> str:
        """Bases and stations have integer ids; the others are strings (UUIDs, industry and village codes)."""
        return "integer" if self.kind in ("base", "station") else "string"

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        key = str(data)
        if self.kind in ("household", "farmer"):
            try:
                key = str(uuid.UUID(key))
            except ValueError:
                self.fail("does_not_exist", pk_value=data)
        obj = self.context["lookups"][self.kind].get(key)
        if obj is None:
            self.fail("does_not_exist", pk_value=data)
        return obj

    def to_representation(self, value):
        return value


class VisitWriteSerializer(StrictJSONTypesMixin, serializers.Serializer):
    id = serializers.UUIDField(help_text=_("Client-generated UUID. Replaying it with the same payload is safe."))
    kind = serializers.ChoiceField(choices=VisitKind.choices)
    industry = LookupField("industry", required=False, allow_null=True, help_text=_("Industry code, e.g. citrus."))
    household = LookupField("household", required=False, allow_null=True, help_text=_("Target: model household id."))
    farmer = LookupField("farmer", required=False, allow_null=True, help_text=_("Target: farmer id."))
    base = LookupField("base", required=False, allow_null=True, help_text=_("Target: demonstration base id."))
    station = LookupField("station", required=False, allow_null=True, help_text=_("Target: station id."))
    village = LookupField("village", required=False, allow_null=True, help_text=_("Target: 12-digit village code."))
    started_at = AwareDateTimeField(
        help_text=_(
            "When the visit started, with its UTC offset; from 1970-01-01 up to (not including) 2100-01-01 UTC."
        )
    )
    ended_at = AwareDateTimeField(
        required=False, allow_null=True, help_text=_("When it ended (not before it started), with its UTC offset.")
    )
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("Latitude in source_crs."))
    lon = serializers.FloatField(min_value=-180, max_value=180, help_text=_("Longitude in source_crs."))
    accuracy_m = serializers.FloatField(min_value=0, max_value=100000, required=False, allow_null=True)
    altitude_m = serializers.FloatField(min_value=-500, max_value=9000, required=False, allow_null=True)
    source_crs = serializers.ChoiceField(choices=SourceCrs.choices, default=SourceCrs.WGS84)
    mock_location = serializers.BooleanField(default=False)
    notes = serializers.CharField(
        allow_blank=True, max_length=5000, default="", style={"base_template": "textarea.html"}
    )
    participants = serializers.IntegerField(min_value=0, max_value=100000, default=0)
    introduced = serializers.ListField(child=serializers.CharField(max_length=100), max_length=50, default=list)
    attendees = serializers.ListField(child=LookupField("farmer"), max_length=1000, default=list)
    photos_expected = serializers.IntegerField(min_value=0, max_value=50, default=0)

    def validate(self, attrs):
        # A PATCH carries only what changes; visit_update checks the merged visit.
        if self.partial:
            return attrs
        try:
            return visit_check(attrs)
        except errors.InvalidInput as exc:
            raise api_exception(exc) from exc


class VisitBatchSerializer(serializers.Serializer):
    visits = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=500,
        help_text=_("Up to 500 visits, as for POST /visits/."),
    )


# The batch as the schema documents it (``VisitBatchRequest``): each item a ``VisitWriteRequest``, so that generated
# clients send their visit objects as they are. For the schema only (no docstring: it would become the component's
# description): VisitBatchSerializer reads the items as plain objects and the view validates each on its own, so one
# bad item never blocks the others.
class VisitBatchSchemaSerializer(serializers.Serializer):
    visits = serializers.ListField(
        child=VisitWriteSerializer(),
        min_length=1,
        max_length=500,
        help_text=_("Up to 500 visits, as for POST /visits/."),
    )

    class Meta:
        ref_name = "VisitBatch"  # the component of VisitBatchSerializer it documents


class VisitBatchResultSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["created", "unchanged", "conflict", "invalid", "failed"],
        help_text=_(
            "created: stored now; unchanged: already stored with this payload; conflict: this id is taken (another "
            "payload, or a visit that is not yours to replay); invalid: see errors; failed: not stored because the "
            "database failed, send it again later."
        ),
    )
    code = serializers.CharField(help_text=_("The status, a validation error code, or retry_later for failed."))
    message = serializers.CharField(
        required=False, help_text=_("Only for failed items: what happened, in the request's language.")
    )
    errors = serializers.DictField(help_text=_("Field errors, as in the error shape's fields."))
    version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=_("Only for conflict: the stored visit's version (null if you may not see it)."),
    )
    etag = serializers.CharField(
        required=False,
        allow_null=True,
        help_text=_("Only for conflict: the stored visit's ETag, for If-Match (null if you may not see it)."),
    )


class VisitBatchResponseSerializer(serializers.Serializer):
    results = VisitBatchResultSerializer(many=True)


class VisitSerializer(serializers.Serializer):
    # The read shape, for the schema only: visits are rendered by ``visit_object`` for speed.

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=VisitKind.choices)
    industry = serializers.CharField(allow_null=True)
    household = serializers.UUIDField(allow_null=True)
    farmer = serializers.UUIDField(allow_null=True)
    base = serializers.IntegerField(allow_null=True)
    station = serializers.IntegerField(allow_null=True)
    village = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    lat = serializers.FloatField(help_text=_("WGS-84, or the system asked for with ?crs="))
    lon = serializers.FloatField()
    accuracy_m = serializers.FloatField(allow_null=True)
    altitude_m = serializers.FloatField(allow_null=True)
    source_crs = serializers.ChoiceField(choices=SourceCrs.choices)
    mock_location = serializers.BooleanField()
    notes = serializers.CharField()
    participants = serializers.IntegerField()
    introduced = serializers.ListField(child=serializers.CharField())
    attendees = serializers.ListField(child=serializers.UUIDField(), help_text=_("Farmers who attended (trainings)."))
    photos_expected = serializers.IntegerField()
    photos_present = serializers.IntegerField()
    division_code = serializers.CharField(allow_null=True, help_text=_("12-digit village code, or null."))
    township_code = serializers.CharField(allow_null=True)
    flags = serializers.ListField(child=serializers.ChoiceField(choices=VisitFlag.CODES))
    actor_type = serializers.ChoiceField(choices=["expert", "worker", "commissioner"])
    actor_id = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted = serializers.BooleanField()


VISIT_VALUES = (
    "id",
    "kind",
    "industry__code",
    *TARGET_COLUMNS,
    "started_at",
    "ended_at",
    *POINT_FIELDS,
    "notes",
    "participants",
    "introduced",
    "photos_expected",
    "photos_present",
    "division_id",
    "township_code",
    "flag_bits",
    "expert_id",
    "worker_id",
    "commissioner_id",
    "received_at",
    "updated_at",
    "deleted_at",
)


@functools.lru_cache(maxsize=4096)
def _flags(bits: int) -> tuple[str, ...]:
    """Flag codes of a ``flag_bits`` value: few distinct values occur, so each is decoded once per process."""
    return tuple(VisitFlag.decode(bits))


def visit_object(row: tuple, time: LocalTimes, extra: dict | None = None) -> dict:
    """One visit as the API's JSON object, from its ``VISIT_VALUES`` in order (no per-row queries).

    The values may come from Django (``.values()``: ``uuid.UUID``, aware times, decoded JSON) or straight from the
    cursor (``visit_page``: hex or UUID text, naive UTC times as text, JSON text); both give the same object.
    A row with one more value carries the visit's attendees as comma-joined ids (``attendee_ids``, null for none);
    without it, ``_complete`` adds them. ``extra``: keys the object starts with.
    """
    (
        pk, kind, industry, household, farmer, base, station, village, started_at, ended_at, lat, lon, accuracy_m,
        altitude_m, source_crs, mock_location, notes, participants, introduced, photos_expected, photos_present,
        division, township, flag_bits, expert, worker, commissioner, received_at, updated_at, deleted_at, *attendance,
    ) = row  # fmt: skip
    if worker:
        actor_type, actor_id = "worker", worker
    elif expert:
        actor_type, actor_id = "expert", expert
    else:
        actor_type, actor_id = "commissioner", commissioner
    visit = {
        **(extra or {}),
        "id": uuid_text(pk),
        "kind": kind,
        "industry": industry,
        "household": uuid_text(household),
        "farmer": uuid_text(farmer),
        "base": base,
        "station": station,
        "village": village,
        "started_at": time(started_at),
        "ended_at": time(ended_at),
        "lat": lat,
        "lon": lon,
        "accuracy_m": accuracy_m,
        "altitude_m": altitude_m,
        "source_crs": source_crs,
        "mock_location": bool(mock_location),
        "notes": notes,
        "participants": participants,
        "introduced": orjson.loads(introduced) if isinstance(introduced, str | bytes) else introduced,
        "photos_expected": photos_expected,
        "photos_present": photos_present,
        "division_code": division,
        "township_code": township or None,
        "flags": list(_flags(flag_bits)),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "received_at": time(received_at),
        "updated_at": time(updated_at),
        "deleted": deleted_at is not None,
    }
    if attendance:
        visit["attendees"] = sorted(uuid_text(i) for i in attendance[0].split(",")) if attendance[0] else []
    return visit


def render_rows(rows, crs: str, user) -> list[dict]:
    """Rows from ``.values(*VISIT_VALUES)`` as API objects for ``user`` (positions by the one rule of
    ``agri.privacy``), converting coordinates for the whole page at once."""
    time = LocalTimes(timezone.get_current_timezone())
    out = [visit_object(tuple(row[name] for name in VISIT_VALUES), time) for row in rows]
    return _complete(redact(out, user, VISIT), crs)


UUID_TARGETS = ("household_id", "farmer_id")
TIME_COLUMNS = ("started_at", "ended_at", "received_at", "updated_at", "deleted_at")


class JoinedText(Aggregate):
    """Values joined by commas as text (``group_concat``, ``string_agg``): order is not kept, callers sort."""

    function = "group_concat"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, function="string_agg", template="%(function)s(%(expressions)s::text, ',')"
        )


def attendee_ids():
    """The farmers at a visit as one comma-joined text per row (null when none), read inside the page's query."""
    through = Visit.attendees.through.objects.filter(visit_id=OuterRef("pk")).order_by()
    return Subquery(through.values("visit_id").annotate(ids=JoinedText("farmer_id")).values("ids"))


def visit_page(queryset, crs: str, user, extra: dict | None = None) -> list[dict]:
    """The visits of ``queryset`` as API objects for ``user``, for pages rendered in bulk (lists and the sync feed);
    ``extra``: keys each object starts with (the sync feed's ``type``).

    The SQL is the one Django compiles for ``.values_list(*VISIT_VALUES)`` plus each visit's attendees, but the rows
    go from the cursor to ``visit_object`` without Django's conversions, which turn every UUID into a ``uuid.UUID``
    and check every time for awareness, field by field and row by row, and cost more than the query.
    ``tests/agri/api/test_visit_page.py`` holds both paths equal on SQLite and PostgreSQL.
    """
    # UUIDs as text: PostgreSQL's driver would build a ``uuid.UUID`` for each, only for it to be written out again.
    # Times as naive UTC text, which ``LocalTimes`` writes in the zone by their UTC hour (cheaper than the driver's
    # parsing, or than the database's own formatting on SQLite); ``deleted_at`` only says whether it is deleted.
    columns = [
        Cast(name, TextField())
        if name in ("id", *UUID_TARGETS, "deleted_at")
        else (UTCText(name) if name in TIME_COLUMNS else name)
        for name in VISIT_VALUES
    ]
    try:
        values = queryset.annotate(attendee_ids=attendee_ids()).values_list(*columns, "attendee_ids")
        sql, params = values.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter that can match nothing (``pk__in=[]``, ``.none()``)
        return []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    time = LocalTimes(timezone.get_current_timezone())
    return _complete(redact([visit_object(row, time, extra) for row in rows], user, VISIT), crs)


def _complete(out: list[dict], crs: str) -> list[dict]:
    """Training attendance (one query for the page, unless the rows brought it) and coordinates in ``crs``
    (converted for the page at once)."""
    attendance: dict[str, list[str]] = {}
    if out and "attendees" not in out[0]:
        pairs = Visit.attendees.through.objects.filter(visit_id__in=[o["id"] for o in out]).values_list(
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


class VisitHistorySerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["create", "update", "delete"])
    at = serializers.DateTimeField()
    user = serializers.CharField(source="user.username", allow_null=True)
    changes = serializers.DictField()
