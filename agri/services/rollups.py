"""Writes to the visit rollups, in the transaction of the visit write that causes them: the daily rollup
(``agri.models.VisitRollup``) and the monthly tables (``DivisionMonth``, ``HexMonth``, ``PresenceMonth``; see
``agri.models.rollups``).

Every change is a delta computed by the same GROUP BY that ``rollups_rebuild`` runs over the whole table
(:func:`rollup_rows`), so the incremental state and a rebuild cannot drift apart:

- a create adds the rows of the visits that this request actually inserted;
- an edit subtracts the visit's old key and adds its new one; a delete subtracts it;
- a reassignment (after a boundary import) subtracts and re-adds the visits whose place changed.

The monthly tables follow the same rules. A create adds to them with one INSERT ... SELECT ... ON CONFLICT each
(:func:`rollup_add`), except the person and household rows, which it reads with the same SELECT and upserts like an
edit does, so that the people counts (``PresenceCount``) learn which rows came into being; an edit, delete or
reassignment projects its deltas (grouped by the daily key and the visit's three H3 cells, :func:`rollup_deltas`)
onto every table in Python and upserts them. A month row's ``last_day`` only grows in an upsert; where visits were
taken away from a row, it is recomputed from the daily rollup (village-grain divisions) or the visits of that scope
and month (village-grain cells), then for the township, county and province rows from the village-grain rows of
their table: one UPDATE per table and grain family (``_recompute_last_day``, ``_recompute_coarse_last_day``).

Deltas are applied as adding upserts against the key's unique constraint (ON CONFLICT DO UPDATE SET visits = visits +
EXCLUDED.visits), which are atomic per row, so concurrent writers on PostgreSQL never lose an update (see
:func:`rollup_apply`). Rows whose count falls to zero are deleted, so the table holds exactly what a rebuild would
produce.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    QuerySet,
    Sum,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from agri.models import DivisionMonth, HexMonth, PresenceCount, PresenceMonth, Visit, VisitFlag, VisitRollup
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
    HEX_MONTH_KEY,
    MONTH_KEY,
    NO_CODE,
    NO_HOUSEHOLD,
    NO_ID,
    PRESENCE_COUNT_KEY,
    PRESENCE_KEY,
    ROLLUP_KEY,
    SPAN_MONTH,
    SPAN_YEAR,
    Presence,
)
from agri.services import flags
from geo.assign import assign_points
from geo.h3cells import H3_RESOLUTIONS

CELL_KEY = ("h3_r5", "h3_r7", "h3_r9")
CELL_GRAINS = (GRAIN_VILLAGE, GRAIN_COUNTY, GRAIN_PROVINCE)  # at COARSE_CELL_RESOLUTIONS; the others: village only
WIDE_KEY = ROLLUP_KEY + CELL_KEY  # what an edit's deltas are grouped by: every table's key follows from it
Deltas = dict[tuple, list[int]]  # wide key -> [visits, participants]
_APPLY_BATCH = 500  # keys per upsert statement: 12 parameters each, far below SQLite's 32,766

FAR_BIT = VisitFlag.BITS[VisitFlag.FAR_FROM_TARGET]
PLACE_BITS = FAR_BIT | VisitFlag.BITS[VisitFlag.UNASSIGNED] | VisitFlag.BITS[VisitFlag.OUTSIDE_COUNTY]


def _keyed(visits: QuerySet) -> QuerySet:
    """The live visits of ``visits`` annotated with the daily rollup's key columns (sentinels for NULLs)."""
    return visits.filter(deleted_at__isnull=True).annotate(
        day=F("visit_date"),
        division_code=Coalesce("division_id", Value(NO_CODE)),
        industry_key=Coalesce("industry_id", Value(NO_ID), output_field=IntegerField()),
        expert_key=Coalesce("expert_id", Value(NO_ID), output_field=BigIntegerField()),
        worker_key=Coalesce("worker_id", Value(NO_ID), output_field=BigIntegerField()),
        commissioner_key=Coalesce("commissioner_id", Value(NO_ID), output_field=BigIntegerField()),
        household_key=Coalesce("household_id", Value(NO_HOUSEHOLD, output_field=UUIDField())),
    )


def rollup_rows(visits: QuerySet) -> QuerySet:
    """The rollup rows of ``visits`` (live ones only): one dict per key with ``n_visits`` and ``n_participants``.

    One GROUP BY, used both for incremental deltas and for the rebuild's INSERT ... SELECT.
    """
    return (
        _keyed(visits)
        .values(*ROLLUP_KEY)
        .annotate(n_visits=Count("pk"), n_participants=Coalesce(Sum("participants"), 0))
        .order_by()
    )


def rollup_deltas(visits: QuerySet, sign: int = 1) -> Deltas:
    """``sign`` (+1 or -1) times the live visits of ``visits`` grouped by :data:`WIDE_KEY` (the daily rollup's key
    and the three H3 cells): one GROUP BY, from which :func:`rollup_apply` derives every table's rows."""
    rows = (
        _keyed(visits)
        .values(*WIDE_KEY)
        .annotate(n_visits=Count("pk"), n_participants=Coalesce(Sum("participants"), 0))
        .order_by()
    )
    return {tuple(row[k] for k in WIDE_KEY): [sign * row["n_visits"], sign * row["n_participants"]] for row in rows}


def _merge(*deltas: Deltas) -> Deltas:
    out: Deltas = defaultdict(lambda: [0, 0])
    for delta in deltas:
        for key, (n, p) in delta.items():
            out[key][0] += n
            out[key][1] += p
    return {key: value for key, value in out.items() if value != [0, 0]}


