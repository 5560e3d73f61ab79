"""Benchmark: where the province data set's coverage reads spend their time (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<the province set> .venv/bin/python bench/coverage_breakdown.py \
        [--year 2025] [--runs 5] [--explain]

For the province account (``demo-province``) and the county account of the bench's ``province`` scenario
(``bench-county-509901``; run that scenario once first), the coverage by township, by county and the r7 hexagons
over one year: the selector called in this process (median of ``--runs`` after a warm-up), the server-side
execution time of each query it runs (``EXPLAIN ANALYZE``), the same request through the API (median, and the
size of the body), and the rendering of the body alone. ``--explain`` prints the plans of the people-active query.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from datetime import date, timedelta  # noqa: E402

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from agri.api.coverage_views import DivisionCoverageView, feature, feature_collection  # noqa: E402
from agri.models import DeviceToken, User  # noqa: E402
from agri.selectors.coverage import CoverageFilter, coverage_by_division, coverage_hexagons  # noqa: E402


def median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    only = CoverageFilter(date_from=date(args.year, 1, 1), date_to=date(args.year, 12, 31))
    period = f"&date_from={args.year}-01-01&date_to={args.year}-12-31"
    renderer = DivisionCoverageView.renderer_classes[0]()
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.runs}, ms")
    for username in ("demo-province", "bench-county-509901"):
        user = User.objects.get(username=username)
        _token, raw = DeviceToken.objects.create(user=user, expiry=timedelta(hours=1), device="bench")
        client = Client(HTTP_AUTHORIZATION=f"Token {raw}")
        reads = {
            "township": (
                lambda u=user: coverage_by_division(user=u, level="township", only=only),
                "divisions/?level=township",
            ),
            "county": (
                lambda u=user: coverage_by_division(user=u, level="county", only=only),
                "divisions/?level=county",
            ),
            "hexagons r7": (
                lambda u=user: coverage_hexagons(user=u, resolution=7, only=only),
                "hexagons/?resolution=7",
            ),
        }
        for name, (read, path) in reads.items():
            selector = median_ms(read, args.runs)
            with CaptureQueriesContext(connection) as captured:
                rows = read()
            executed = []
            for query in captured.captured_queries:
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                    plan = [line for (line,) in cursor.fetchall()]
                executed.append(float(plan[-1].split(":")[1].split()[0]))
                if args.explain and "presencemonth" in query["sql"]:
                    print("\n".join(plan))
            url = f"/api/v1/coverage/{path}{period}"
            size = len(client.get(url).content)
            http = median_ms(lambda url=url, client=client: client.get(url), args.runs)
            features = [dict(row) for row in rows]
            body = feature_collection(feature(r.get("code") or r["h3"], r.pop("geometry"), r) for r in features)
            render = median_ms(lambda body=body: renderer.render(body), args.runs)
            queries = " + ".join(f"{t:.1f}" for t in executed)
            print(
                f"{user.jurisdiction:>6} {name:12} selector {selector:6.1f}  queries {queries} = {sum(executed):.1f}  "
                f"rendering {render:5.1f}  HTTP {http:6.1f}  ({size:,} bytes)"
            )
        DeviceToken.objects.filter(pk=_token.pk).delete()
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
