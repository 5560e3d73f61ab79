"""The scenarios of issue 6. Each one measures the real path and, in the same process and run, its physical limit.

Every scenario runs once untimed (warm caches, the point-assignment index, the database's page cache), then
``runs`` times, measured path and limit interleaved so that noise on the machine hits both alike. A scenario
returns :class:`Result` rows; targets are judged in :mod:`bench.report`.
"""

import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import orjson
from django.db import connection, transaction
from django.test import Client
from django.urls import Resolver404, resolve

from bench import data

ROOT = Path(__file__).resolve().parent.parent
BULK_MARKER = "00000000-0000-4000-8000-00000000b0b0"  # ingest_id of the limit's bulk_create copies


@dataclass
class Result:
    scenario: str
    db: str
    scale: int
    unit: str  # "ms", "s", "visits/s", "req/s", "MB"
    values: list[float]
    limit: list[float] | None = None
    limit_label: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Context:
    db: str  # "sqlite" or "postgresql"
    scale: int
    runs: int
    small: bool
    tokens: dict  # role -> raw token
    users: dict  # role -> User
    profile: set = field(default_factory=set)

    def client(self, role: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Token {self.tokens[role]}")


def timed(fn: Callable) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def maybe_profile(ctx: Context, name: str, fn: Callable) -> None:
    """With ``--profile NAME``: one more run of the measured path under pyinstrument, printed as a call tree."""
    if name not in ctx.profile:
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    fn()
    profiler.stop()
    print(f"\n===== profile: {name} ({ctx.db}, {ctx.scale:,} visits) =====", file=sys.stderr)
    print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)


def _ok(response, status=200):
    if response.status_code != status:
        body = getattr(response, "content", b"")[:500]
        raise RuntimeError(f"{response.request['PATH_INFO']}: HTTP {response.status_code} {body!r}")
    return response


# ---------------------------------------------------------------- list page


def list_page(ctx: Context) -> list[Result]:
    from agri.api.visit_serializers import VISIT_VALUES
    from agri.models import Visit

    client = ctx.client("admin")
    admin = ctx.users["admin"]

    def measured():
        return len(_ok(client.get("/api/v1/visits/?page_size=100")).content)

    def limit():
        list(Visit.objects.visible_to(admin).alive().values(*VISIT_VALUES)[:100])

    measured(), limit()
    values, limits = [], []
    for _ in range(ctx.runs):
        values.append(timed(measured) * 1000)
        limits.append(timed(limit) * 1000)
    maybe_profile(ctx, "list_page", measured)
    return [Result("list_page", ctx.db, ctx.scale, "ms", values, limits, ".values() of the same 100 rows")]


# ---------------------------------------------------------------- pull sync


PULL_SINCE = "2000-01-01T00:00:00Z"