# ---------------------------------------------------------------- SQL shared by the upserts


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _q(model._meta.db_table)


def _greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if connection.vendor == "postgresql" else f"MAX({a}, {b})"


def _month_of(column: str) -> str:
    """SQL: the first day of the month of a date column."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', CAST({column} AS timestamp)) AS date)"
    return f"date({column}, 'start of month')"


def _year_of(column: str) -> str:
    """SQL: the first day of the year of a date column."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('year', CAST({column} AS timestamp)) AS date)"
    return f"date({column}, 'start of year')"


# The counts each table adds on conflict, and the columns it keeps the greatest of.
_TABLES = {
    VisitRollup: (ROLLUP_KEY, ("visits", "participants"), ()),
    DivisionMonth: (MONTH_KEY, ("visits", "participants"), ("last_day",)),
    HexMonth: (HEX_MONTH_KEY, ("visits",), ("last_day",)),
    PresenceMonth: (PRESENCE_KEY, ("visits",), ()),
    PresenceCount: (PRESENCE_COUNT_KEY, ("people",), ()),
}


def _columns(model, names) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


def _adding_on_conflict(model=VisitRollup) -> str:
    """``ON CONFLICT (<key>) DO UPDATE SET visits = <table>.visits + EXCLUDED.visits, ...``: an insert that adds
    its counts to the key's row where there is one (and keeps the later ``last_day``), SQLite and PostgreSQL alike."""
    key, counts, greatest = _TABLES[model]
    table = _table(model)
    sets = [f"{_q(c)} = {table}.{_q(c)} + EXCLUDED.{_q(c)}" for c in counts]
    sets += [f"{_q(c)} = {_greatest(f'{table}.{_q(c)}', f'EXCLUDED.{_q(c)}')}" for c in greatest]
    return f"ON CONFLICT ({', '.join(_q(c) for c in _columns(model, key))}) DO UPDATE SET {', '.join(sets)}"


