"""Benchmark: the GIS exports of the demo's visits, and the indicators workbook, as ``demo-admin`` gets them.

    .venv/bin/python bench/export_times.py [--repeat 3] [--database sqlite:///path]

Seeds the demo into a fresh SQLite database (or uses the one named, which must hold it), logs in as ``demo-admin``
and downloads ``/api/v1/exports/visits/`` in each format, and ``/api/v1/indicators/?format=xlsx``, ``--repeat``
times each, reading the whole body. Prints the median time and the size of each (the figures in docs/api.md).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    from bench.demo_client import demo_client  # once ROOT is on the path

    client, auth = demo_client(args.database, "demo-admin", "nongji-exports-")
    from agri.models import Visit

    print(f"{Visit.objects.count():,} visits; median of {args.repeat}")
    print(f"{'download':28} {'seconds':>8} {'MB':>6}")
    downloads = [
        (f"visits {fmt}", "/api/v1/exports/visits/", {"format": fmt}) for fmt in ("geojson", "gpkg", "shp", "kml")
    ]
    downloads.append(("indicators xlsx", "/api/v1/indicators/", {"format": "xlsx"}))
    for label, url, params in downloads:
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(url, params, headers=auth)
            assert response.status_code == 200, response.content[:300]
            body = b"".join(response.streaming_content) if response.streaming else response.content
            times.append(time.perf_counter() - started)
        print(f"{label:28} {statistics.median(times):8.2f} {len(body) / 1e6:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