def _pull_result(
    ctx: Context, name: str, measured: Callable[[], tuple[int, float]], want: int, note: str
) -> list[Result]:
    """Visits per second that the server's pull delivers (``measured`` returns how many came and the seconds the
    bench, as the client, spent decoding the pages, which are not the server's), against ``.values()`` over the
    same rows."""
    from agri.api.visit_serializers import VISIT_VALUES
    from agri.models import Visit

    admin = ctx.users["admin"]

    def limit() -> int:
        rows = Visit.objects.visible_to(admin).order_by("updated_at", "id").values(*VISIT_VALUES)[:want]
        return sum(1 for _row in rows.iterator(chunk_size=1000))

    got, _decoding = measured()  # a warm-up of the code path, and the check that the pull gives what it should
    if got < want or limit() != want:
        raise RuntimeError(f"{name}: {got} visits pulled, {want} expected")
    values, limits, cpu, with_client = [], [], [], []
    for _ in range(ctx.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        _got, decoding = measured()
        wall, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        values.append(want / (wall - decoding))
        with_client.append(want / wall)
        cpu.append(want / (cpu_seconds - decoding))
        limits.append(want / timed(limit))
    maybe_profile(ctx, name, measured)
    # The process's CPU time, which other work on a shared machine inflates far less than the wall clock: on SQLite
    # the whole server side of the pull (the database runs in this process), on PostgreSQL all but the server's.
    note += (
        f"; {statistics.median(cpu):,.0f} visits per CPU-second of this process; {statistics.median(with_client):,.0f}"
        " visits/s with the client's decoding of the pages counted too"
    )
    return [Result(name, ctx.db, ctx.scale, "visits/s", values, limits, ".values() over the same rows", note=note)]


def _decoded(response, spent: list[float]) -> dict:
    """The JSON of a page, adding the seconds the decoding took to ``spent`` (the client's work, not the server's)."""
    started = time.perf_counter()
    page = orjson.loads(_ok(response).content)
    spent[0] += time.perf_counter() - started
    return page


def pull_sync(ctx: Context) -> list[Result]:
    from agri.models import Visit

    client = ctx.client("admin")
    want = min(5_000 if ctx.small else 100_000, Visit.objects.count())

    def measured() -> tuple[int, float]:
        url = f"/api/v1/visits/?updated_since={PULL_SINCE}&page_size=1000"
        pulled, spent = 0, [0.0]
        while url and pulled < want:
            page = _decoded(client.get(url), spent)
            pulled += len(page["results"])
            url = page["next"]
        return pulled, spent[0]

    return _pull_result(ctx, "pull_sync", measured, want, f"{want:,} visits in cursor pages of 1,000")


def sync_feed(ctx: Context) -> list[Result]:
    """The token protocol's pull: ``GET /sync/`` pages of 1,000 read from the change log, from a horizon just
    before the first visit's change, until ``want`` visits (records and tombstones) have come."""
    from django.db import connection

    from agri.models import Change, ChangeKind, Visit
    from agri.selectors.sync import epoch, scope_of, token_encode

    client = ctx.client("admin")
    admin = ctx.users["admin"]
    want = min(5_000 if ctx.small else 100_000, Visit.objects.count())
    visits = Change.objects.filter(kind=ChangeKind.VISIT)
    if connection.vendor == "postgresql":
        horizon = [visits.order_by("txid").values_list("txid", flat=True).first()]
    else:
        horizon = [visits.order_by("seq").values_list("seq", flat=True).first() - 1]
    state = {"u": admin.pk, "e": epoch(), "p": "log", "h": horizon, "t": int(time.time()), "c": 0, "n": None}
    token = token_encode({**state, "k": None, "i": None, "s": scope_of(admin)})

    def measured() -> tuple[int, float]:
        response = client.get("/api/v1/sync/", {"sync_token": token, "page_size": 1000})
        pulled, spent = 0, [0.0]
        while True:
            page = _decoded(response, spent)
            pulled += sum(1 for item in page["results"] if item["type"] == "visit")
            if pulled >= want or not page["next"]:
                return pulled, spent[0]
            response = client.get(page["next"])

    note = f"{want:,} visits from the change log in pages of 1,000 (GET /sync/ with a token)"
    return _pull_result(ctx, "sync_feed", measured, want, note)


# ---------------------------------------------------------------- coverage


COVERAGE_ENDPOINTS = {
    "coverage_township": (
        "/api/v1/coverage/divisions/",
        f"?level=township&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31",
        "township_code",
    ),
    # A city or province bureau compares its counties.
    "coverage_county": (
        "/api/v1/coverage/divisions/",
        f"?level=county&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31",
        "substr(scope_code, 1, 6)",
    ),
    "coverage_village": (
        "/api/v1/coverage/divisions/",
        f"?level=village&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31",
        "division_id",
    ),
    # The web map's request: the same, classed for the map (geo.classes, Fisher-Jenks over the villages).
    "coverage_village_classed": (
        "/api/v1/coverage/divisions/",
        f"?level=village&scheme=fisher_jenks&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31",
        "division_id",
    ),
    "coverage_hexagons": (
        "/api/v1/coverage/hexagons/",
        f"?resolution=7&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31",
        "h3_r7",
    ),
    # The dashboard's trend: twelve months from the rollup, against a GROUP BY day of the visits.
    "indicators_monthly": ("/api/v1/indicators/monthly/", f"?year={data.COVERAGE_YEAR}", "visit_date"),
}


def endpoint_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def coverage(ctx: Context) -> list[Result]:
    from agri.models import Visit

    client = ctx.client("admin")
    table = connection.ops.quote_name(Visit._meta.db_table)
    first, last = date(data.COVERAGE_YEAR, 1, 1), date(data.COVERAGE_YEAR, 12, 31)
    out = []
    for name, (path, query, column) in COVERAGE_ENDPOINTS.items():
        if not endpoint_exists(path):
            out.append(Result(name, ctx.db, ctx.scale, "ms", [], note=f"not available yet: {path} is not routed"))
            continue
        sql = (
            f"SELECT {column}, COUNT(*) FROM {table} WHERE deleted_at IS NULL AND visit_date >= %s "
            f"AND visit_date <= %s GROUP BY {column}"
        )

        def measured(url=path + query):
            return len(_ok(client.get(url)).content)

        def limit(sql=sql):
            with connection.cursor() as cursor:
                cursor.execute(sql, [first, last])
                cursor.fetchall()

        measured(), limit()
        values, limits = [], []
        for _ in range(ctx.runs):
            values.append(timed(measured) * 1000)
            limits.append(timed(limit) * 1000)
        maybe_profile(ctx, name, measured)
        out.append(
            Result(name, ctx.db, ctx.scale, "ms", values, limits, f"raw SQL GROUP BY {column}", note=path + query)
        )
    out += rollup_rows(ctx)
    return out


def rollup_rows(ctx: Context) -> list[Result]:
    """Rows in the rollup tables (one count each): the daily rollup, and the monthly tables together."""
    try:
        from agri.models import VisitRollup
        from agri.services.rollups import rollup_table_sizes
    except ImportError:
        return []
    sizes = rollup_table_sizes()
    daily = sizes.pop(VisitRollup._meta.db_table)
    note = ", ".join(f"{table} {rows:,}" for table, rows in sizes.items())
    return [
        Result("rollup_rows_daily", ctx.db, ctx.scale, "rows", [daily], note=VisitRollup._meta.db_table),
        Result("rollup_rows_monthly", ctx.db, ctx.scale, "rows", [sum(sizes.values())], note=note),
    ]


# ---------------------------------------------------------------- GeoJSON export


def export_geojson(ctx: Context) -> list[Result]:
    """In a forked process, so that its peak RSS growth is the export's own and not this process's history.

    Forked rather than started, so it needs no second Django start-up; database connections are closed first so
    that parent and child never share one.
    """
    import multiprocessing

    from django.db import connections

    from bench.probe import measure

    connections.close_all()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        probe = pool.apply(measure, (ctx.tokens["admin"], ctx.runs))
    if "export_geojson" in ctx.profile:
        from bench.probe import export_once

        maybe_profile(ctx, "export_geojson", lambda: export_once(ctx.client("admin")))
    note = f"{probe['features']:,} features, {probe['bytes'] / 1e6:.0f} MB"
    rss_note = "peak RSS growth of the exporting process" + ("" if probe["peak_exact"] else " (ru_maxrss)")
    return [
        Result("export_geojson", ctx.db, ctx.scale, "s", probe["export_s"], probe["limit_s"], ".values()+orjson", note),
        Result("export_rss", ctx.db, ctx.scale, "MB", probe["rss_growth_mb"], note=rss_note),
    ]


# ---------------------------------------------------------------- batch sync ingest


def _payloads(ctx: Context, rng, n: int) -> list[dict]:
    from agri.models import ModelHousehold

    worker = ctx.users["sync"].extension_worker
    households = list(ModelHousehold.objects.filter(worker=worker).order_by("pk").values_list("pk", "lat", "lon"))
    return data.phone_visits(rng, [(str(pk), lat, lon) for pk, lat, lon in households], n)


def cleanup_api_visits() -> int:
    """Remove what write scenarios added (rows with an ingest id; generated rows have none) and their counts."""
    from agri.models import Visit

    added = Visit.objects.filter(ingest_id__isnull=False)
    if not added.exists():
        return 0
    with transaction.atomic():
        try:
            from agri.services.rollups import rollup_apply, rollup_deltas
        except ImportError:
            pass
        else:
            rollup_apply(rollup_deltas(added.exclude(ingest_id=BULK_MARKER), -1))
        n, _detail = added.delete()
    return n


def sync_ingest(ctx: Context) -> list[Result]:
    from agri.models import Visit

    client = ctx.client("sync")
    rng = np.random.default_rng(data.SEED + ctx.scale)
    per_run = 500 if ctx.small else 2000
    batches = [_payloads(ctx, rng, per_run) for _ in range(ctx.runs + 1)]

    def post(items):
        for start in range(0, len(items), 500):  # the API takes at most 500 visits per request
            body = orjson.dumps({"visits": items[start : start + 500]})
            results = orjson.loads(
                _ok(client.post("/api/v1/sync/visits/", body, content_type="application/json")).content
            )["results"]
            if any(r["status"] != "created" for r in results):
                raise RuntimeError(f"ingest: {[r for r in results if r['status'] != 'created'][:3]}")

    def bulk_copy(items) -> Callable:
        stored = list(Visit.objects.filter(pk__in=[i["id"] for i in items]))
        for obj, new_id in zip(stored, data.new_ids(rng, len(stored)), strict=True):
            obj.id, obj.ingest_id = new_id, BULK_MARKER
            obj._state.adding = True

        def limit():
            for start in range(0, len(stored), 500):
                with transaction.atomic():
                    Visit.objects.bulk_create(stored[start : start + 500], batch_size=500)

        return limit

    values, limits = [], []
    for run, items in enumerate(batches):
        t = timed(lambda items=items: post(items))
        limit = bulk_copy(items)
        t_limit = timed(limit)
        if run:  # run 0 warms up
            values.append(len(items) / t)
            limits.append(len(items) / t_limit)
        cleanup_api_visits()
    if "sync_ingest" in ctx.profile:
        items = _payloads(ctx, rng, per_run)
        maybe_profile(ctx, "sync_ingest", lambda: post(items))
        cleanup_api_visits()
    return [
        Result(
            "sync_ingest",
            ctx.db,
            ctx.scale,
            "visits/s",
            values,
            limits,
            "bulk_create of the same rows",
            note=f"{per_run:,} visits per run, 500 per request (the API's maximum)",
        )
    ]


# ---------------------------------------------------------------- single POST under load


def post_load(ctx: Context) -> list[Result]:
    from bench import loadgen

    duration = 1.0 if ctx.small else 5.0
    report = loadgen.run_load(ctx, duration=duration, runs=ctx.runs)
    cleanup_api_visits()
    if "post_load" in ctx.profile:
        profile_single_posts(ctx)
    if report.get("missing"):
        return [Result("post_load", ctx.db, ctx.scale, "req/s", [], note=report["missing"])]
    note = f"{report['tool']}, {report['connections']} connections, {duration:g} s per run, gunicorn 2 sync workers"
    return [
        Result("post_load", ctx.db, ctx.scale, "req/s", report["api_rps"], report["bare_rps"], "bare 204 view", note),
        Result("post_p99", ctx.db, ctx.scale, "ms", report["api_p99"], report["bare_p99"], "bare 204 view p99"),
    ]


def profile_single_posts(ctx: Context) -> None:
    """The load scenario's request, in-process (pyinstrument cannot see into gunicorn's workers)."""
    from bench.loadgen import single_visit_bodies

    client = ctx.client("load")
    bodies = single_visit_bodies(ctx, 300)

    def posts():
        for body in bodies:
            _ok(client.post("/api/v1/visits/", body, content_type="application/json"), 201)

    maybe_profile(ctx, "post_load", posts)
    cleanup_api_visits()


def post_inprocess(ctx: Context) -> list[Result]:
    """The single visit POST in this process: CPU time per request, against the bare view's, and its queries.

    CPU time (``time.process_time``) of the Django side only, so the figure holds on a busy machine where the load
    scenario's wall-clock rates do not; on PostgreSQL the server's own time is not in it (it is on SQLite, which
    runs in this process). The note gives the statements one POST runs, transaction control included.
    """
    from django.test.utils import CaptureQueriesContext

    from bench.loadgen import single_visit_bodies

    client = ctx.client("load")
    n = 50 if ctx.small else 200
    bodies = single_visit_bodies(ctx, (ctx.runs + 1) * n + 1)
    _ok(client.post("/api/v1/visits/", bodies.pop(), content_type="application/json"), 201)
    with CaptureQueriesContext(connection) as queries:
        _ok(client.post("/api/v1/visits/", bodies.pop(), content_type="application/json"), 201)
    statements = len(queries)  # now: the next request clears the connection's query log

    def measured(batch):
        start = time.process_time()
        for body in batch:
            _ok(client.post("/api/v1/visits/", body, content_type="application/json"), 201)
        return (time.process_time() - start) * 1000 / len(batch)

    def limit(batch):
        start = time.process_time()
        for body in batch:
            _ok(client.post("/bench/bare/", body, content_type="application/json"), 204)
        return (time.process_time() - start) * 1000 / len(batch)

    values, limits = [], []
    for run in range(ctx.runs + 1):  # run 0 warms up
        batch = bodies[run * n : (run + 1) * n]
        value, bare = measured(batch), limit(batch)
        if run:
            values.append(value)
            limits.append(bare)
    cleanup_api_visits()
    note = f"{n} POSTs per run; {statements} SQL statements per POST, transaction control included"
    return [Result("post_inprocess", ctx.db, ctx.scale, "ms", values, limits, "bare 204 view, CPU ms", note=note)]


def startup(ctx: Context) -> list[Result]:
    """A worker's start: a fresh Python process that sets Django up and imports the URLconf, against one that only
    sets Django up. Wall time per process; CPU time (user + sys) in the note."""
    import resource
    import subprocess

    setup = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'bench.settings'; django.setup()"
    commands = {"urls": setup + "; import bench.urls", "setup": setup}

    def run(code: str) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime

    run(commands["urls"])  # warm: the files in the page cache, the .pyc written
    walls: dict = {name: [] for name in commands}
    cpus: dict = {name: [] for name in commands}
    for _ in range(ctx.runs):
        for name, code in commands.items():
            wall, cpu = run(code)
            walls[name].append(wall)
            cpus[name].append(cpu)
    cpu_median = {name: sorted(v)[len(v) // 2] for name, v in cpus.items()}
    note = f"CPU {cpu_median['urls']:.2f} s against {cpu_median['setup']:.2f} s for django.setup() alone"
    return [Result("startup", "-", 0, "s", walls["urls"], walls["setup"], "django.setup() alone", note=note)]


# ---------------------------------------------------------------- point assignment


def point_assignment(ctx: Context) -> list[Result]:
    import geopandas as gpd

    from agri.models import Visit
    from geo.assign import DivisionIndex

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT lon, lat FROM {connection.ops.quote_name(Visit._meta.db_table)}")
        points = np.array(cursor.fetchall(), dtype=float)
    lon, lat = points[:, 0].copy(), points[:, 1].copy()
    index = DivisionIndex.build()
    polygons = gpd.GeoDataFrame({"code": index.codes}, geometry=list(index.geometries), crs=4326)

    def measured():
        index.assign(lon, lat)

    def limit():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
        gpd.sjoin(pts, polygons, how="inner", predicate="intersects")

    measured(), limit()
    values, limits = [], []
    for _ in range(ctx.runs):
        gc.collect()
        values.append(timed(measured))
        gc.collect()
        limits.append(timed(limit))
    maybe_profile(ctx, "point_assignment", measured)
    return [
        Result(
            "point_assignment",
            "-",
            lon.size,
            "s",
            values,
            limits,
            "one geopandas sjoin",
            note=f"{lon.size:,} points into {len(index)} villages",
        )
    ]


# ---------------------------------------------------------------- photo pipeline


def photo_pipeline(ctx: Context) -> list[Result]:
    """``bench/photo_pipeline.py`` (the photo issue's) gives the file and both steps; timed here like the rest."""
    if not (ROOT / "bench" / "photo_pipeline.py").exists():
        return [Result("photo_pipeline", "-", 1, "ms", [], note="not available yet (no bench/photo_pipeline.py)")]
    from bench import photo_pipeline as photos

    data_ = photos.twelve_megapixel_jpeg()
    photos.pipeline(data_), photos.full_decode(data_)
    values, limits, cpu, cpu_limit = [], [], [], []
    for _ in range(ctx.runs):
        for step, wall, cpu_times in ((photos.full_decode, limits, cpu_limit), (photos.pipeline, values, cpu)):
            c0, w0 = time.process_time(), time.perf_counter()
            step(data_)
            cpu_times.append(time.process_time() - c0)
            wall.append((time.perf_counter() - w0) * 1000)
    cpu_ratio = sorted(cpu)[len(cpu) // 2] / sorted(cpu_limit)[len(cpu_limit) // 2]
    maybe_profile(ctx, "photo_pipeline", lambda: photos.pipeline(data_))
    note = f"12 MP JPEG, {len(data_) / 1e6:.1f} MB; CPU-time ratio {cpu_ratio:.2f}"
    return [Result("photo_pipeline", "-", 1, "ms", values, limits, "one full Pillow decode", note=note)]


def storage(ctx: Context) -> list[Result]:
    """Bytes per stored visit: the visit table with its indexes, and the rollup (for docs/scaling.md)."""
    from agri.models import Visit

    n = Visit.objects.count()
    tables = [Visit._meta.db_table, Visit.attendees.through._meta.db_table, "agri_visitevent", "agri_visitrollup"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
                [tables],
            )
            size = int(cursor.fetchone()[0])
        else:
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            size = pages * cursor.fetchone()[0]  # the whole file: visits are nearly all of it
    return [Result("storage", ctx.db, ctx.scale, "B", [size / n], note=f"{size / 1e6:,.0f} MB for {n:,} visits")]


# ---------------------------------------------------------------- province


PROVINCE_COUNTY = "509901"  # a synthetic county of the province data set (bench.province)
PROVINCE_READS = {
    "coverage_township": "/api/v1/coverage/divisions/?level=township",
    "coverage_county": "/api/v1/coverage/divisions/?level=county",
    "coverage_hexagons": "/api/v1/coverage/hexagons/?resolution=7",
}


def _province_clients(ctx: Context) -> dict:
    """Clients for a province bureau (``50``), a county bureau (a synthetic county), the worker with the most
    households (whose visits the copies multiply by the number of counties) and the expert with the most workers
    (who sees their visits and the expert's own)."""
    from datetime import timedelta

    from django.db.models import Count

    from agri.models import DeviceToken, Expert, Role, User

    county, _created = User.objects.get_or_create(
        username=f"bench-county-{PROVINCE_COUNTY}",
        defaults={"role": Role.BUREAU_VIEWER, "jurisdiction": PROVINCE_COUNTY},
    )
    expert = Expert.objects.annotate(n=Count("workers")).order_by("-n", "pk").select_related("user").first()
    users = {
        "province": User.objects.get(username="demo-province"),
        "county": county,
        "worker": ctx.users["sync"],
        "expert": expert.user,
    }
    clients = {}
    for who, user in users.items():
        _token, raw = DeviceToken.objects.create(user=user, expiry=timedelta(days=1), device="bench")
        clients[who] = (user, Client(HTTP_AUTHORIZATION=f"Token {raw}"))
    return clients


def province(ctx: Context) -> list[Result]:
    """The reads that must not grow with a province's visits: the list's first page for a province account, a
    county account, a worker and an expert, and coverage by township, by county and by hexagon for the two bureaus.
    Also the table sizes (rows) the figures go with: the visits, the change log and each rollup table."""
    from agri.api.visit_serializers import VISIT_VALUES
    from agri.models import Change, Visit
    from agri.services.rollups import rollup_table_sizes

    out = []
    clients = _province_clients(ctx)
    for who, (user, client) in clients.items():

        def measured(client=client):
            body = orjson.loads(_ok(client.get("/api/v1/visits/?page_size=100")).content)
            return body["count"], len(body["results"])

        def limit(user=user):
            list(Visit.objects.visible_to(user).alive().values(*VISIT_VALUES)[:100])

        count, listed = measured()
        limit()
        values, limits = [], []
        for _ in range(ctx.runs):
            values.append(timed(measured) * 1000)
            limits.append(timed(limit) * 1000)
        visible = Visit.objects.visible_to(user).alive()
        full_count = timed(visible.count) * 1000
        note = (
            f"{who} ({user.jurisdiction or 'everywhere'}): {listed} rows, count {count}; "
            f"a full COUNT(*) of its {visible.count():,} visits takes {full_count:,.0f} ms"
        )
        maybe_profile(ctx, f"list_{who}", measured)
        out.append(Result(f"list_{who}", ctx.db, ctx.scale, "ms", values, limits, ".values() of the 100 rows", note))
    year = f"&date_from={data.COVERAGE_YEAR}-01-01&date_to={data.COVERAGE_YEAR}-12-31"
    for who in ("province", "county"):
        user, client = clients[who]
        for name, path in PROVINCE_READS.items():

            def measured(url=path + year, client=client):
                return len(_ok(client.get(url)).content)

            body = _ok(client.get(path + year)).content
            features = len(orjson.loads(body)["features"])  # the answer's size: townships, counties or cells
            values = [timed(measured) * 1000 for _ in range(ctx.runs)]
            maybe_profile(ctx, f"{name}_{who}", measured)
            note = f"{who} ({user.jurisdiction}): {path}{year}, {len(body):,} bytes, {features:,} features"
            out.append(Result(f"{name}_{who}", ctx.db, ctx.scale, "ms", values, note=note))
    for name, model in (("rows_visits", Visit), ("rows_change_log", Change)):
        rows = model.objects.count()
        out.append(Result(name, ctx.db, ctx.scale, "rows", [rows], note=model._meta.db_table))
    for table, rows in rollup_table_sizes().items():
        out.append(Result(f"rows_{table.removeprefix('agri_')}", ctx.db, ctx.scale, "rows", [rows], note=table))
    return out


SCENARIOS = {
    "list_page": list_page,
    "pull_sync": pull_sync,
    "sync_feed": sync_feed,
    "coverage": coverage,
    "export_geojson": export_geojson,
    "sync_ingest": sync_ingest,
    "post_load": post_load,
    "post_inprocess": post_inprocess,
    "point_assignment": point_assignment,
    "startup": startup,
    "photo_pipeline": photo_pipeline,
    "storage": storage,
    "province": province,
}
PER_SCALE = ("storage", "list_page", "pull_sync", "sync_feed", "coverage", "export_geojson", "sync_ingest", "province")
# At the larger scale only: a single POST does not depend on the table's size.
PER_DATABASE = ("post_load", "post_inprocess")
ONCE = ("point_assignment", "photo_pipeline", "startup")  # no database involved
INFORMATIONAL = ("post_inprocess", "startup")  # rows with no target, for reading a profile against
# The province scale's own (python -m bench --scale province): its default, and not run at other scales by default.
PROVINCE = ("province",)