def _upsert(
    model, changes: dict[tuple, list], returned: Callable[[tuple, int], None] | None = None
) -> tuple[list, list]:
    """Add ``changes`` (key -> values in the order of the table's counts and kept-greatest columns) to ``model``'s
    table, in sorted key order, 500 keys per statement. Returns (ids of rows that fell to zero, (id, grain) of the
    others; the grain is None for a table without one). ``returned(key, count)``, when given, is called with each
    written row's key (as in ``changes``) and its first count after the write."""
    if not changes:
        return [], []
    key, counts, greatest = _TABLES[model]
    fields = [model._meta.get_field(name) for name in key]
    values = [model._meta.get_field(name) for name in (*counts, *greatest)]
    columns = ", ".join(_q(c) for c in _columns(model, (*key, *counts, *greatest)))
    row = "(" + ", ".join(["%s"] * (len(fields) + len(values))) + ")"
    keys = sorted(changes)
    emptied, kept = [], []
    grain = f", {_q('grain')}" if "grain" in key else ", NULL"
    if returned is not None:
        grain += "".join(f", {_q(c)}" for c in _columns(model, key))
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _APPLY_BATCH):
            batch = keys[start : start + _APPLY_BATCH]
            params = [
                field.get_db_prep_value(part, connection)
                for k in batch
                for field, part in zip([*fields, *values], [*k, *changes[k]], strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {_table(model)} ({columns}) VALUES {', '.join([row] * len(batch))} "
                f"{_adding_on_conflict(model)} RETURNING {_q(model._meta.pk.column)}, {_q(counts[0])}{grain}",
                params,
            )
            for pk, visits, row_grain, *row_key in cursor.fetchall():
                if visits <= 0:
                    emptied.append(pk)
                else:
                    kept.append((pk, row_grain))
                if returned is not None:
                    returned(tuple(f.to_python(v) for f, v in zip(fields, row_key, strict=True)), visits)
    if emptied:
        model.objects.filter(pk__in=emptied).delete()
    return emptied, kept


# ---------------------------------------------------------------- deltas: edits, deletes, reassignments


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def _project(changes: Deltas) -> dict:
    """The rows of every table that the wide deltas ``changes`` add or take away.

    Daily rows: [visits, participants]. Month and cell rows: [visits, participants (months only), last_day] where
    last_day is the latest day added (the month's first day if none) and a set ``taken`` lists the keys that lost
    visits (their last_day is recomputed). Presence rows: [visits]."""
    daily: Deltas = defaultdict(lambda: [0, 0])
    months: dict = {}
    cells: dict = {}
    presence: dict = defaultdict(lambda: [0])
    taken_months, taken_cells = set(), set()

    def month_row(table, taken, key, n, p, day, with_participants):
        value = table.get(key)
        if value is None:
            value = table[key] = [0, 0, key_month(key)] if with_participants else [0, key_month(key)]
        value[0] += n
        if with_participants:
            value[1] += p
        if n > 0:
            value[-1] = max(value[-1], day)
        elif n < 0:
            taken.add(key)

    for wide, (n, p) in changes.items():
        day, division, township, scope, industry, kind, _expert, worker, commissioner, household = wide[:10]
        daily[wide[:10]][0] += n
        daily[wide[:10]][1] += p
        month = _first_of_month(day)
        spans = ((month, SPAN_MONTH), (month.replace(month=1), SPAN_YEAR))
        grains = _grains(division, township, scope)
        for industry_key, kind_key in ((industry, kind), (ALL_INDUSTRIES, ALL_KINDS)):
            for start, span in spans:
                for grain, place in grains:
                    key = (start, span, grain, *place, industry_key, kind_key)
                    month_row(months, taken_months, key, n, p, day, True)
                for resolution, cell in zip(H3_RESOLUTIONS, wide[10:], strict=True):
                    if cell is not None:
                        for grain, cut in _scope_grains(scope, resolution):
                            key = (resolution, cell, start, span, grain, cut, industry_key, kind_key)
                            month_row(cells, taken_cells, key, n, p, day, False)
                for role, person in ((Presence.WORKER.value, worker), (Presence.COMMISSIONER.value, commissioner)):
                    if person != NO_ID:
                        for grain, place in grains:
                            key = (start, span, role, grain, person, NO_HOUSEHOLD, *place, industry_key, kind_key)
                            presence[key][0] += n
        if household != NO_HOUSEHOLD:
            key = (month, SPAN_MONTH, Presence.HOUSEHOLD.value, "", NO_ID, household, NO_CODE, NO_CODE, NO_CODE)
            key += (industry, kind)
            presence[key][0] += n
    return {
        VisitRollup: {k: v for k, v in daily.items() if v != [0, 0]},
        # A row whose count did not change may still have a new last day (a visit moved within its month).
        DivisionMonth: {k: v for k, v in months.items() if v[0] or v[1] or k in taken_months or v[2] != k[0]},
        HexMonth: {k: v for k, v in cells.items() if v[0] or k in taken_cells or v[1] != k[2]},
        PresenceMonth: {k: v for k, v in presence.items() if v[0]},
        "taken": (taken_months, taken_cells),
    }


def _grains(division: str, township: str, scope: str) -> list[tuple[str, tuple[str, str, str]]]:
    """The division and person rows' grains and their (division, township, scope) columns, as ``_monthly_selects``
    has them."""
    digits = GRAIN_SCOPE_DIGITS
    out = [(GRAIN_VILLAGE, (division, township, scope))]
    if township != NO_CODE:
        out.append((GRAIN_TOWNSHIP, (NO_CODE, township, scope[: digits[GRAIN_TOWNSHIP]])))
    if division != NO_CODE:
        out.append((GRAIN_COUNTY, (division[: digits[GRAIN_COUNTY]], NO_CODE, scope[: digits[GRAIN_COUNTY]])))
    return out


def _scope_grains(scope: str, resolution: int) -> list[tuple[str, str]]:
    """The cell rows' grains at ``resolution`` and their scope column."""
    if resolution not in COARSE_CELL_RESOLUTIONS:
        return [(GRAIN_VILLAGE, scope)]
    return [(grain, scope[: GRAIN_SCOPE_DIGITS[grain]]) for grain in CELL_GRAINS]


def key_month(key: tuple) -> date:
    """The first day of the month (year) of a DivisionMonth key (first field) or HexMonth key (third field)."""
    return key[0] if isinstance(key[0], date) else key[2]


def _recompute_last_day(model, ids: list, days: list[date]) -> None:
    """Set ``last_day`` of the village-grain rows ``ids`` to the latest day still counted in them where it is one
    of ``days`` (the days of the visits taken away: a row's last day can only have gone stale if it was one of
    them): from the daily rollup for divisions, from the visits of the row's scope and month (year) for cells. One
    UPDATE; the stale ``last_day`` bounds the search from above (it can only be later than the true one)."""
    if not ids or not days:
        return
    t = _table(model)
    col = {name: f"{t}.{_q(model._meta.get_field(name).column)}" for name in (*_TABLES[model][0], "last_day")}
    if model is DivisionMonth:
        r = _table(VisitRollup)
        source = (
            f"SELECT MAX(r.{_q('day')}) FROM {r} r WHERE r.{_q('division_code')} = {col['division_code']} "
            f"AND r.{_q('township_code')} = {col['township_code']} AND r.{_q('scope_code')} = {col['scope_code']} "
            f"AND r.{_q('day')} >= {col['month']} AND r.{_q('day')} <= {col['last_day']} "
            f"AND ({col['industry_key']} = {ALL_INDUSTRIES} OR r.{_q('industry_key')} = {col['industry_key']}) "
            f"AND ({col['kind']} = '{ALL_KINDS}' OR r.{_q('kind')} = {col['kind']})"
        )
    else:
        v = _table(Visit)
        cell = " ".join(f"WHEN {res} THEN v.{_q(f'h3_r{res}')}" for res in H3_RESOLUTIONS)
        source = (
            f"SELECT MAX(v.{_q('visit_date')}) FROM {v} v WHERE v.{_q('scope_code')} = {col['scope_code']} "
            f"AND v.{_q('visit_date')} >= {col['month']} AND v.{_q('visit_date')} <= {col['last_day']} "
            f"AND v.{_q('deleted_at')} IS NULL AND (CASE {col['resolution']} {cell} END) = {col['cell']} "
            f"AND ({col['industry_key']} = {ALL_INDUSTRIES} "
            f"OR COALESCE(v.{_q('industry_id')}, {NO_ID}) = {col['industry_key']}) "
            f"AND ({col['kind']} = '{ALL_KINDS}' OR v.{_q('kind')} = {col['kind']})"
        )
    _update_last_day(model, source, ids, days)


def _recompute_coarse_last_day(model, grain: str, ids: list, days: list[date]) -> None:
    """As :func:`_recompute_last_day`, for the rows ``ids`` of the coarser ``grain``: from the village-grain rows (for
    province cell rows, the county rows) of the same table that they sum (the same month, industry and kind, cell;
    the scope within the cut scope; the same township, or a village of the county), which are exact by then. A
    cell's rows are found by the key's index (resolution, cell, month, grain); a division's scope is also matched by
    a range, which the read index serves (every code that starts with the cut scope lies between it and it followed
    by nines). Given a scope range, the planner would take the cells' read index and scan the jurisdiction's rows
    for each cell row."""
    if not ids or not days:
        return
    t = _table(model)
    col = {name: f"{t}.{_q(model._meta.get_field(name).column)}" for name in (*_TABLES[model][0], "last_day")}
    scope = f"s.{_q('scope_code')}"
    same = ["industry_key", "kind", "month", "span"] + (["resolution", "cell"] if model is HexMonth else [])
    # A province cell row from the county cell rows (recomputed just before it: grains go in sorted order), a few
    # where the village rows of a large cell are hundreds.
    source = GRAIN_COUNTY if grain == GRAIN_PROVINCE else GRAIN_VILLAGE
    where = [f"s.{_q('grain')} = '{source}'"] + [f"s.{_q(name)} = {col[name]}" for name in same]
    where.append(f"substr({scope}, 1, length({col['scope_code']})) = {col['scope_code']}")
    if model is DivisionMonth:
        where += [f"{scope} >= {col['scope_code']}", f"{scope} <= {col['scope_code']} || '999999999999'"]
        digits = GRAIN_SCOPE_DIGITS[GRAIN_COUNTY]
        division = f"s.{_q('division_code')}"
        if grain == GRAIN_TOWNSHIP:
            where.append(f"s.{_q('township_code')} = {col['township_code']}")
        else:  # a county row's villages by a range too, which the key's index (month, grain, village) serves
            where += [
                f"{division} >= {col['division_code']}",
                f"{division} <= {col['division_code']} || '999999999999'",
                f"substr({division}, 1, {digits}) = {col['division_code']}",
            ]
    _update_last_day(model, f"SELECT MAX(s.{_q('last_day')}) FROM {t} s WHERE {' AND '.join(where)}", ids, days)


def _update_last_day(model, source: str, ids: list, days: list[date]) -> None:
    t = _table(model)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {t} SET {_q('last_day')} = ({source}) WHERE {_q(model._meta.pk.column)} IN "
            f"({', '.join(['%s'] * len(ids))}) AND {_q('last_day')} IN ({', '.join(['%s'] * len(days))})",
            [*ids, *(model._meta.get_field("last_day").get_db_prep_value(d, connection) for d in days)],
        )


