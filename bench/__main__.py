"""``python -m bench`` (``make bench``): issue 6's benchmark suite.

    BENCH_SCALE=small|full|province
                             data sets of 5k and 20k, or 100k and 1M visits (default full); or the province's
                             1M and 10M visits over 40 counties (PostgreSQL only; bench.province), whose reads
                             are also reported as t(10M)/t(1M)
    --db sqlite,postgresql   which databases (default: SQLite, plus PostgreSQL when reachable)
    --only a,b               only these scenarios (list_page, pull_sync, sync_feed, coverage, export_geojson,
                             sync_ingest, post_load, post_inprocess, point_assignment, photo_pipeline, startup,
                             storage)
    --profile a,b            also profile these scenarios with pyinstrument (prints where the time goes)
    --runs N                 timed runs per scenario (default 5, at least 5 for a recorded table)
    --sizes 1m               only some of the scale's data sets (100k,1m, 5k,20k or 1m,10m)

The province scale runs storage, list_page, coverage and province (the list's first page for a province, a
county, a worker and an expert account; coverage by township, by county and by hexagon for the two bureaus; the
rows of the visit, change log and rollup tables).

PostgreSQL: the server of DATABASE_URL when it is a postgres:// URL, else BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres). The bench creates its own databases there (nongji_bench_<scale>, and
nongji_bench_province_<scale> for the province's) and never writes to the named one. SQLite files and results go to
.bench/ (BENCH_DIR).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.province import COUNTIES
from bench.report import render, scale_label
from bench.scenarios import INFORMATIONAL, ONCE, PER_DATABASE, PER_SCALE, PROVINCE, SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"small": (5_000, 20_000), "full": (100_000, 1_000_000), "province": (1_000_000, 10_000_000)}
PROVINCE_DEFAULT = ("storage", "list_page", "coverage", *PROVINCE)
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"


def postgres_server() -> tuple[str | None, str]:
    """(server URL without a database name, why not) for the PostgreSQL pass."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG)
    try:
        import psycopg

        base = url.rsplit("/", 1)[0]
        with psycopg.connect(base + "/postgres", connect_timeout=3):
            pass
    except Exception as exc:  # any failure means "not reachable", and the output says why
        return None, f"PostgreSQL not reachable at {url} ({type(exc).__name__}): skipped"
    return base, ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=SCALES, default=os.environ.get("BENCH_SCALE") or "full")
    parser.add_argument("--db", default="")
    parser.add_argument("--only", default="")
    parser.add_argument("--profile", default="")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--sizes", default="", help="only these data sets of the scale, e.g. 1m")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    bench_dir = Path(os.environ.get("BENCH_DIR", ROOT / ".bench")).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    # The quick check leaves out the two informational rows (no target; a worker's start alone takes ~20 s) unless
    # asked for by name with --only.
    only = [s for s in args.only.split(",") if s] or [
        s
        for s in SCENARIOS
        if (args.scale != "small" or s not in INFORMATIONAL)
        and (s in PROVINCE_DEFAULT if args.scale == "province" else s not in PROVINCE)
    ]
    unknown = set(only) - set(SCENARIOS)
    profile = [p for p in args.profile.split(",") if p]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if profile:
        try:
            import pyinstrument  # noqa: F401
        except ImportError:
            print("--profile needs pyinstrument: pip install -r requirements-dev.txt")
            return 2
    if args.runs < 5:
        print(f"note: {args.runs} runs; the issue asks for at least 5 in a recorded table")

    missing = []
    if not shutil.which("wrk"):
        missing.append("wrk not found (Debian: apt-get install wrk); the load scenario uses the Python generator")
    databases = [d for d in args.db.split(",") if d] or ["sqlite", "postgresql"]
    if args.scale == "province":
        if databases != ["postgresql"] and args.db:
            parser.error("the province scale runs on PostgreSQL only (SQLite stays at BENCH_SCALE=full)")
        databases = ["postgresql"]
    pg_base = None
    if "postgresql" in databases:
        pg_base, why = postgres_server()
        if pg_base is None:
            missing.append(why)
            databases.remove("postgresql")

    small_scale, large_scale = SCALES[args.scale]
    results: list[dict] = []
    failures = []
    for d_index, db in enumerate(databases):
        for scale in (small_scale, large_scale):
            if scale is None:
                continue
            if args.sizes and scale_label(scale).lower() not in args.sizes.lower().split(","):
                continue
            names = [n for n in only if n in PER_SCALE]
            if scale == large_scale:
                names += [n for n in only if n in PER_DATABASE]
                if d_index == 0:
                    names += [n for n in only if n in ONCE]
            if not names:
                continue
            label = scale_label(scale).lower()
            if args.scale == "province":  # its own databases, apart from BENCH_SCALE=full's 1M set
                label = f"province_{label}"
            if db == "sqlite":
                url = f"sqlite:///{bench_dir / f'sqlite-{label}.sqlite3'}"
            else:
                url = f"{pg_base}/nongji_bench_{label}"
            out = bench_dir / f"result-{db}-{label}.json"
            out.unlink(missing_ok=True)
            env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
            command = [sys.executable, "-m", "bench.runner", "--scale", str(scale), "--scenarios", ",".join(names)]
            command += ["--runs", str(args.runs), "--profile", ",".join(profile)]
            command += ["--meta", str(bench_dir / f"{db}-{label}.meta.json"), "--out", str(out)]
            if args.scale == "small":
                command.append("--small")
            if args.scale == "province":
                command += ["--counties", str(COUNTIES)]
            code = subprocess.run(command, env=env, cwd=ROOT).returncode
            if code or not out.exists():
                failures.append(f"{db} {label}: the bench process failed (exit {code}); see its output above")
                continue
            results.extend(json.loads(out.read_text()))

    table = render(results)
    elapsed = time.perf_counter() - started
    print()
    print(table)
    for line in missing + failures:
        print(f"note: {line}")
    print(f"\nBENCH_SCALE={args.scale}: {elapsed:.0f} s in total")
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
    record = {"scale": args.scale, "runs": args.runs, "elapsed_s": elapsed, "results": results, "notes": missing}
    (bench_dir / f"bench-{args.scale}-{stamp}.json").write_text(json.dumps(record, indent=1))
    (bench_dir / f"bench-{args.scale}-{stamp}.txt").write_text(table + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
