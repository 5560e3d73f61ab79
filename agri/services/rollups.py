"""Writes to the visit rollup (``agri.models.VisitRollup``), in the transaction of the visit write that causes them.

Every change is a delta computed by the same GROUP BY that ``rollups_rebuild`` runs over the whole table
(:func:`rollup_rows`), so the incremental state and a rebuild cannot drift apart:

- a create adds the rows of the visits that this request actually inserted;
- an edit subtracts the visit's old key and adds its new one; a delete subtracts it;
- a reassignment (after a boundary import) subtracts and re-adds the visits whose place changed.

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

from agri.models import Visit, VisitFlag, VisitRollup
from agri.models.rollups import NO_CODE, NO_HOUSEHOLD, NO_ID, ROLLUP_KEY
from agri.services import flags
from geo.assign import assign_points

Deltas = dict[tuple, list[int]]  # rollup key -> [visits, participants]
_APPLY_BATCH = 500  # keys per upsert statement: 12 parameters each, far below SQLite's 32,766

FAR_BIT = VisitFlag.BITS[VisitFlag.FAR_FROM_TARGET]
PLACE_BITS = FAR_BIT | VisitFlag.BITS[VisitFlag.UNASSIGNED] | VisitFlag.BITS[VisitFlag.OUTSIDE_COUNTY]


def rollup_rows(visits: QuerySet) -> QuerySet:
    """The rollup rows of ``visits`` (live ones only): one dict per key with ``n_visits`` and ``n_participants``.

    One GROUP BY, used both for incremental deltas and for the rebuild's INSERT ... SELECT.
    """
    return (
        visits.filter(deleted_at__isnull=True)
        .annotate(
            day=F("visit_date"),
            division_code=Coalesce("division_id", Value(NO_CODE)),
            industry_key=Coalesce("industry_id", Value(NO_ID), output_field=IntegerField()),
            expert_key=Coalesce("expert_id", Value(NO_ID), output_field=BigIntegerField()),
            worker_key=Coalesce("worker_id", Value(NO_ID), output_field=BigIntegerField()),
            commissioner_key=Coalesce("commissioner_id", Value(NO_ID), output_field=BigIntegerField()),
            household_key=Coalesce("household_id", Value(NO_HOUSEHOLD, output_field=UUIDField())),
        )
        .values(*ROLLUP_KEY)
        .annotate(n_visits=Count("pk"), n_participants=Coalesce(Sum("participants"), 0))
        .order_by()
    )


def rollup_deltas(visits: QuerySet, sign: int = 1) -> Deltas:
    """``sign`` (+1 or -1) times the rollup rows of ``visits``, keyed by the rollup key."""
    return {
        tuple(row[k] for k in ROLLUP_KEY): [sign * row["n_visits"], sign * row["n_participants"]]
        for row in rollup_rows(visits)
    }


def _merge(*deltas: Deltas) -> Deltas:
    out: Deltas = defaultdict(lambda: [0, 0])
    for delta in deltas:
        for key, (n, p) in delta.items():
            out[key][0] += n
            out[key][1] += p
    return {key: value for key, value in out.items() if value != [0, 0]}


def _adding_on_conflict() -> str:
    """``ON CONFLICT (<key>) DO UPDATE SET visits = <table>.visits + EXCLUDED.visits, participants = ...``: an
    insert that adds its counts to the key's row where there is one (SQLite and PostgreSQL alike)."""
    quote = connection.ops.quote_name
    table = quote(VisitRollup._meta.db_table)
    key = ", ".join(quote(VisitRollup._meta.get_field(name).column) for name in ROLLUP_KEY)
    counts = ", ".join(f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in ("visits", "participants"))
    return f"ON CONFLICT ({key}) DO UPDATE SET {counts}"