def rollup_apply(*deltas: Deltas) -> None:
    """Add the merged deltas (signed, keyed by :data:`WIDE_KEY`) to every rollup table. Call inside the
    transaction of the visit write.

    Per table, one statement per 500 keys, whatever the keys: INSERT ... VALUES (key, delta) ... ON CONFLICT (key)
    DO UPDATE SET visits = visits + EXCLUDED.visits ... RETURNING the new counts; then one DELETE of the rows that
    fell to zero, and for the month and cell rows that lost visits one UPDATE of their ``last_day``. As in
    :func:`rollup_add`, the upsert is atomic per row on SQLite and PostgreSQL alike (on PostgreSQL it locks each
    row it adds to and adds to its latest committed count, so concurrent writers lose nothing), and the keys go in
    sorted, the order every writer takes, so that writers cannot deadlock (Python's order of the keys is the
    database's: dates, integers, UUIDs, digit codes and lowercase kinds sort alike under any collation, so this
    matches rollup_add's ORDER BY). Tables are written in one order too (daily, divisions, cells, presence). A row
    that falls to zero exists only inside this transaction.
    """
    changes = _merge(*deltas)
    if not changes:
        return
    rows = _project(changes)
    taken_months, taken_cells = rows["taken"]
    days = sorted({key[0] for key, (n, _p) in changes.items() if n < 0})  # the days of the visits taken away
    _upsert(VisitRollup, rows[VisitRollup])
    for model, taken in ((DivisionMonth, taken_months), (HexMonth, taken_cells)):
        _emptied, kept = _upsert(model, rows[model])
        if taken:
            # The rows still there whose last day is one of those days get their exact last day (recomputing an
            # added-to row's, already exact, does no harm): the village-grain rows first, then the coarser ones
            # from them.
            by_grain = defaultdict(list)
            for pk, grain in kept:
                by_grain[grain].append(pk)
            fine = by_grain.pop(GRAIN_VILLAGE, [])
            for start in range(0, len(fine), _APPLY_BATCH):
                _recompute_last_day(model, fine[start : start + _APPLY_BATCH], days)
            for grain, ids in sorted(by_grain.items()):
                for start in range(0, len(ids), _APPLY_BATCH):
                    _recompute_coarse_last_day(model, grain, ids[start : start + _APPLY_BATCH], days)
    _presence_upsert(rows[PresenceMonth])


def _counted(key: tuple) -> bool:
    """Whether the person row of ``key`` (a :data:`PRESENCE_KEY`) is one that :class:`PresenceCount` counts."""
    _month, _span, role, grain, _person, _household, _division, _township, _scope, industry, kind = key
    return grain in COUNTED_GRAINS and industry == ALL_INDUSTRIES and kind == ALL_KINDS and role != Presence.HOUSEHOLD


