"""Coverage reads: where the extension network reached, and where not.

Counts come from the rollups (``agri.models.rollups``), so every function here runs a fixed number of queries
whose cost follows divisions, households, people and days or months, never the number of visits:

- a bureau account's coverage by division and its hexagons, over whole months (or all time), read the monthly
  tables: ``DivisionMonth`` (visits, last visit), ``PresenceMonth`` (distinct households visited, workers and
  commissioners active) and ``HexMonth`` (visits per cell); their rows follow divisions, cells and people x months
  (a whole year's read takes their year rows: one per place, cell or person);
- any other period (and experts, workers and commissioners, whose slice is their own visits) reads the daily
  rollup (``VisitRollup``), one row per day, place, industry, kind, actor and household;
- hexagons with a ``bbox`` or outside the monthly path group the visit table by its stored H3 cell.

Who sees what (:func:`coverage_slice`):

- bureau accounts (and superusers): every division, household and visit inside their jurisdiction;
- experts, workers and commissioners: the divisions of their own jurisdiction, counting only their own slice:
  the visits they made (an expert: also those of the workers they lead) and the households they look after
  (``ModelHousehold.visible_to``; a commissioner has none);
- station managers and accounts with no linked person: 403, since no slice of the visits is theirs.

Attribution: ``visits``, ``workers_active``, ``commissioners_active`` and ``last_visit`` count where a visit
happened (the village its point lies in). ``households`` and ``households_visited`` count the households
registered in the division, and whether each had at least one visit in the period wherever that visit's point
fell, so ``coverage`` is always a share between 0 and 1 (null where a division has no households).
"""

import operator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce

import h3.api.numpy_int as h3i
import numpy as np
import orjson
import shapely
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Left
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agri.errors import NotAllowed
from agri.models import (
    DivisionMonth,
    ExtensionWorker,
    HexMonth,
    Industry,
    ModelHousehold,
    PresenceCount,
    PresenceMonth,
    Role,
    Station,
    Visit,
    VisitRollup,
)
from agri.models.rollups import (
    ALL_INDUSTRIES,
    ALL_KINDS,
    COARSE_CELL_RESOLUTIONS,
    COUNTED_GRAINS,
    GRAIN_COUNTY,
    GRAIN_PROVINCE,
    GRAIN_SCOPE_DIGITS,
    GRAIN_TOWNSHIP,
    GRAIN_VILLAGE,
    NO_ID,
    SPAN_MONTH,
    SPAN_YEAR,
    Presence,
)
from agri.privacy import HOUSEHOLD, location_grid, redact
from agri.selectors.spatial import distance_km, within_radius
from geo.classes import MISSING, UNVISITED, Classification, classify, classify_features
from geo.codes import PREFIX_LENGTH, Level, full_code
from geo.crs import from_wgs84
from geo.geometry import from_geojson, to_geojson
from geo.h3cells import H3_RESOLUTIONS, cell_boundary_geojson, cell_ring, to_hex
from geo.models import AdminDivision

# The levels coverage answers at, and what their rows are grouped by: the rollup's village or township code, or a
# county's six digits of the village code (the rollup keeps no county column; a prefix of an indexed key serves).
COVERAGE_LEVELS = (Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE)
GROUP_FIELD = {Level.VILLAGE: "division_code", Level.TOWNSHIP: "township_code", Level.COUNTY: "division_code"}
HOUSEHOLD_GROUP_FIELD = {Level.VILLAGE: "village_id", Level.TOWNSHIP: "village__parent_id", Level.COUNTY: "village_id"}
# Levels grouped by a prefix of the field above: how many digits.
GROUP_PREFIX = {Level.COUNTY: PREFIX_LENGTH[Level.COUNTY]}


def _grouping(field: str, level: str):
    """The GROUP BY expression of ``field`` at ``level``, and how a division's code matches its values."""
    n = GROUP_PREFIX.get(level)
    if n is None:
        return F(field), (lambda code: code)
    return Left(field, n), (lambda code: code[:n])


# What a coverage map can be coloured by; coverage is a share (0-1), the others counts.
MAP_VALUES = ("coverage", "visits", "households_visited", "workers_active", "commissioners_active")


@dataclass(frozen=True)
class CoverageFilter:
    """Which visits a coverage counts: local dates from and to (inclusive), an industry code and a visit kind;
    None counts all."""

    date_from: date | None = None
    date_to: date | None = None
    industry: str | None = None
    kind: str | None = None