def rollup_apply(*deltas: Deltas) -> None:
    """Add the merged deltas (signed) to the rollup. Call inside the transaction of the visit write.

    One statement per 500 keys, whatever the keys: INSERT ... VALUES (key, delta) ... ON CONFLICT (key) DO UPDATE
    SET visits = visits + EXCLUDED.visits ... RETURNING the new counts; then one DELETE of the rows that fell to
    zero. As in :func:`rollup_add`, the upsert is atomic per row on SQLite and PostgreSQL alike (on PostgreSQL it
    locks each row it adds to and adds to its latest committed count, so concurrent writers lose nothing), and the
    keys go in sorted, the order every writer takes, so that writers cannot deadlock (Python's order of the keys is
    the database's: dates, integers, UUIDs, digit codes and lowercase kinds sort alike under any collation, so this
    matches rollup_add's ORDER BY). A row that falls to zero exists only inside this transaction.
    """
    changes = _merge(*deltas)
    if not changes:
        return
    keys = sorted(changes)
    quote = connection.ops.quote_name
    fields = [VisitRollup._meta.get_field(name) for name in ROLLUP_KEY]
    key_columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * (len(fields) + 2)) + ")"
    emptied = []
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _APPLY_BATCH):
            batch = keys[start : start + _APPLY_BATCH]
            params = [
                value
                for key in batch
                for value in (
                    *(field.get_db_prep_value(part, connection) for field, part in zip(fields, key, strict=True)),
                    *changes[key],
                )
            ]
            cursor.execute(
                f"INSERT INTO {quote(VisitRollup._meta.db_table)} ({key_columns}, {quote('visits')}, "
                f"{quote('participants')}) VALUES {', '.join([row] * len(batch))} {_adding_on_conflict()} "
                f"RETURNING {quote(VisitRollup._meta.pk.column)}, {quote('visits')}",
                params,
            )
            emptied += [pk for pk, visits in cursor.fetchall() if visits <= 0]
    if emptied:
        VisitRollup.objects.filter(pk__in=emptied).delete()


def visits_lock(visits: QuerySet) -> list:
    """Lock the rows of ``visits`` for the rest of the transaction (PostgreSQL; SQLite's IMMEDIATE transactions
    already hold the database's write lock). Returns their ids."""
    return list(visits.select_for_update().values_list("pk", flat=True))


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


def rollup_add(visit_ids: Iterable) -> None:
    """Count newly stored visits, in one statement: INSERT ... SELECT (the :func:`rollup_rows` GROUP BY of the new
    rows) ... ON CONFLICT (key) DO UPDATE adding to the counts already there.

    Adding never empties a row, so there is nothing to read back or delete. ON CONFLICT DO UPDATE is atomic per row
    on SQLite and PostgreSQL alike: on PostgreSQL it locks each existing row it adds to and adds to its latest
    committed count, so concurrent writers lose nothing, and it takes the rows in key order (ORDER BY), the order
    in which :func:`rollup_apply` locks them, so that writers cannot deadlock.
    """
    ids = list(visit_ids)
    if not ids:
        return
    sql, params = _insert_select(rollup_rows(Visit.objects.filter(pk__in=ids)).order_by(*ROLLUP_KEY))
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {_adding_on_conflict()}", params)


def rollup_snapshot(visits: QuerySet) -> Deltas:
    """Lock ``visits`` and return their current rollup rows, negated: what an edit or delete takes away."""
    visits_lock(visits)
    return rollup_deltas(visits, -1)


def rollup_move(before: Deltas, visits: QuerySet) -> None:
    """After an edit, delete or reassignment: take away ``before`` and add what ``visits`` count now."""
    rollup_apply(before, rollup_deltas(visits))


def rollups_rebuild(progress: Callable[[int, int, int], None] | None = None) -> tuple[int, int]:
    """Recompute the whole rollup from the visit table in SQL, one INSERT ... SELECT ... GROUP BY per year.

    The SELECT is :func:`rollup_rows` compiled by the ORM (:func:`_insert_select`). ``progress(year, visits, rows)``
    is called after each year. Returns ``(visits, rows)`` in total. Runs in one transaction, so readers see either
    the old rollup or the new one.
    """
    total_visits = total_rows = 0
    with transaction.atomic():
        VisitRollup.objects.all().delete()
        span = Visit.objects.alive().aggregate(first=Min("visit_date"), last=Max("visit_date"))
        if span["first"] is None:
            return 0, 0
        with connection.cursor() as cursor:
            for year in range(span["first"].year, span["last"].year + 1):
                year_visits = Visit.objects.filter(visit_date__gte=date(year, 1, 1), visit_date__lte=date(year, 12, 31))
                cursor.execute(*_insert_select(rollup_rows(year_visits)))
                rows = cursor.rowcount
                visits = year_visits.alive().count()
                total_visits += visits
                total_rows += rows
                if progress:
                    progress(year, visits, rows)
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