def _presence_upsert(changes: dict[tuple, list]) -> None:
    """Add ``changes`` to the person and household rows (:func:`_upsert`), then to :class:`PresenceCount` the rows
    that this write brought into being (one more person in their place) or emptied (one fewer): a written row was
    new when its count before (after minus the change) was zero, and is gone when its count after is. On
    PostgreSQL the upsert holds each row it wrote until commit, so that a concurrent writer adding to the same
    row sees it there and counts no second person. The counts go last, in key order, like every table."""
    people: dict[tuple, int] = defaultdict(int)

    def returned(key: tuple, after: int) -> None:
        if not _counted(key):
            return
        before = after - changes[key][0]
        if before <= 0 < after or after <= 0 < before:
            month, span, role, grain, _person, _household, division, township, scope, _industry, _kind = key
            people[(month, span, grain, role, division, township, scope)] += 1 if after > 0 else -1

    _upsert(PresenceMonth, changes, returned)
    _upsert(PresenceCount, {key: [n] for key, n in people.items() if n})


def presence_counts_rebuild() -> int:
    """Recount :class:`PresenceCount` from the person rows, in one INSERT ... SELECT ... GROUP BY; returns its
    rows. Inside the caller's transaction (``rollups_rebuild``, migration 0025)."""
    PresenceCount.objects.all().delete()
    p = _table(PresenceMonth)
    key = ", ".join(_q(c) for c in _columns(PresenceCount, PRESENCE_COUNT_KEY))
    grains = ", ".join(f"'{g}'" for g in COUNTED_GRAINS)
    roles = f"'{Presence.WORKER.value}', '{Presence.COMMISSIONER.value}'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(PresenceCount)} ({key}, {_q('people')}) SELECT {key}, COUNT(*) FROM {p} "
            f"WHERE {_q('grain')} IN ({grains}) AND {_q('role')} IN ({roles}) "
            f"AND {_q('industry_key')} = {ALL_INDUSTRIES} AND {_q('kind')} = '{ALL_KINDS}' GROUP BY {key}"
        )
        return cursor.rowcount


def visits_lock(visits: QuerySet) -> list:
    """Lock the rows of ``visits`` for the rest of the transaction (PostgreSQL; SQLite's IMMEDIATE transactions
    already hold the database's write lock). Returns their ids."""
    return list(visits.select_for_update().values_list("pk", flat=True))


# ---------------------------------------------------------------- INSERT ... SELECT: creates and the rebuild


def _insert_select(rows: QuerySet) -> tuple[str, tuple]:
    """``INSERT INTO <rollup> (<columns>) SELECT ...`` of a :func:`rollup_rows` query, and its parameters.

    Django has no INSERT ... SELECT, so the ORM's compiled SELECT is wrapped; the column list comes from the
    compiled SELECT itself, so it always matches its order.
    """
    compiler = rows.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    column = {name: VisitRollup._meta.get_field(name).column for name in ROLLUP_KEY}
    column.update(n_visits="visits", n_participants="participants")
    columns = ", ".join(connection.ops.quote_name(column[alias]) for _expression, _sql, alias in compiler.select)
    return f"INSERT INTO {connection.ops.quote_name(VisitRollup._meta.db_table)} ({columns}) {sql}", params


