"""One benchmark process: one database at one scale. ``python -m bench`` starts one per (database, scale).

It makes sure the database holds the deterministic data set for its scale (rebuilt only when the generator, the
migrations or the scale changed), runs the scenarios it is given and writes their results as JSON.
"""

import argparse
import gc
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _reset_database() -> None:
    from django.db import connection

    settings_dict = connection.settings_dict
    connection.close()
    if connection.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(settings_dict["NAME"]) + suffix).unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    params = {
        "host": settings_dict["HOST"] or None,
        "port": settings_dict["PORT"] or None,
        "user": settings_dict["USER"] or None,
        "password": settings_dict["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        name = sql.Identifier(settings_dict["NAME"])
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))


def build_base(scale: int) -> None:
    """An empty database, migrated, with the network and ``scale`` generated visits, their rollup, analysed."""
    from django.core.management import call_command

    from bench import data

    t0 = time.perf_counter()
    _reset_database()
    call_command("migrate", verbosity=0, interactive=False)
    data.seed_network()
    t1 = time.perf_counter()
    log(f"  schema, divisions and network: {t1 - t0:.1f} s")
    net = data.load_network()
    columns = data.generate_visits(net, scale)
    t2 = time.perf_counter()
    log(f"  generated {scale:,} visits: {t2 - t1:.1f} s")
    data.insert_visits(columns)
    t3 = time.perf_counter()
    log(f"  inserted: {t3 - t2:.1f} s ({scale / (t3 - t2):,.0f} rows/s)")
    log(f"  {data.rebuild_rollups()}")
    data.analyze()
    log(f"  rollup and ANALYZE: {time.perf_counter() - t3:.1f} s")


def ensure_dataset(scale: int, meta_path: Path, counties: int = 1) -> None:
    from django.db import DatabaseError

    from agri.models import Visit
    from bench import data
    from bench.scenarios import cleanup_api_visits

    if counties > 1:
        from bench import province

        province.ensure(scale, counties, meta_path, log, build_base)
        cleanup_api_visits()
        return
    fingerprint, schema = data.fingerprint(scale), data.schema_fingerprint()
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("fingerprint") == fingerprint:
        try:
            if meta.get("schema") != schema:
                log(f"migrating the {scale:,}-visit data set ({meta_path.name}): new migrations")
                data.migrate(log)
                meta_path.write_text(json.dumps({**meta, "schema": schema}))
            removed = cleanup_api_visits()
            if removed:
                log(f"removed {removed} visits left by an interrupted run")
            if Visit.objects.filter(ingest_id__isnull=True).count() == scale:
                log(f"reusing the {scale:,}-visit data set ({meta_path.name})")
                return
        except DatabaseError:
            pass
    log(f"building the {scale:,}-visit data set (once; later runs reuse it, migrated when the schema changes)")
    meta_path.unlink(missing_ok=True)
    build_base(scale)
    meta_path.write_text(json.dumps({"fingerprint": fingerprint, "schema": schema, "scale": scale}))


def make_context(db: str, scale: int, runs: int, small: bool, profile: set):
    from django.db.models import Count

    from agri.models import DeviceToken, ExtensionWorker, User
    from bench.scenarios import Context

    DeviceToken.objects.filter(device="bench").delete()
    workers = list(
        ExtensionWorker.objects.filter(user__username__startswith="bench-worker-")
        .annotate(n=Count("households"))
        .order_by("-n", "pk")
        .select_related("user")[:2]
    )
    users = {"admin": User.objects.get(username="demo-admin"), "sync": workers[0].user, "load": workers[1].user}
    tokens = {}
    for role, user in users.items():
        _token, raw = DeviceToken.objects.create(user=user, expiry=timedelta(days=1), device="bench")
        tokens[role] = raw
    return Context(db=db, scale=scale, runs=runs, small=small, tokens=tokens, users=users, profile=profile)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runner")
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--meta", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--counties", type=int, default=1, help="more than 1: the province data set (bench.province)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.db import connection

    from bench.scenarios import SCENARIOS

    ensure_dataset(args.scale, Path(args.meta), args.counties)
    db = connection.vendor
    profile = {p for p in args.profile.split(",") if p}
    ctx = make_context(db, args.scale, args.runs, args.small, profile)
    # The scenarios run the app in this process, set up as backend/wsgi.py sets up an app server's: what start-up
    # loaded (and here the data set's build) out of the garbage collector's passes.
    gc.freeze()
    results = []
    for name in args.scenarios.split(","):
        start = time.perf_counter()
        log(f"{db} {args.scale:,}: {name} ...")
        load_before = os.getloadavg()[0]
        rows = SCENARIOS[name](ctx)
        for row in rows:  # the machine's 1-minute load average around the scenario: other work skews timings
            row.extra["load"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        results.extend(r.as_dict() for r in rows)
        log(f"{db} {args.scale:,}: {name} done in {time.perf_counter() - start:.1f} s")
    Path(args.out).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