class NoCoverageSlice(NotAllowed):
    """The account has no slice of the visits to count (a station manager, or no linked person)."""

    default_message = _(
        "Coverage is for bureau accounts and for experts, extension workers and tech commissioners (their own visits)."
    )
    default_code = "no_coverage_slice"


@dataclass(frozen=True)
class CoverageSlice:
    """What one account's coverage counts."""

    jurisdiction: str  # division-code prefix of the divisions shown ("" = all)
    rollup: Q  # the rollup rows (visits) that count
    household_visits: Q  # the rollup rows that make a visible household "visited"
    households: QuerySet  # the registered households that count


def coverage_slice(user) -> CoverageSlice:
    """The caller's slice; raises :class:`NoCoverageSlice` (403) for roles that have none."""
    households = ModelHousehold.objects.visible_to(user).alive()
    if user.is_superuser or user.is_bureau:
        jurisdiction = user.jurisdiction
        # A household in the jurisdiction counts as visited whatever village the visit's point fell in.
        scope = Q(scope_code__prefix=jurisdiction) if jurisdiction else Q()
        return CoverageSlice(jurisdiction, scope, Q(), households)
    actor = None
    if user.role == Role.EXPERT and (expert := user.linked("expert")) is not None:
        team = ExtensionWorker.objects.filter(expert=expert).values("pk")
        actor = Q(expert_key=expert.pk) | Q(worker_key__in=team)
    elif user.role == Role.WORKER and (worker := user.linked("extension_worker")) is not None:
        actor = Q(worker_key=worker.pk)
    elif user.role == Role.COMMISSIONER and (commissioner := user.linked("tech_commissioner")) is not None:
        actor = Q(commissioner_key=commissioner.pk)
    if actor is None:
        raise NoCoverageSlice()
    return CoverageSlice(user.jurisdiction, actor, actor, households)


def jurisdiction_name(jurisdiction: str) -> str:
    """The name of the division a jurisdiction prefix stands for (云阳县 for 500235), for titles."""
    if not jurisdiction:
        return "全部辖区"
    name = AdminDivision.objects.filter(code=full_code(jurisdiction)).values_list("name", flat=True).first()
    return name or jurisdiction


def coverage_scope_label(user) -> str:
    """What the caller's figures cover, in Chinese, for a title: the jurisdiction, and whose records when the
    caller sees only a slice of it (see :func:`coverage_slice`)."""
    area = jurisdiction_name(user.jurisdiction)
    if user.is_superuser or user.is_bureau:
        return area
    if user.role == Role.EXPERT:
        return f"{area}，本人及所带农技推广人员的记录"
    return f"{area}，本人的记录"


def _period(date_from: date | None, date_to: date | None, field: str = "day") -> Q:
    q = Q()
    if date_from:
        q &= Q(**{f"{field}__gte": date_from})
    if date_to:
        q &= Q(**{f"{field}__lte": date_to})
    return q


def _visit_filters(only: CoverageFilter) -> Q:
    """Rollup filters for a period, an industry code and a visit kind."""
    q = _period(only.date_from, only.date_to)
    if only.industry:
        q &= Q(industry_key__in=_industry_ids(only.industry))
    if only.kind:
        q &= Q(kind=only.kind)
    return q


def _industry_ids(code: str) -> QuerySet:
    return Industry.objects.filter(code=code).values("pk")


def code_range(field: str, prefix: str) -> Q:
    """``field`` starts with the digits ``prefix``, as a range (prefix <= field < the next prefix) that a plain
    B-tree serves on SQLite and PostgreSQL alike (a LIKE needs a pattern operator class on PostgreSQL and no index
    serves SQLite's case-insensitive LIKE). Digit strings compare alike under any collation."""
    if not prefix:
        return Q()
    if not prefix.isdigit():
        return Q(**{f"{field}__startswith": prefix})
    q = Q(**{f"{field}__gte": prefix})
    if set(prefix) != {"9"}:
        q &= Q(**{f"{field}__lt": str(int(prefix) + 1).zfill(len(prefix))})
    return q


def whole_months(only: CoverageFilter) -> bool:
    """Whether the period of ``only`` is whole months (from a 1st, to a month's last day; open ends count)."""
    starts = only.date_from is None or only.date_from.day == 1
    ends = only.date_to is None or (only.date_to + timedelta(days=1)).day == 1
    return starts and ends


