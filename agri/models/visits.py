import uuid

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from agri.models.scoping import ScopedQuerySet


class VisitKind(models.TextChoices):
    GUIDANCE = "guidance", _("technical guidance")
    DIAGNOSIS = "diagnosis", _("pest and disease diagnosis")
    TRAINING = "training", _("training")
    NEW_VARIETY = "new_variety", _("new variety introduced")
    NEW_TECHNIQUE = "new_technique", _("new technique introduced")
    OTHER = "other", _("other")


class SourceCrs(models.TextChoices):
    WGS84 = "wgs84", "WGS-84"
    GCJ02 = "gcj02", "GCJ-02"
    BD09 = "bd09", "BD-09"
    CGCS2000 = "cgcs2000", "CGCS2000"


class VisitFlag:
    """Review flags. Stored as bits in ``Visit.flag_bits`` so they can be filtered in SQL on any database."""

    FAR_FROM_TARGET = "far_from_target"
    POOR_ACCURACY = "poor_accuracy"
    MOCK_LOCATION = "mock_location"
    UNASSIGNED = "unassigned"
    OUTSIDE_COUNTY = "outside_county"
    FUTURE_START = "future_start"
    STALE_START = "stale_start"
    # Rolled up from the visit's photos (agri.models.photos.PhotoFlag); kept on photo changes only.
    PHOTO_FAR_FROM_VISIT = "photo_far_from_visit"
    PHOTO_TIME_MISMATCH = "photo_time_mismatch"
    PHOTO_NO_EXIF = "photo_no_exif"
    PHOTO_REUSED = "photo_reused"
    PHOTO_NEAR_DUPLICATE = "photo_near_duplicate"

    BITS = {
        FAR_FROM_TARGET: 1,
        POOR_ACCURACY: 2,
        MOCK_LOCATION: 4,
        UNASSIGNED: 8,
        OUTSIDE_COUNTY: 16,
        FUTURE_START: 32,
        STALE_START: 64,
        PHOTO_FAR_FROM_VISIT: 128,
        PHOTO_TIME_MISMATCH: 256,
        PHOTO_NO_EXIF: 512,
        PHOTO_REUSED: 1024,
        PHOTO_NEAR_DUPLICATE: 2048,
    }
    CODES = tuple(BITS)
    PHOTO_MASK = 128 | 256 | 512 | 1024 | 2048

    @classmethod
    def decode(cls, bits: int) -> list[str]:
        return [code for code, bit in cls.BITS.items() if bits & bit]


TARGET_FIELDS = ("household", "farmer", "base", "station", "village")
# Their foreign-key columns, as ``.values()`` reads them.
TARGET_COLUMNS = tuple(f"{name}_id" for name in TARGET_FIELDS)
# Where and how the phone took the visit's point, as it sent it.
POINT_FIELDS = ("lat", "lon", "accuracy_m", "altitude_m", "source_crs", "mock_location")


class VisitQuerySet(ScopedQuerySet):
    scope_field = "scope_code"

    def for_expert(self, expert):
        # The visits of the expert's team: its own and its workers' (Visit.team_expert, kept by the database).
        return self.filter(team_expert=expert)

    def for_worker(self, worker):
        return self.filter(worker=worker)

    def for_commissioner(self, commissioner):
        return self.filter(commissioner=commissioner)

    def for_station_manager(self, user):
        return self.filter(station_id=user.station_id) if user.station_id else self.none()

    def alive(self):
        return self.filter(deleted_at__isnull=True)


