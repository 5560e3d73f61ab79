from datetime import UTC, datetime

from django.db import models
from django.db.models import Func, Q, TextField
from django.utils.translation import gettext_lazy as _

# The times a visit or a photo can carry. A phone's clock cannot be set before the Unix epoch (a reset clock reads
# 1970 or 1980, which is kept and flagged), and a time past 2100 is a typo. Outside these bounds Asia/Shanghai has
# no whole-minute UTC offset (local mean time before 1901) and a far offset overflows year 9999.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
# The largest integer key the databases hold (PostgreSQL's bigint; SQLite's driver overflows beyond it).
BIGINT_MAX = 2**63 - 1


def uuid_text(value) -> str | None:
    """A UUID as the API writes it (``str(uuid.UUID)``), from what a database returns for a UUID column: a
    ``uuid.UUID`` (PostgreSQL), 32 hex digits (SQLite) or the hyphenated text (``CAST(id AS TEXT)``)."""
    if isinstance(value, str):
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}" if len(value) == 32 else value
    return None if value is None else str(value)


class UTCText(Func):
    """A stored time as naive UTC text (``2026-03-01 02:03:04.123456``): SQLite's own storage, unchanged, and on
    PostgreSQL the same text whatever the session's time zone (with the fraction's trailing zeros left out, as
    PostgreSQL writes a timestamp: a cast is a third of ``to_char``'s cost), so both databases give ``LocalTimes``
    and ``utc_time`` one shape."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        # A cast, so that the driver does not parse the bare column by its declared type.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST({sql} AS text)", params

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST(({sql}) AT TIME ZONE 'UTC' AS text)", params


def utc_time(text: str) -> datetime:
    """``UTCText``'s text as an aware time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        abstract = True


class Versioned(models.Model):
    """A record that phones edit with ``If-Match``: every write through the API adds one to ``version``, compared and
    set in one conditional UPDATE, so that an edit made from a stale copy is refused instead of lost."""

    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        abstract = True

    @property
    def etag(self) -> str:
        return f'"{self.pk}-{self.version}"'


class Located(models.Model):
    """A record with a WGS-84 point and the village-level division it lies in."""

    lat = models.FloatField(_("latitude (WGS-84)"))
    lon = models.FloatField(_("longitude (WGS-84)"))
    village = models.ForeignKey(
        "geo.AdminDivision", verbose_name=_("village"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(condition=Q(lat__gte=-90, lat__lte=90), name="%(app_label)s_%(class)s_lat_range"),
            models.CheckConstraint(condition=Q(lon__gte=-180, lon__lte=180), name="%(app_label)s_%(class)s_lon_range"),
        ]


PHONE_REGEX = r"^\+?[0-9][0-9-]{4,19}$"