def _monthly(user, only: CoverageFilter) -> bool:
    """Whether the monthly tables answer: a bureau account (its slice is a scope prefix, which they keep) and a
    period of whole months."""
    return bool(user.is_superuser or user.is_bureau) and whole_months(only)


def _detail_filters(only: CoverageFilter) -> Q:
    """Monthly-table filters: the total rows, or the detail rows of an industry and a kind."""
    if not only.industry and not only.kind:
        return Q(industry_key=ALL_INDUSTRIES, kind=ALL_KINDS)
    q = Q()
    if only.industry:
        q &= Q(industry_key__in=_industry_ids(only.industry))
    if only.kind:
        q &= Q(kind=only.kind)
    return q


def _month_filters(only: CoverageFilter) -> Q:
    """Division and cell table filters: the year rows of the period's whole years and the month rows of the months
    left over (:func:`presence_spans`; a sum adds them up), and :func:`_detail_filters`."""
    spans = presence_spans(only.date_from, only.date_to)
    parts = [Q(span=span) & _span_months(span, first, last) for span, first, last in spans]
    return reduce(operator.or_, parts) & _detail_filters(only)


def transform_geojson(geometries: list[dict | None], crs: str) -> list[dict | None]:
    """GeoJSON geometries (WGS-84) in ``crs`` ("wgs84", "gcj02" or "bd09"): all vertices converted in one call."""
    if crs == "wgs84" or not geometries:
        return geometries
    present = [i for i, g in enumerate(geometries) if g]
    shapes = np.array([from_geojson(geometries[i]) for i in present], dtype=object)
    moved = shapely.transform(shapes, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], crs)))
    out = list(geometries)
    for i, shape in zip(present, moved, strict=True):
        out[i] = to_geojson(shape)
    return out


def transform_points(rows: list[dict], crs: str, lon: str = "lon", lat: str = "lat") -> list[dict]:
    """Convert the ``lon``/``lat`` of each row (in place, all at once) from WGS-84 to ``crs``; 7 decimals."""
    if crs == "wgs84" or not rows:
        return rows
    x, y = from_wgs84(np.array([r[lon] for r in rows], dtype=float), np.array([r[lat] for r in rows], dtype=float), crs)
    for row, xi, yi in zip(rows, x.tolist(), y.tolist(), strict=True):
        row[lon], row[lat] = round(xi, 7), round(yi, 7)
    return rows


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def coverage_by_division(*, user, level: str, only: CoverageFilter | None = None, crs: str = "wgs84") -> list[dict]:
    """One dict per county, township or village (``COVERAGE_LEVELS``) in the caller's jurisdiction, in code order.

    Keys: code, name, level, visits, households_visited, households, coverage (0-1, or None without households),
    workers_active, commissioners_active, last_visit (a date or None), label_lon and label_lat (the division's
    representative point, inside it, in ``crs``: where a map writes its name) and geometry (the simplified boundary
    as GeoJSON, in ``crs``; None where the division has none). With an industry in ``only``, households are those
    whose worker's expert leads that industry. Three queries, whatever the number of visits.
    """
    only = only or CoverageFilter()
    sl = coverage_slice(user)
    group = GROUP_FIELD[level]
    rollup_key, key_of = _grouping(group, level)
    if _monthly(user, only):
        activity, visited = _monthly_activity(sl, level, only)
    else:
        filters = _visit_filters(only)
        activity = {
            row["unit"]: row
            for row in VisitRollup.objects.filter(sl.rollup, filters)
            .exclude(**{group: ""})
            .values(unit=rollup_key)
            .annotate(
                n_visits=Sum("visits"),
                workers_active=Count("worker_key", distinct=True, filter=~Q(worker_key=NO_ID)),
                commissioners_active=Count("commissioner_key", distinct=True, filter=~Q(commissioner_key=NO_ID)),
                last_visit=Max("day"),
            )
            .order_by()
        }
        visited = VisitRollup.objects.filter(sl.household_visits, filters, household_key=OuterRef("pk"))
    households = sl.households
    if only.industry:
        households = households.filter(worker__expert__industry__code=only.industry)
    household_key, _key = _grouping(HOUSEHOLD_GROUP_FIELD[level], level)
    registered = {
        unit: (n, n_visited)
        for unit, n, n_visited in _tuples(
            households.values(unit=household_key)
            .annotate(households=Count("pk"), households_visited=Count("pk", filter=Q(Exists(visited))))
            .order_by()
            .values_list("unit", "households", "households_visited")
        )
    }
    # The divisions as the driver's tuples too; their simplified boundaries come as JSON text (Django reads jsonb
    # as text, and so does SQLite), parsed by orjson only where there is one.
    divisions = _tuples(
        AdminDivision.objects.filter(level=level)
        .within(sl.jurisdiction)
        .order_by("code")
        .values_list("code", "name", "rep_lon", "rep_lat", "boundary_display")
    )
    geometries = transform_geojson([_json(boundary) for *_d, boundary in divisions], crs)
    labels = [{"label_lon": lon, "label_lat": lat} for _code, _name, lon, lat, _boundary in divisions]
    placed = [point for point in labels if point["label_lon"] is not None and point["label_lat"] is not None]
    transform_points(placed, crs, lon="label_lon", lat="label_lat")
    level_name, idle = str(level), {}
    out = []
    for (code, name, *_d), label, geometry in zip(divisions, labels, geometries, strict=True):
        key = key_of(code)
        act = activity.get(key, idle)
        n_households, n_visited = registered.get(key, (0, 0))
        out.append(
            {
                "code": code,
                "name": name,
                "level": level_name,
                "visits": act.get("n_visits", 0),
                "households_visited": n_visited,
                "households": n_households,
                "coverage": _share(n_visited, n_households),
                "workers_active": act.get("workers_active", 0),
                "commissioners_active": act.get("commissioners_active", 0),
                "last_visit": act.get("last_visit"),
                **label,
                "geometry": geometry,
            }
        )
    return out