class Visit(models.Model):
    """A geotagged service visit (服务记录: 下乡/入园/进企) recorded on a phone, with a client-generated id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Who
    user = models.ForeignKey("agri.User", verbose_name=_("account"), on_delete=models.PROTECT, related_name="visits")
    expert = models.ForeignKey("agri.Expert", null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    worker = models.ForeignKey(
        "agri.ExtensionWorker", null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    commissioner = models.ForeignKey(
        "agri.TechCommissioner", null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    # The expert whose team the visit is of: its own expert, else its worker's (NULL for a commissioner's visit).
    # Derived, and kept by the database, not by this code: triggers set it when a visit is written and when a
    # worker moves to another expert (agri.changelog.team_sql), and its updates log no sync change. An expert it
    # names is always PROTECTed by the visit's expert or worker (a worker's expert is required and PROTECTed), so
    # no foreign-key constraint: one would make deleting any expert scan the visits (the only index is partial).
    team_expert = models.ForeignKey(
        "agri.Expert",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # Meta.indexes: visit_team_started
        related_name="+",
    )
    # What
    kind = models.CharField(_("kind"), max_length=20, choices=VisitKind.choices)
    industry = models.ForeignKey(
        "agri.Industry", verbose_name=_("industry"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(_("notes"), blank=True)
    participants = models.PositiveIntegerField(_("participants"), default=0)
    introduced = models.JSONField(_("varieties or techniques introduced"), default=list, blank=True)
    attendees = models.ManyToManyField("agri.Farmer", verbose_name=_("attendees"), blank=True, related_name="+")
    # Target: exactly one
    household = models.ForeignKey(
        "agri.ModelHousehold", null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    farmer = models.ForeignKey("agri.Farmer", null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    base = models.ForeignKey(
        "agri.DemonstrationBase", null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    station = models.ForeignKey("agri.Station", null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    village = models.ForeignKey(
        "geo.AdminDivision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="targeted_visits",
        db_index=False,  # Meta.indexes: without PostgreSQL's unused LIKE twin of a varchar key
    )
    # When
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    visit_date = models.DateField(_("visit date (Asia/Shanghai)"), db_index=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Where, as sent and as stored
    lat = models.FloatField(_("latitude (WGS-84)"))
    lon = models.FloatField(_("longitude (WGS-84)"))
    client_lat = models.FloatField(_("latitude as sent"))
    client_lon = models.FloatField(_("longitude as sent"))
    source_crs = models.CharField(_("source CRS"), max_length=10, choices=SourceCrs.choices, default=SourceCrs.WGS84)
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    altitude_m = models.FloatField(_("altitude (m)"), null=True, blank=True)
    mock_location = models.BooleanField(_("mock location reported"), default=False)
    # Set on write
    division = models.ForeignKey(
        "geo.AdminDivision",
        verbose_name=_("village division"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
    )
    township_code = models.CharField(_("township code"), max_length=12, blank=True)
    # Jurisdiction key: the village code, or the actor's home division when the point is in none.
    scope_code = models.CharField(_("scope code"), max_length=12)
    # H3 cells are grouped by (coverage hexagons) over a date range, never looked up: no index.
    h3_r5 = models.BigIntegerField(null=True, blank=True)
    h3_r7 = models.BigIntegerField(null=True, blank=True)
    h3_r9 = models.BigIntegerField(null=True, blank=True)
    flag_bits = models.PositiveIntegerField(_("flags"), default=0)
    photos_expected = models.PositiveSmallIntegerField(_("photos expected"), default=0)
    photos_present = models.PositiveSmallIntegerField(_("photos present"), default=0)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    payload_sha256 = models.CharField(max_length=64)
    ingest_id = models.UUIDField(null=True, blank=True, editable=False)

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-started_at", "id"]
        # Every index is paid by every insert: each one here serves a query the API runs (docs/performance.md,
        # "Indexes on the visit table"). The foreign keys keep their own indexes, which PROTECT checks use.
        indexes = [
            # The list's (and the GeoJSON export's) default order: an index walk of one page, not a sort.
            models.Index(fields=["-started_at", "id"], name="visit_started"),
            # Pulls: updated_since and the cursor, in (updated_at, id) order.
            models.Index(fields=["updated_at", "id"], name="visit_updated"),
            # bbox and near filters.
            models.Index(fields=["lat", "lon"], name="visit_lat_lon"),
            # Jurisdictions are code prefixes (scope_code LIKE '500235%'). PostgreSQL uses a B-tree for a prefix
            # only with a pattern operator class (unless the database collation is "C"); other databases ignore
            # opclasses. On SQLite the filter is a range (the ``prefix`` lookup, geo.lookups) that this index serves
            # for a township's or village's prefix.
            models.Index(
                fields=["scope_code", "visit_date"],
                name="visit_scope_date",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
            # The list's capped count for a jurisdiction (agri.api.pagination.CappedPaginator): at most 10,001
            # entries of this index, index-only, however many live visits the jurisdiction holds (a bitmap over
            # visit_scope_date read all of a county's).
            models.Index(
                fields=["scope_code", "id"],
                name="visit_scope_live",
                opclasses=["varchar_pattern_ops", "uuid_ops"],
                condition=Q(deleted_at__isnull=True),
            ),
            # Reassignment after a boundary import (township_code IN ...), and village-target PROTECT checks:
            # plain B-trees, without the LIKE twin PostgreSQL adds for db_index on a varchar column.
            models.Index(fields=["township_code"], name="visit_township"),
            models.Index(fields=["village"], name="visit_village"),
            # A worker's or commissioner's own list (visible_to: worker = me): its first page is the index's first
            # entries, and its capped count an index-only scan, whatever share of the table the person's visits are
            # and wherever they lie in it. Live visits only, as the list reads; the foreign keys' own indexes still
            # serve PROTECT checks, which count tombstones too.
            models.Index(
                fields=["worker", "-started_at", "id"],
                name="visit_worker_started",
                condition=models.Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["commissioner", "-started_at", "id"],
                name="visit_commissioner_started",
                condition=models.Q(deleted_at__isnull=True),
            ),
            # An expert's list (visible_to: team_expert = me, the expert's own visits and its workers'): the same,
            # over the team column the database keeps, instead of an OR across a join to the workers that no index
            # serves (a page and a capped count read the whole table for an expert with few visits).
            models.Index(
                fields=["team_expert", "-started_at", "id"],
                name="visit_team_started",
                condition=models.Q(deleted_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        household__isnull=False,
                        farmer__isnull=True,
                        base__isnull=True,
                        station__isnull=True,
                        village__isnull=True,
                    )
                    | Q(
                        household__isnull=True,
                        farmer__isnull=False,
                        base__isnull=True,
                        station__isnull=True,
                        village__isnull=True,
                    )
                    | Q(
                        household__isnull=True,
                        farmer__isnull=True,
                        base__isnull=False,
                        station__isnull=True,
                        village__isnull=True,
                    )
                    | Q(
                        household__isnull=True,
                        farmer__isnull=True,
                        base__isnull=True,
                        station__isnull=False,
                        village__isnull=True,
                    )
                    | Q(
                        household__isnull=True,
                        farmer__isnull=True,
                        base__isnull=True,
                        station__isnull=True,
                        village__isnull=False,
                    )
                ),
                name="visit_exactly_one_target",
            ),
            models.CheckConstraint(condition=Q(lat__gte=-90, lat__lte=90), name="visit_lat_range"),
            models.CheckConstraint(condition=Q(lon__gte=-180, lon__lte=180), name="visit_lon_range"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="visit_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(kind__in=VisitKind.values), name="visit_kind_valid"),
            models.CheckConstraint(condition=Q(source_crs__in=SourceCrs.values), name="visit_source_crs_valid"),
            models.CheckConstraint(
                condition=Q(expert__isnull=False) | Q(worker__isnull=False) | Q(commissioner__isnull=False),
                name="visit_has_actor",
            ),
            # ... and one only (agri.services.visits.Actor fills one): the team expert is the expert's, or else
            # the worker's expert.
            models.CheckConstraint(
                condition=Q(expert__isnull=True, worker__isnull=True)
                | Q(expert__isnull=True, commissioner__isnull=True)
                | Q(worker__isnull=True, commissioner__isnull=True),
                name="visit_one_actor",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.visit_date}"

    @property
    def flags(self) -> list[str]:
        return VisitFlag.decode(self.flag_bits)

    @property
    def etag(self) -> str:
        return f'"{self.id}-{self.version}"'


class VisitEvent(models.Model):
    """Audit history of a visit: who created, changed or deleted it, when, and what changed."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("changed")
        DELETE = "delete", _("deleted")

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey("agri.User", null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    at = models.DateTimeField(auto_now_add=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("visit history entry")
        verbose_name_plural = _("visit history")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.visit_id} {self.action} {self.at:%Y-%m-%d %H:%M}"