def _monthly_selects(where: str, spans: tuple[str, ...] = (SPAN_MONTH, SPAN_YEAR)) -> dict:
    """The SELECT ... GROUP BY (in key order) that computes each monthly table's rows from the live visits of
    ``where`` (an SQL condition on the visit table, alias ``v``), and its extra parameters: what a create adds
    (:func:`rollup_add`) and what the rebuild inserts. Each visit is counted in its detail row and in a total row
    (the cross join with ``g``); divisions once per grain it has (village; township if it has one; county if it has
    a village); cells once per resolution and scope grain (village; at r5 and r7 also county and province);
    presence once per household (a month row) and per worker and commissioner. Division, cell and person rows come
    once per span of ``spans``, a month row and a year row (the cross join with ``s``); the rebuild asks for the
    month rows only and sums the year rows from them (:func:`_insert_year_rows`).
    """
    v = _table(Visit)
    month = _month_of(f"v.{_q('visit_date')}")
    year = _year_of(f"v.{_q('visit_date')}")
    span_rows = " UNION ALL ".join(f"SELECT '{span}'{' AS span' if i == 0 else ''}" for i, span in enumerate(spans))
    span_rows = f"({span_rows}) s"

    def start(alias: str) -> str:
        """The row's first day: the visit's month's, or its year's for a year row (``<alias>.span``)."""
        return f"CASE {alias}.span WHEN '{SPAN_YEAR}' THEN {year} ELSE {month} END"

    industry = f"CASE WHEN g.t = 1 THEN {ALL_INDUSTRIES} ELSE COALESCE(v.{_q('industry_id')}, {NO_ID}) END"
    kind = f"CASE WHEN g.t = 1 THEN '{ALL_KINDS}' ELSE v.{_q('kind')} END"
    totals = "(SELECT 0 AS t UNION ALL SELECT 1) g"
    live = f"v.{_q('deleted_at')} IS NULL AND ({where})"
    division = f"COALESCE(v.{_q('division_id')}, '{NO_CODE}')"
    township, scope = f"v.{_q('township_code')}", f"v.{_q('scope_code')}"

    def grouped(n: int) -> str:
        positions = ", ".join(str(i) for i in range(1, n + 1))
        return f"GROUP BY {positions} ORDER BY {positions}"

    gv, gt, gc = GRAIN_VILLAGE, GRAIN_TOWNSHIP, GRAIN_COUNTY
    digits = GRAIN_SCOPE_DIGITS

    def place(grain: str) -> str:
        """The (division, township, scope) columns of a row at the grain ``grain`` (an SQL expression)."""
        return (
            f"CASE {grain} WHEN '{gv}' THEN {division} WHEN '{gc}' THEN substr({division}, 1, {digits[gc]}) "
            f"ELSE '{NO_CODE}' END, "
            f"CASE WHEN {grain} IN ('{gv}', '{gt}') THEN {township} ELSE '{NO_CODE}' END, "
            f"CASE {grain} WHEN '{gv}' THEN {scope} WHEN '{gt}' THEN substr({scope}, 1, {digits[gt]}) "
            f"WHEN '{gc}' THEN substr({scope}, 1, {digits[gc]}) ELSE '{NO_CODE}' END"
        )

    def placed(grain: str) -> str:
        """Whether the visit has a row at the grain ``grain``: a township for ``t``, a village for ``c``."""
        return (
            f"({grain} <> '{gt}' OR {township} <> '{NO_CODE}') "
            f"AND ({grain} <> '{gc}' OR v.{_q('division_id')} IS NOT NULL)"
        )

    # Per visit a detail and a total row at each grain.
    division_grains = f"(SELECT '{gv}' AS grain UNION ALL SELECT '{gt}' UNION ALL SELECT '{gc}') d"
    months = (
        f"SELECT {start('s')}, s.span, d.grain, {place('d.grain')}, {industry}, {kind}, COUNT(*), "
        f"COALESCE(SUM(v.{_q('participants')}), 0), MAX(v.{_q('visit_date')}) "
        f"FROM {v} v CROSS JOIN {span_rows} CROSS JOIN {totals} CROSS JOIN {division_grains} "
        f"WHERE {live} AND {placed('d.grain')} {grouped(8)}"
    )
    resolutions = " UNION ALL ".join(f"SELECT {r}{' AS res' if i == 0 else ''}" for i, r in enumerate(H3_RESOLUTIONS))
    cell = "CASE r.res " + " ".join(f"WHEN {r} THEN v.{_q(f'h3_r{r}')}" for r in H3_RESOLUTIONS) + " END"
    gp = GRAIN_PROVINCE
    scope_grains = f"(SELECT '{gv}' AS grain UNION ALL SELECT '{gc}' UNION ALL SELECT '{gp}') d"
    cut = (
        f"CASE d.grain WHEN '{gv}' THEN {scope} WHEN '{gc}' THEN substr({scope}, 1, {digits[gc]}) "
        f"ELSE substr({scope}, 1, {digits[gp]}) END"
    )
    coarse = ", ".join(str(r) for r in COARSE_CELL_RESOLUTIONS)
    cells = (
        f"SELECT r.res, {cell}, {start('s')}, s.span, d.grain, {cut}, {industry}, {kind}, COUNT(*), "
        f"MAX(v.{_q('visit_date')}) "
        f"FROM {v} v CROSS JOIN ({resolutions}) r CROSS JOIN {span_rows} CROSS JOIN {totals} CROSS JOIN {scope_grains} "
        f"WHERE {live} AND {cell} IS NOT NULL AND (d.grain = '{gv}' OR r.res IN ({coarse})) {grouped(8)}"
    )
    h, w, c = Presence.HOUSEHOLD.value, Presence.WORKER.value, Presence.COMMISSIONER.value
    # One household row (a month row); per worker and commissioner a detail and a total row at each grain, each a
    # month row and a year row.
    combos = [
        (span, r, t, grain)
        for span in spans
        for r in (w, c)
        for t in (0, 1)
        for grain in (GRAIN_VILLAGE, GRAIN_TOWNSHIP, GRAIN_COUNTY)
    ]
    roles = f"(SELECT '{SPAN_MONTH}' AS span, '{h}' AS role, 0 AS t, '' AS grain " + "".join(
        f"UNION ALL SELECT '{span}', '{r}', {t}, '{grain}' " for span, r, t, grain in combos
    )
    roles += ") g"
    person = (
        f"CASE g.role WHEN '{w}' THEN v.{_q('worker_id')} WHEN '{c}' THEN v.{_q('commissioner_id')} ELSE {NO_ID} END"
    )
    present = (
        f"((g.role = '{h}' AND v.{_q('household_id')} IS NOT NULL) OR (g.role = '{w}' AND v.{_q('worker_id')} IS NOT "
        f"NULL) OR (g.role = '{c}' AND v.{_q('commissioner_id')} IS NOT NULL)) AND {placed('g.grain')}"
    )
    presence = (
        f"SELECT {start('g')}, g.span, g.role, g.grain, {person}, "
        f"CASE WHEN g.role = '{h}' THEN v.{_q('household_id')} ELSE %s END, {place('g.grain')}, {industry}, {kind}, "
        f"COUNT(*) "
        f"FROM {v} v CROSS JOIN {roles} WHERE {live} AND {present} {grouped(11)}"
    )
    nil = PresenceMonth._meta.get_field("household_key").get_db_prep_value(NO_HOUSEHOLD, connection)
    return {DivisionMonth: (months, []), HexMonth: (cells, []), PresenceMonth: (presence, [nil])}


