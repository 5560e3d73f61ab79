"""The province data set (``python -m bench --scale province``, PostgreSQL only): 40 counties, 10M visits.

Generating 10M visits the usual way (:mod:`bench.data`) would take hours on a small machine, so one county is
generated the usual way (Yunyang, 250k visits, its network and accounts), and copied in SQL to 39 synthetic counties:

- divisions: a fictional city ``5099`` under Chongqing, and 39 fictional counties ``509901`` .. ``509939``, each a
  copy of Yunyang's townships and villages with the code's first six digits replaced. They carry no boundary (so
  that point assignment, which would otherwise find two villages under every point, keeps to the real ones); they
  are flagged ``fictional`` and ``boundary_synthetic``.
- visits: one ``INSERT ... SELECT`` per county from Yunyang's generated visits, with a new id (an MD5 of the source
  id and the county) and every division code remapped (village, township, scope, village target). The people and
  targets are Yunyang's: a worker's own visits are therefore 40 times those of a worker in one county.
  Triggers and foreign-key checks are off for these copies (``session_replication_role = replica``): the change
  log rows the visit trigger would write are inserted by one ``INSERT ... SELECT`` per county with the trigger's
  own expressions (``agri.changelog``).
- the rollups: Yunyang's are rebuilt with its visits (``build_base``, ``rollups_rebuild``); each county then gets,
  in the transaction of its visit copy, a copy of every rollup row of Yunyang's scope (``copy_rollups``: the daily,
  division, cell and person rows and the people counts, all of them keyed by a scope of a county or finer, with the
  same code remapping). The rows that add up several counties are then recomputed from those in SQL
  (``province_rollups``): the province cell rows (grain ``p``) summed from the county cell rows, and the household
  rows (which have no place) from the daily rollup. The result is what ``rollups_rebuild`` would write for the
  copied visits, in a fraction of its time (it groups every visit again: an hour at 10M visits); the rows lie in
  the tables county after county, each county's in key order (a rebuild writes them year after year, in key
  order). Should Yunyang's scope hold live visits from an ingest (which are not copied), the rollups are rebuilt
  from the visits instead. Then ``VACUUM ANALYZE``.

Resumable: each county is copied in its own transaction, and a county whose division exists is done; the meta file
records the stage (``base``, then ``done``) next to the fingerprint. A set built under older migrations is migrated
(``bench.data.migrate``), not rebuilt: the migrations fill what they add from the rows there.
"""

import hashlib
import json
import time
from pathlib import Path

from django.db import connection, transaction

from bench import data

COUNTIES = 40
CITY = "5099"
PROVINCE_VERSION = 2  # bump when the copies change, so cached databases are rebuilt


def county_prefixes(counties: int) -> list[str]:
    """Yunyang first, then the synthetic counties."""
    return [data.COUNTY_PREFIX] + [f"{CITY}{k:02d}" for k in range(1, counties)]


