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
- the rollup: rebuilt from the visit table (``rollups_rebuild``, SQL), then ``VACUUM ANALYZE``.

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
PROVINCE_VERSION = 1  # bump when the copies change, so cached databases are rebuilt


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
    for number, prefix in enumerate(county_prefixes(counties)[1:], start=1):
        if AdminDivision.objects.filter(code=full_code(prefix)).exists():
            continue
        t0 = time.perf_counter()
        with transaction.atomic():
            divisions = copy_divisions(prefix, number)
            visits = copy_visits(prefix)
        log(f"  county {prefix}: {divisions} divisions, {visits:,} visits copied in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    log(f"  {data.rebuild_rollups()}")
    t1 = time.perf_counter()
    log(f"  rollup rebuilt in {t1 - t0:.1f} s")
    data.analyze()
    log(f"  VACUUM ANALYZE: {time.perf_counter() - t1:.1f} s")
    total = Visit.objects.filter(ingest_id__isnull=True).count()
    if total != scale:
        raise SystemExit(f"the province data set has {total:,} visits, not {scale:,}")
    meta_path.write_text(json.dumps({**meta, "schema": schema, "stage": "done"}))