def _insert_monthly(cursor, where: str, params: list, *, adding: bool) -> dict:
    """Run the three monthly INSERT ... SELECTs for the visits of ``where``; returns the rows each wrote. Adding,
    the person and household rows are read and upserted from here instead (:func:`_presence_upsert`), which keeps
    :class:`PresenceCount` too; the rebuild counts those once at the end (:func:`presence_counts_rebuild`)."""
    written = {}
    spans = (SPAN_MONTH, SPAN_YEAR) if adding else (SPAN_MONTH,)
    for model, (select, extra) in _monthly_selects(where, spans).items():
        key, counts, greatest = _TABLES[model]
        if adding and model is PresenceMonth:
            cursor.execute(select, [*extra, *params])
            fields = [model._meta.get_field(name) for name in key]
            changes = {
                tuple(f.to_python(v) for f, v in zip(fields, row[:-1], strict=True)): [row[-1]]
                for row in cursor.fetchall()
            }
            _presence_upsert(changes)
            written[model] = len(changes)
            continue
        columns = ", ".join(_q(c) for c in _columns(model, (*key, *counts, *greatest)))
        conflict = _adding_on_conflict(model) if adding else ""
        cursor.execute(f"INSERT INTO {_table(model)} ({columns}) {select} {conflict}", [*extra, *params])
        written[model] = cursor.rowcount
    return written


def _insert_year_rows(cursor, first: date, last: date) -> None:
    """The rebuild's year rows of the division, cell and person tables, for the year from ``first`` to ``last``:
    summed from the month rows it has just inserted (one INSERT ... SELECT ... GROUP BY per table over a year's
    month rows, which are far fewer than the visits a second span in :func:`_monthly_selects` would group again).
    Household rows have no year rows."""
    start = "CAST(%s AS date)" if connection.vendor == "postgresql" else "%s"
    for model in (DivisionMonth, HexMonth, PresenceMonth):
        key, counts, greatest = _TABLES[model]
        rest = [c for c in _columns(model, key) if c not in ("month", "span")]
        columns = ", ".join(_q(c) for c in ("month", "span", *rest, *_columns(model, (*counts, *greatest))))
        totals = [f"SUM({_q(c)})" for c in _columns(model, counts)] + [
            f"MAX({_q(c)})" for c in _columns(model, greatest)
        ]
        where = f"{_q('span')} = '{SPAN_MONTH}' AND {_q('month')} >= %s AND {_q('month')} <= %s"
        if model is PresenceMonth:
            where += f" AND {_q('role')} <> '{Presence.HOUSEHOLD.value}'"
        keys = ", ".join(_q(c) for c in rest)
        field = model._meta.get_field("month")
        first_day, last_day = (field.get_db_prep_value(d, connection) for d in (first, last))
        cursor.execute(
            f"INSERT INTO {_table(model)} ({columns}) SELECT {start}, '{SPAN_YEAR}', {keys}, {', '.join(totals)} "
            f"FROM {_table(model)} WHERE {where} GROUP BY {keys} ORDER BY {keys}",
            [first_day, first_day, last_day],
        )


def rollup_add(visit_ids: Iterable) -> None:
    """Count newly stored visits, in one statement per table: INSERT ... SELECT (the GROUP BY of the new rows:
    :func:`rollup_rows`, :func:`_monthly_selects`) ... ON CONFLICT (key) DO UPDATE adding to the counts already
    there; the person and household rows are selected, then upserted with the people counts
    (:func:`_presence_upsert`).

    Adding never empties a row, so there is nothing to read back or delete. ON CONFLICT DO UPDATE is atomic per row
    on SQLite and PostgreSQL alike: on PostgreSQL it locks each existing row it adds to and adds to its latest
    committed count, so concurrent writers lose nothing, and it takes the rows in key order (ORDER BY), the order
    in which :func:`rollup_apply` locks them, so that writers cannot deadlock.
    """
    ids = list(visit_ids)
    if not ids:
        return
    sql, params = _insert_select(rollup_rows(Visit.objects.filter(pk__in=ids)).order_by(*ROLLUP_KEY))
    id_field = Visit._meta.pk
    id_params = [id_field.get_db_prep_value(i, connection) for i in ids]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {_adding_on_conflict()}", params)
        where = f"v.{_q(id_field.column)} IN ({', '.join(['%s'] * len(ids))})"
        _insert_monthly(cursor, where, id_params, adding=True)


def rollup_snapshot(visits: QuerySet) -> Deltas:
    """Lock ``visits`` and return their current rollup rows, negated: what an edit or delete takes away."""
    visits_lock(visits)
    return rollup_deltas(visits, -1)


def rollup_move(before: Deltas, visits: QuerySet) -> None:
    """After an edit, delete or reassignment: take away ``before`` and add what ``visits`` count now."""
    rollup_apply(before, rollup_deltas(visits))


ROLLUP_MODELS = (VisitRollup, DivisionMonth, HexMonth, PresenceMonth, PresenceCount)


def rollup_table_sizes() -> dict[str, int]:
    """Rows in each rollup table, by table name (for the rebuild's report and the bench)."""
    return {model._meta.db_table: model.objects.count() for model in ROLLUP_MODELS}