def fingerprint(scale: int, counties: int) -> str:
    base = data.fingerprint(scale // counties)
    return hashlib.sha256(f"{base}/province{PROVINCE_VERSION}/{counties}".encode()).hexdigest()[:16]


def _remap(column: str) -> str:
    source = data.COUNTY_PREFIX
    return f"CASE WHEN left({column}, 6) = '{source}' THEN %(prefix)s || substr({column}, 7) ELSE {column} END"


def copy_divisions(prefix: str, number: int) -> int:
    """The city (once) and one synthetic county: Yunyang's tree with ``prefix`` for its first six digits."""
    from geo.codes import full_code
    from geo.models import AdminDivision

    table = AdminDivision._meta.db_table
    city = full_code(CITY)
    if not AdminDivision.objects.filter(code=city).exists():
        AdminDivision.objects.create(
            code=city, name="虚构市", level="city", parent_id="500000000000", fictional=True, boundary_synthetic=True
        )
    columns = [f.column for f in AdminDivision._meta.concrete_fields]
    expressions = {
        "code": "%(prefix)s || substr(code, 7)",
        "name": "CASE WHEN level = 'county' THEN %(county_name)s ELSE name END",
        "parent_id": f"CASE WHEN level = 'county' THEN %(city)s ELSE {_remap('parent_id')} END",
        "boundary": "NULL",
        "boundary_display": "NULL",
        "boundary_synthetic": "TRUE",
        "fictional": "TRUE",
        "updated_at": "now()",
    }
    select = ", ".join(expressions.get(c, c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} WHERE code LIKE %(like)s",
            {"prefix": prefix, "city": city, "county_name": f"虚构县{number:02d}", "like": data.COUNTY_PREFIX + "%"},
        )
        return cursor.rowcount


def copy_visits(prefix: str) -> int:
    """Yunyang's generated visits copied into the county ``prefix``, with their change log rows."""
    from agri.changelog import text, visit_people
    from agri.models import Visit

    table = Visit._meta.db_table
    columns = [f.column for f in Visit._meta.concrete_fields]
    expressions = {"id": "md5(CAST(id AS TEXT) || %(prefix)s)::uuid"}
    for column in ("scope_code", "division_id", "township_code", "village_id"):
        expressions[column] = _remap(column)
    select = ", ".join(expressions.get(c, c) for c in columns)
    params = {"prefix": prefix, "like": data.COUNTY_PREFIX + "%", "mine": prefix + "%"}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} "
            "WHERE scope_code LIKE %(like)s AND ingest_id IS NULL",
            params,
        )
        copied = cursor.rowcount
        # What the visit trigger writes for an INSERT (agri.changelog.postgresql_sql): no "before" codes or people.
        cursor.execute(
            "INSERT INTO agri_change (kind, record_id, txid, codes, people) "
            "SELECT 'visit', CAST(v.id AS TEXT), CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT), "
            f"'  ' || {text('v.scope_code')} || ' ', '  ' || {visit_people('v')} || ' ' "
            f"FROM {table} v WHERE v.scope_code LIKE %(mine)s",
            params,
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    return copied


# The code columns of the rollup tables that a county's copy remaps (those of the five tables that have them).
ROLLUP_CODES = ("division_code", "township_code", "scope_code")


def _rollup_copies() -> list[tuple[str, list[str], str]]:
    """Per rollup table: its name, its columns but the id, and its key's columns (comma-separated)."""
    from agri.services.rollups import _TABLES, ROLLUP_MODELS

    out = []
    for model in ROLLUP_MODELS:
        columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
        key = ", ".join(model._meta.get_field(name).column for name in _TABLES[model][0])
        out.append((model._meta.db_table, columns, key))
    return out


def rollup_sources() -> dict[str, int]:
    """Yunyang's rollup rows that every county copies, in a temporary table per rollup table (``source_<table>``,
    in key order): the rows whose scope (cut to the row's grain, at least a county's six digits) is Yunyang's. Read
    once, rather than once per county from tables that grow with every county (rows per table)."""
    copied = {}
    with connection.cursor() as cursor:
        for table, columns, key in _rollup_copies():
            cursor.execute(f"DROP TABLE IF EXISTS source_{table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE source_{table} AS SELECT {', '.join(columns)} FROM {table} "
                f"WHERE scope_code LIKE %s ORDER BY {key}",
                [data.COUNTY_PREFIX + "%"],
            )
            copied[table] = cursor.rowcount
    return copied


def copy_rollups(prefix: str) -> dict[str, tuple[int, float]]:
    """Yunyang's rollup rows (``rollup_sources``) copied into the county ``prefix``: the rows its copied visits add
    (rows written and seconds, per table).

    Every row of a place (scope) of a county or finer is a copy: the copied visits are those of Yunyang's scope,
    with the same people, cells, days, industries and kinds, and only their division codes remapped, so they fall
    into the same rows with the codes remapped. These are the rows whose scope (cut to the row's grain, at least
    a county's six digits) is Yunyang's: the daily rows, the division rows (``v``, ``t``, ``c``), the cell rows
    of the ``v`` and ``c`` grains, the person rows (``v``, ``t``, ``c``) and the people counts (a place's people
    are those of the copied place). The rest add counties up and are recomputed at the end (``province_rollups``):
    the province cell rows (scope ``50``) and the household rows (no scope). In key order (``rollup_sources``)."""
    copied = {}
    with connection.cursor() as cursor:
        for table, columns, _key in _rollup_copies():
            t0 = time.perf_counter()
            select = ", ".join(_remap(c) if c in ROLLUP_CODES else c for c in columns)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM source_{table}", {"prefix": prefix}
            )
            copied[table] = (cursor.rowcount, time.perf_counter() - t0)
    return copied