def _json(value):
    """A JSON column's value as the driver returned it (text, or already decoded), decoded; None stays None."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


GRAIN = {Level.VILLAGE: GRAIN_VILLAGE, Level.TOWNSHIP: GRAIN_TOWNSHIP, Level.COUNTY: GRAIN_COUNTY}


def _grain(level: str, jurisdiction: str) -> str:
    """The grain of the division and person rows that count visits and people per division of ``level`` (see
    ``DivisionMonth`` and ``PresenceMonth``): the township or county rows where their cut scope still tells the
    jurisdiction, else the village rows."""
    grain = GRAIN[level]
    return grain if len(jurisdiction) <= GRAIN_SCOPE_DIGITS[grain] else GRAIN_VILLAGE


def _cell_grain(resolution: int, jurisdiction: str) -> str:
    """The grain of the cell rows that a jurisdiction reads at ``resolution`` (see ``HexMonth``): the coarsest
    whose cut scope still tells the jurisdiction."""
    if resolution in COARSE_CELL_RESOLUTIONS:
        for grain in (GRAIN_PROVINCE, GRAIN_COUNTY):
            if len(jurisdiction) <= GRAIN_SCOPE_DIGITS[grain]:
                return grain
    return GRAIN_VILLAGE


def presence_spans(date_from: date | None, date_to: date | None) -> list[tuple[str, date | None, date | None]]:
    """A period of whole months (``date_from`` a 1st, ``date_to`` a month's last day; None: open) as the parts that
    ``PresenceMonth``'s person rows answer it with: (span, first, last) for the months before its first whole year,
    its whole years (an open end takes every year on that side) and the months after its last whole year, in that
    order; a part with no months is left out. Together the parts cover the period exactly, each day once."""
    first_year = None if date_from is None else date_from.year + (date_from.month > 1)
    last_year = None if date_to is None else date_to.year - (date_to.month < 12)
    if first_year is not None and last_year is not None and first_year > last_year:
        return [(SPAN_MONTH, date_from, date_to)]
    parts = []
    if date_from is not None and date_from.year < first_year:
        parts.append((SPAN_MONTH, date_from, date(first_year - 1, 12, 31)))
    parts.append(
        (
            SPAN_YEAR,
            None if first_year is None else date(first_year, 1, 1),
            None if last_year is None else date(last_year, 12, 31),
        )
    )
    if date_to is not None and date_to.year > last_year:
        parts.append((SPAN_MONTH, date(last_year + 1, 1, 1), date_to))
    return parts


def _span_months(span: str, first: date | None, last: date | None) -> Q:
    """The months of the rows of ``span`` from ``first`` to ``last`` (None: open): one year's rows are matched on
    its first day (an equality, after which an index keeps its place order)."""
    if span == SPAN_YEAR and first and last and first.year == last.year:
        return Q(month=first)
    return _period(first, last, "month")


def _monthly_activity(sl: CoverageSlice, level: str, only: CoverageFilter) -> tuple[dict, QuerySet]:
    """A bureau's activity per division of ``level`` over whole months, from the monthly tables (two queries, over
    the rows of the grain of ``level`` where the jurisdiction allows), and the household rows that make a household
    visited (for an EXISTS)."""
    group = GROUP_FIELD[level]
    unit, _key_of = _grouping(group, level)
    # Only divisions inside the jurisdiction are shown: their own code range bounds the read too (an index on the
    # place column serves it), besides the scope range that decides which visits count.
    inside = code_range("scope_code", sl.jurisdiction) & code_range(group, sl.jurisdiction)
    grain = _grain(level, sl.jurisdiction)
    places = (
        DivisionMonth.objects.filter(inside, _month_filters(only), grain=grain)
        .exclude(**{group: ""})
        .values(unit=unit)
        .annotate(n_visits=Sum("visits"), last_visit=Max("last_day"))
        .order_by()
        .values_list("unit", "n_visits", "last_visit")
    )
    activity = {division: {"n_visits": n, "last_visit": last} for division, n, last in _tuples(places, dates=(2,))}
    worker, commissioner = Presence.WORKER.value, Presence.COMMISSIONER.value
    counted = {worker: "workers_active", commissioner: "commissioners_active"}
    spans = presence_spans(only.date_from, only.date_to)
    single = _single_row_period(spans)
    if single and grain in COUNTED_GRAINS and not only.industry and not only.kind:
        # One year or one month of a township or county map: the people are counted already, one row per place
        # and role (PresenceCount), read as one row per place with both roles (half the rows to fetch and walk).
        span, month = single
        people = (
            PresenceCount.objects.filter(inside, month=month, span=span, grain=grain, role__in=(worker, commissioner))
            .exclude(**{group: ""})
            .values(unit=unit)
            .annotate(
                workers=Sum("people", filter=Q(role=worker)), commissioners=Sum("people", filter=Q(role=commissioner))
            )
            .order_by()
            .values_list("unit", "workers", "commissioners")
        )
        for division, workers, commissioners in _tuples(people):
            act = activity.setdefault(division, {})
            act["workers_active"], act["commissioners_active"] = workers or 0, commissioners or 0
        return activity, _households_visited(only)
    # The period is read as the year rows of its whole years and the month rows of the months left over (one range
    # scan each).
    parts = [
        PresenceMonth.objects.filter(
            inside,
            _span_months(span, first, last),
            _detail_filters(only),
            span=span,
            role__in=(worker, commissioner),
            grain=grain,
        ).exclude(**{group: ""})
        for span, first, last in spans
    ]
    if len(parts) == 1:
        # One part (whole years, or months within one year): COUNT(DISTINCT person) per division and role. Over one
        # year's township rows an index gives them in (township, role, person) order, so that the count streams.
        people = (
            parts[0]
            .values(unit=unit, person_role=F("role"))
            .annotate(n=Count("person_key", distinct=True))
            .order_by()
            .values_list("unit", "person_role", "n")
        )
        for division, role, n in _tuples(people):
            activity.setdefault(division, {})[counted[role]] = n
    else:
        # Distinct (division, role, person) over the parts first (the UNION), then counted per division and role.
        pairs = [part.values("role", "person_key", unit=unit).order_by() for part in parts]
        union = pairs[0].union(*pairs[1:])
        database = connections[union.db]  # where the router sends the read (a replica for bureau reads)
        sql, params = union.query.get_compiler(connection=database).as_sql()
        with database.cursor() as cursor:
            cursor.execute(f"SELECT d.unit, d.role, COUNT(*) FROM ({sql}) d GROUP BY d.unit, d.role", params)
            for division, role, n in cursor.fetchall():
                activity.setdefault(division, {})[counted[role]] = n
    return activity, _households_visited(only)


def _tuples(queryset: QuerySet, dates: tuple[int, ...] = ()) -> list[tuple]:
    """The rows of a ``values_list`` queryset as the database driver returns them, from the database the router
    sends it to: without the ORM's converter per row and column (an ``int()`` of every count), which over a
    province's 1,681 townships cost more than the database's read. Counts are integers on both databases; the
    columns ``dates`` (positions) are dates, which SQLite returns as text for an aggregate."""
    database = connections[queryset.db]
    try:
        sql, params = queryset.query.get_compiler(connection=database).as_sql()
    except EmptyResultSet:  # a filter that matches nothing (``.none()``, an empty IN): no query, as the ORM does
        return []
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if dates and database.vendor == "sqlite":
        rows = [
            tuple(date.fromisoformat(v) if i in dates and isinstance(v, str) else v for i, v in enumerate(row))
            for row in rows
        ]
    return rows


def _single_row_period(spans: list[tuple[str, date | None, date | None]]) -> tuple[str, date] | None:
    """(span, first day) when the parts of :func:`presence_spans` are one year or one month, which one row per
    place and person covers (and :class:`PresenceCount` one row per place); else None."""
    if len(spans) != 1:
        return None
    span, first, last = spans[0]
    if first is None or last is None:
        return None
    if span == SPAN_YEAR and first.year == last.year:
        return span, first
    if span == SPAN_MONTH and (first.year, first.month) == (last.year, last.month):
        return span, first
    return None


def _households_visited(only: CoverageFilter) -> QuerySet:
    """The household rows that make a household visited in the period of ``only`` (for an EXISTS per household)."""
    household_filters = _period(only.date_from, only.date_to, "month")
    if only.industry:
        household_filters &= Q(industry_key__in=_industry_ids(only.industry))
    if only.kind:
        household_filters &= Q(kind=only.kind)
    return PresenceMonth.objects.filter(household_filters, role=Presence.HOUSEHOLD.value, household_key=OuterRef("pk"))


def coverage_classification(
    rows: list[dict], *, value: str = "coverage", scheme: str = "fisher_jenks", classes: int = 5
) -> Classification:
    """The map classes of :func:`coverage_by_division` rows by ``value``, over the rows that have a boundary (the
    ones a map draws; ``members`` follows their order): the classes of the PNG map and of the web map alike.
    Divisions with no visit are "not visited"; coverage without households is "missing" ("No households")."""
    return classify_features(
        [row for row in rows if row["geometry"]],
        value,
        scheme=scheme,
        k=classes,
        percent=value == "coverage",
        labels={MISSING: _("No households"), UNVISITED: _("Not visited")},
    )


def hexagon_classification(rows: list[dict], *, scheme: str = "fisher_jenks", classes: int = 5) -> Classification:
    """The map classes of :func:`coverage_hexagons` cells by their visits (purples: apart from the coverage greens
    and the not-visited orange)."""
    return classify([row["visits"] for row in rows], scheme=scheme, k=classes, cmap="Purples")


def coverage_hexagons(
    *,
    user,
    resolution: int,
    bbox: tuple[float, float, float, float] | None = None,
    only: CoverageFilter | None = None,
    crs: str = "wgs84",
) -> list[dict]:
    """Visits per H3 cell at ``resolution`` (5, 7 or 9): one GROUP BY.

    ``bbox`` is (min_lon, min_lat, max_lon, max_lat) in WGS-84 and counts the visits that lie in it: a cell that
    straddles its edge counts only its visits inside.

    A bureau account's request over whole months (or all time) reads the monthly cell table (``HexMonth``: rows
    per cell, month and scope, so the cost follows cells x months); with a ``bbox`` too at r5 and r7, where the
    cells inside it keep their monthly counts and only those across its edge are counted from their visits
    (:func:`_cells_in_bbox`). Otherwise the visit table is grouped by the cell stored on each visit (the daily
    rollup has no cells: three cell columns in its key would multiply its rows for every other reader), within
    ``bbox`` by the (lat, lon) index. No division boundaries are needed. Dicts: h3 (hex string), resolution,
    visits, last_visit, geometry (the cell's polygon in ``crs``).
    """
    coverage_slice(user)  # same rule as the other coverage reads
    grid = location_grid(user)
    if grid is not None and resolution > grid:
        resolution = max([r for r in H3_RESOLUTIONS if r <= grid], default=min(H3_RESOLUTIONS))
    field = f"h3_r{resolution}"
    only = only or CoverageFilter()
    if _monthly(user, only) and (bbox is None or resolution in COARSE_CELL_RESOLUTIONS):
        counted = (
            HexMonth.objects.filter(code_range("scope_code", user.jurisdiction), _month_filters(only))
            .filter(resolution=resolution, grain=_cell_grain(resolution, user.jurisdiction))
            .values("cell")
            .annotate(visits=Sum("visits"), last_visit=Max("last_day"))
            .order_by("cell")
            .values_list("cell", "visits", "last_visit")
        )
        rows = [
            {"field": cell, "visits": visits, "last_visit": last} for cell, visits, last in _tuples(counted, dates=(2,))
        ]
        if bbox:
            rows = _cells_in_bbox(rows, bbox, lambda cells: _cell_visits(user, field, only, bbox, cells))
        return _hexagon_features(rows, resolution, crs)
    return _hexagon_features(_cell_visits(user, field, only, bbox), resolution, crs)


def _cell_visits(user, field: str, only: CoverageFilter, bbox=None, cells: list[int] | None = None) -> list[dict]:
    """Visits and the last visit date per cell (``field``: the visit's cell column) from the visit table, within
    ``bbox`` and among ``cells`` when given, in cell order."""
    visits = Visit.objects.visible_to(user).alive().filter(_period(only.date_from, only.date_to, "visit_date"))
    if only.industry:
        visits = visits.filter(industry__code=only.industry)
    if only.kind:
        visits = visits.filter(kind=only.kind)
    if bbox:
        min_lon, min_lat, max_lon, max_lat = bbox
        visits = visits.filter(lat__gte=min_lat, lat__lte=max_lat, lon__gte=min_lon, lon__lte=max_lon)
    visits = visits.filter(**({f"{field}__in": cells} if cells is not None else {f"{field}__isnull": False}))
    return list(
        visits.values(field=F(field)).annotate(visits=Count("pk"), last_visit=Max("visit_date")).order_by(field)
    )


# How far inside (outside) a bbox, in degrees, a cell's vertices must lie for every point of the cell to be inside
# (outside) it: a cell's edges are great-circle arcs, which bow out of the straight line between their vertices in
# longitude and latitude by about a metre at r5 in China, far less at r7; 0.001 degrees is 50-110 m.
CELL_BBOX_MARGIN = 0.001


def _cells_in_bbox(rows: list[dict], bbox, count_visits) -> list[dict]:
    """The monthly rows of the cells in ``bbox``, counted as the visit table would count them within it: a cell
    wholly inside keeps its row, one wholly outside is dropped, and the cells across the edge are counted from their
    visits by ``count_visits(cells)`` (one query, over those cells only). In cell order."""
    if not rows:
        return rows
    min_lon, min_lat, max_lon, max_lat = bbox
    m = CELL_BBOX_MARGIN
    inside, across = [], []
    for row in rows:
        lons, lats = zip(*cell_ring(row["field"]), strict=True)
        south, north, west, east = min(lats), max(lats), min(lons), max(lons)
        if north < min_lat - m or south > max_lat + m or east < min_lon - m or west > max_lon + m:
            continue
        if south >= min_lat + m and north <= max_lat - m and west >= min_lon + m and east <= max_lon - m:
            inside.append(row)
        else:
            across.append(row["field"])
    if across:
        inside += count_visits(across)
        inside.sort(key=lambda row: row["field"])
    return inside


def _hexagon_features(rows: list[dict], resolution: int, crs: str) -> list[dict]:
    geometries = transform_geojson([cell_boundary_geojson(row["field"]) for row in rows], crs)
    return [
        {
            "h3": to_hex(row["field"]),
            "resolution": resolution,
            "visits": row["visits"],
            "last_visit": row["last_visit"],
            "geometry": geometry,
        }
        for row, geometry in zip(rows, geometries, strict=True)
    ]


def gap_period(days: int, today: date | None = None) -> tuple[date, date]:
    """The last ``days`` calendar days up to and including ``today`` (Asia/Shanghai)."""
    today = today or timezone.localdate()
    return today - timedelta(days=days - 1), today


def _last_visit(rows: Q, **match) -> Subquery:
    """The latest day of the rollup rows matching ``rows`` and ``match`` (OuterRefs), or NULL."""
    return Subquery(VisitRollup.objects.filter(rows, **match).order_by("-day").values("day")[:1])


def coverage_gaps(*, user, days: int = 90, today: date | None = None, crs: str = "wgs84") -> dict:
    """Model households with no visit in the last ``days`` days, and villages with no visit in that period.

    Two queries. Households carry their last visit ever (or None); villages their last visit, registered
    households and simplified boundary (``geometry``, in ``crs``).
    """
    sl = coverage_slice(user)
    since, until = gap_period(days, today)
    period = Q(day__gte=since, day__lte=until)
    household_visits = VisitRollup.objects.filter(sl.household_visits, period, household_key=OuterRef("pk"))
    households = list(
        sl.households.filter(~Exists(household_visits))
        .annotate(
            last_visit=_last_visit(sl.household_visits, household_key=OuterRef("pk")),
            village_name=F("village__name"),
            township_code=F("village__parent_id"),
            worker_name=F("worker__name"),
        )
        .order_by("village_id", "head_name", "pk")
        .values(
            "id",
            "head_name",
            "worker_id",
            "worker_name",
            "village_id",
            "village_name",
            "township_code",
            "lat",
            "lon",
            "last_visit",
        )
    )
    village_visits = VisitRollup.objects.filter(sl.rollup, period, division_code=OuterRef("code"))
    registered = sl.households.filter(village_id=OuterRef("code")).order_by().values("village_id")
    villages = list(
        AdminDivision.objects.villages()
        .within(sl.jurisdiction)
        .filter(~Exists(village_visits))
        .annotate(
            last_visit=_last_visit(sl.rollup, division_code=OuterRef("code")),
            households=Subquery(registered.annotate(n=Count("pk")).values("n")[:1]),
        )
        .order_by("code")
        .values("code", "name", "parent_id", "rep_lat", "rep_lon", "last_visit", "households", "boundary_display")
    )
    grid = location_grid(user)
    transform_points(redact(households, user, HOUSEHOLD), crs)
    geometries = transform_geojson([v.pop("boundary_display") for v in villages], crs)
    points = [v for v in villages if v["rep_lat"] is not None]
    transform_points(points, crs, lon="rep_lon", lat="rep_lat")
    return {
        "days": days,
        "since": since,
        "until": until,
        "location_grid": grid,
        "households": [
            {
                "id": str(h["id"]),
                "head_name": h["head_name"],
                "worker_id": h["worker_id"],
                "worker_name": h["worker_name"],
                "village_code": h["village_id"],
                "village_name": h["village_name"],
                "township_code": h["township_code"],
                "lat": h["lat"],
                "lon": h["lon"],
                "last_visit": h["last_visit"],
            }
            for h in households
        ],
        "villages": [
            {
                "code": v["code"],
                "name": v["name"],
                "township_code": v["parent_id"],
                "households": v["households"] or 0,
                "last_visit": v["last_visit"],
                "rep_lat": v["rep_lat"],
                "rep_lon": v["rep_lon"],
                "geometry": geometry,
            }
            for v, geometry in zip(villages, geometries, strict=True)
        ],
    }


def station_service_area(
    *, user, station: Station, radius_km: float, days: int = 90, today: date | None = None, crs: str = "wgs84"
) -> dict:
    """Registered households (visible to ``user``) within ``radius_km`` of the station, nearest first, and how
    many had a visit in the last ``days`` days.

    A bounding box on the (lat, lon) columns first, then the exact great-circle distance in SQL. Two queries.
    """
    sl = coverage_slice(user)
    since, until = gap_period(days, today)
    visited = VisitRollup.objects.filter(
        sl.household_visits, day__gte=since, day__lte=until, household_key=OuterRef("pk")
    )
    households = within_radius(sl.households, lat=station.lat, lon=station.lon, radius_km=radius_km)
    totals = households.aggregate(households=Count("pk"), visited=Count("pk", filter=Q(Exists(visited))))
    items = list(
        households.annotate(
            visited=Exists(visited),
            distance_km=distance_km(),
            last_visit=_last_visit(sl.household_visits, household_key=OuterRef("pk")),
        )
        .order_by("distance_km", "pk")
        .values("id", "head_name", "village_id", "lat", "lon", "distance_km", "visited", "last_visit")
    )
    grid = location_grid(user)
    redact(items, user, HOUSEHOLD)
    if grid is not None:
        # The distance to a known station would give the position back: it is taken from the cell centre too, on
        # the same sphere as the SQL above.
        for h in items:
            h["distance_km"] = h3i.great_circle_distance((station.lat, station.lon), (h["lat"], h["lon"]), unit="km")
    transform_points(items, crs)
    station_point = transform_points([{"lat": station.lat, "lon": station.lon}], crs)[0]
    return {
        "station": {"id": station.pk, "name": station.name, **station_point},
        "radius_km": radius_km,
        "location_grid": grid,
        "days": days,
        "since": since,
        "until": until,
        "households": totals["households"],
        "households_visited": totals["visited"],
        "coverage": _share(totals["visited"], totals["households"]),
        "items": [
            {
                "id": str(h["id"]),
                "head_name": h["head_name"],
                "village_code": h["village_id"],
                "lat": h["lat"],
                "lon": h["lon"],
                "distance_km": round(h["distance_km"], 3),
                "visited": h["visited"],
                "last_visit": h["last_visit"],
            }
            for h in items
        ],
    }