def rollups_rebuild(progress: Callable[[int, int, int], None] | None = None, *, daily: bool = True) -> tuple[int, int]:
    """Recompute every rollup table from the visit table in SQL, per year one INSERT ... SELECT ... GROUP BY per
    table (the daily one: :func:`rollup_rows` compiled by the ORM, :func:`_insert_select`; the monthly ones:
    :func:`_monthly_selects`, the SELECTs that creates add). ``progress(year, visits, rows)`` is called after
    each year (rows: of the daily rollup, or of the division months with ``daily=False``). Returns ``(visits,
    rows)`` in total. Runs in one transaction, so readers see either the old rollups or the new ones.
    ``daily=False`` leaves the daily rollup as it is and rebuilds the monthly tables only (migration 0016). The
    people counts (:class:`PresenceCount`) are counted from the person rows at the end.
    """
    total_visits = total_rows = 0
    models = ROLLUP_MODELS if daily else ROLLUP_MODELS[1:]
    with transaction.atomic():
        for model in models:
            model.objects.all().delete()
        span = Visit.objects.alive().aggregate(first=Min("visit_date"), last=Max("visit_date"))
        if span["first"] is None:
            return 0, 0
        with connection.cursor() as cursor:
            for year in range(span["first"].year, span["last"].year + 1):
                first, last = date(year, 1, 1), date(year, 12, 31)
                year_visits = Visit.objects.filter(visit_date__gte=first, visit_date__lte=last)
                rows = 0
                if daily:
                    cursor.execute(*_insert_select(rollup_rows(year_visits)))
                    rows = cursor.rowcount
                where = f"v.{_q('visit_date')} >= %s AND v.{_q('visit_date')} <= %s"
                field = Visit._meta.get_field("visit_date")
                written = _insert_monthly(
                    cursor,
                    where,
                    [field.get_db_prep_value(first, connection), field.get_db_prep_value(last, connection)],
                    adding=False,
                )
                _insert_year_rows(cursor, first, last)
                rows = rows if daily else written[DivisionMonth]
                visits = year_visits.alive().count()
                total_visits += visits
                total_rows += rows
                if progress:
                    progress(year, visits, rows)
        presence_counts_rebuild()
    return total_visits, total_rows


def visits_reassign(
    queryset: QuerySet | None = None, *, batch_size: int = 20000, progress: Callable[[int], None] | None = None
) -> int:
    """Recompute the village, township and scope of stored visits from their points, e.g. after a boundary
    import, and move their rollup counts. Returns the number of visits whose place changed.

    Vectorised per batch of ``batch_size`` visits (in id order, each batch its own transaction): one locked
    read of the points, one ``geo.assign`` call for the whole batch, one UPDATE per distinct new place, and two
    GROUP BYs to move the rollup. The review flags that depend on the place (unassigned, outside the county,
    away from a target village) are recomputed with it. Changed visits get a new ``updated_at``, so that phones
    pulling changes receive their new place, but keep their version (the fields a client edits did not change).
    Tombstones are reassigned too (they are not in the rollup). ``progress(n)`` is called after each batch of n.
    """
    queryset = Visit.objects.all() if queryset is None else queryset
    changed = 0
    last = None
    while True:
        batch = queryset.order_by("pk") if last is None else queryset.filter(pk__gt=last).order_by("pk")
        with transaction.atomic():
            rows = list(
                batch.select_for_update(of=("self",))
                .annotate(home=Coalesce("expert__county_id", "worker__home_township_id", "commissioner__county_id"))
                .values_list(
                    "pk", "lon", "lat", "division_id", "township_code", "scope_code", "flag_bits", "village_id", "home"
                )[:batch_size]
            )
            if rows:
                changed += _reassign_batch(rows)
        if progress and rows:
            progress(len(rows))
        if len(rows) < batch_size:
            return changed
        last = rows[-1][0]


def _reassign_batch(rows: list[tuple]) -> int:
    ids, lon, lat, division, township, scope, bits, target_village, home = (
        np.array(column, dtype=object) for column in zip(*rows, strict=True)
    )
    villages, townships = assign_points(lon.astype(float), lat.astype(float))
    found = np.not_equal(villages, None)
    new_division = np.where(found, villages, NO_CODE).astype(str)
    new_township = np.where(found, townships, NO_CODE).astype(str)
    home = home.astype(str)
    new_scope = np.where(found, new_division, home)
    bits = bits.astype(np.int64)
    # The flags that follow from the place; a visit to another kind of target is judged by distance, which a
    # reassignment does not change, so its far_from_target bit is kept.
    place = flags.place_flags(villages, np.strings.slice(home, 0, 6), target_village)
    to_village = np.not_equal(target_village, None)
    recomputed = np.where(to_village, PLACE_BITS, PLACE_BITS & ~FAR_BIT)
    new_bits = (bits & ~recomputed) | (flags.flag_bits(place) & recomputed)
    old_division = np.where(np.not_equal(division, None), division, NO_CODE).astype(str)
    moved = (
        (new_division != old_division)
        | (new_township != township.astype(str))
        | (new_scope != scope.astype(str))
        | (new_bits != bits)
    )
    if not moved.any():
        return 0
    visits = Visit.objects.filter(pk__in=ids[moved].tolist())
    before = rollup_deltas(visits, -1)
    # One UPDATE per distinct new (village, township, scope, flags): set-based, however many visits share it.
    place = np.stack([new_division, new_township, new_scope, new_bits.astype(str)], axis=1)[moved]
    groups, inverse = np.unique(place, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    members = np.split(ids[moved][order], np.cumsum(np.bincount(inverse, minlength=len(groups)))[:-1])
    now = timezone.now()
    for (division_code, township_code, scope_code, flag_bits), group_ids in zip(groups.tolist(), members, strict=True):
        Visit.objects.filter(pk__in=group_ids.tolist()).update(
            division_id=division_code or None,
            township_code=township_code,
            scope_code=scope_code,
            flag_bits=int(flag_bits),
            updated_at=now,
        )
    rollup_move(before, visits)
    return int(moved.sum())