def province_rollups() -> dict[str, int]:
    """The rollup rows that add up several counties, recomputed from the county rows once every county is there
    (rows per table); what ``rollups_rebuild`` writes for them, by the same sums over fewer rows:

    - the province cell rows (``HexMonth`` grain ``p``, resolutions 5 and 7, scope cut to two digits): the county
      cell rows (grain ``c``, the same resolutions and cells) summed per province, the latest ``last_day``;
    - the household rows (``PresenceMonth`` role ``h``, no place, month rows of the detail industry and kind): the
      daily rows of a household summed per month (the daily rollup's industry, kind and household are the
      visit's, sentinels for none). The people counts do not count household rows.

    The division and person rows have no grain coarser than a county. One transaction; the old rows deleted first,
    so that it can run again."""
    from agri.models import HexMonth, PresenceMonth, VisitRollup
    from agri.models.rollups import (
        GRAIN_COUNTY,
        GRAIN_PROVINCE,
        GRAIN_SCOPE_DIGITS,
        NO_CODE,
        NO_HOUSEHOLD,
        NO_ID,
        SPAN_MONTH,
        Presence,
    )

    hex_table, presence, daily = HexMonth._meta.db_table, PresenceMonth._meta.db_table, VisitRollup._meta.db_table
    cells = "resolution, cell, month, span, grain, scope_code, industry_key, kind"
    cut = f"substr(scope_code, 1, {GRAIN_SCOPE_DIGITS[GRAIN_PROVINCE]})"
    province = f"resolution, cell, month, span, {cut}, industry_key, kind"
    households = (
        "month, span, role, grain, person_key, household_key, division_code, township_code, scope_code, "
        "industry_key, kind"
    )
    month = "CAST(date_trunc('month', CAST(day AS timestamp)) AS date)"
    household = Presence.HOUSEHOLD.value
    written = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {hex_table} WHERE grain = %s", [GRAIN_PROVINCE])
        cursor.execute(
            f"INSERT INTO {hex_table} ({cells}, visits, last_day) "
            f"SELECT resolution, cell, month, span, %s, {cut}, industry_key, kind, SUM(visits), MAX(last_day) "
            f"FROM {hex_table} WHERE grain = %s GROUP BY {province} ORDER BY {province}",
            [GRAIN_PROVINCE, GRAIN_COUNTY],
        )
        written[hex_table] = cursor.rowcount
        cursor.execute(f"DELETE FROM {presence} WHERE role = %s", [household])
        cursor.execute(
            f"INSERT INTO {presence} ({households}, visits) "
            f"SELECT {month}, %s, %s, '', {NO_ID}, household_key, %s, %s, %s, industry_key, kind, SUM(visits) "
            f"FROM {daily} WHERE household_key <> %s GROUP BY {month}, household_key, industry_key, kind "
            f"ORDER BY {month}, household_key, industry_key, kind",
            [SPAN_MONTH, household, NO_CODE, NO_CODE, NO_CODE, NO_HOUSEHOLD],
        )
        written[presence] = cursor.rowcount
    return written


def ensure(scale: int, counties: int, meta_path: Path, log, build_base) -> None:
    """The province data set in the database: built, finished after an interruption, or reused as it is."""
    from agri.models import Visit
    from geo.codes import full_code
    from geo.models import AdminDivision

    if connection.vendor != "postgresql":
        raise SystemExit("the province scale runs on PostgreSQL only")
    wanted, schema = fingerprint(scale, counties), data.schema_fingerprint()
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("fingerprint") != wanted:
        per_county = scale // counties
        log(f"building the {scale:,}-visit province data set: {counties} counties of {per_county:,} visits")
        build_base(per_county)
        meta = {"fingerprint": wanted, "schema": schema, "scale": scale, "counties": counties, "stage": "base"}
        meta_path.write_text(json.dumps(meta))
    if meta.get("schema") != schema:  # new migrations: an hour to rebuild at 10M, minutes to migrate
        log(f"migrating the {scale:,}-visit province data set: new migrations")
        data.migrate(log)
        meta = {**meta, "schema": schema}
        meta_path.write_text(json.dumps(meta))
    if meta.get("stage") == "done":
        return
    # The rollup rows are copied with the visits, exact if the copied visits are every visit of Yunyang's scope
    # that its rollups count (live visits from an ingest are not copied); otherwise rebuilt at the end.
    exact = not Visit.objects.filter(
        scope_code__startswith=data.COUNTY_PREFIX, ingest_id__isnull=False, deleted_at__isnull=True
    ).exists()
    sources = None
    for number, prefix in enumerate(county_prefixes(counties)[1:], start=1):
        if AdminDivision.objects.filter(code=full_code(prefix)).exists():
            continue
        if exact and sources is None:
            t0 = time.perf_counter()
            sources = rollup_sources()
            log(f"  Yunyang's rollup rows to copy: {sum(sources.values()):,} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        with transaction.atomic():
            divisions = copy_divisions(prefix, number)
            visits = copy_visits(prefix)
            t1 = time.perf_counter()
            rows = copy_rollups(prefix) if exact else {}
        tables = ", ".join(f"{table.removeprefix('agri_')} {t:.1f}" for table, (_n, t) in rows.items())
        log(
            f"  county {prefix}: {divisions} divisions, {visits:,} visits copied in {t1 - t0:.1f} s, "
            f"{sum(n for n, _t in rows.values()):,} rollup rows in {time.perf_counter() - t1:.1f} s ({tables})"
        )
    t0 = time.perf_counter()
    if exact:
        rows = province_rollups()
        log(f"  province rollup rows: {', '.join(f'{t} {n:,}' for t, n in rows.items())}")
        t1 = time.perf_counter()
        log(f"  province rollup rows recomputed in {t1 - t0:.1f} s")
    else:
        log(f"  {data.rebuild_rollups()}")
        t1 = time.perf_counter()
        log(f"  rollup rebuilt in {t1 - t0:.1f} s")
    data.analyze()
    log(f"  VACUUM ANALYZE: {time.perf_counter() - t1:.1f} s")
    total = Visit.objects.filter(ingest_id__isnull=True).count()
    if total != scale:
        raise SystemExit(f"the province data set has {total:,} visits, not {scale:,}")
    meta_path.write_text(json.dumps({**meta, "schema": schema, "stage": "done"}))
