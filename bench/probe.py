"""GeoJSON export runs in a process of their own (forked by the export scenario, or ``python -m bench.probe export
RUNS`` with ``BENCH_TOKEN`` set), each followed by its limit.

Prints one JSON line: per run, the export's time, the peak RSS growth while it ran (Linux ``VmHWM``, reset through
``/proc/self/clear_refs`` just before each run; ``ru_maxrss`` where that is not possible, which can only
overstate the growth), and the time of the limit, the same rows as ``.values()`` rendered by orjson.
"""

import gc
import json
import os
import resource
import sys
import time

FEATURE = b'"type":"Feature"'


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def peak_mb() -> float:
    kb = _status_kb("VmHWM")
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def export_once(client, query: str = "") -> tuple[int, int]:
    """Stream ``/api/v1/visits.geojson`` to nowhere; returns (bytes, features)."""
    response = client.get("/api/v1/visits.geojson" + query)
    if response.status_code != 200:
        raise RuntimeError(f"export: HTTP {response.status_code}")
    size = features = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        features += chunk.count(FEATURE)
    response.close()
    return size, features


def limit_once(user) -> int:
    import orjson

    from agri.api.visit_serializers import VISIT_VALUES
    from agri.models import Visit

    size = 0
    for row in Visit.objects.visible_to(user).alive().values(*VISIT_VALUES).iterator(chunk_size=2000):
        size += len(orjson.dumps(row))
    return size


def measure(token: str, runs: int) -> dict:
    """``runs`` exports, each followed by its limit, in this (fresh or freshly forked) process."""
    from django.test import Client

    from agri.models import User

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    user = User.objects.get(username="demo-admin")
    export_once(client, "?date_from=2025-06-01&date_to=2025-06-02")  # code paths, connection, token
    result = {"export_s": [], "limit_s": [], "rss_growth_mb": [], "peak_exact": True}
    for _run in range(runs):
        gc.collect()
        before = rss_mb()
        result["peak_exact"] &= reset_peak()
        start = time.perf_counter()
        size, features = export_once(client)
        export_s = time.perf_counter() - start
        growth = peak_mb() - before
        start = time.perf_counter()
        limit_once(user)
        limit_s = time.perf_counter() - start
        result["export_s"].append(export_s)
        result["limit_s"].append(limit_s)
        result["rss_growth_mb"].append(round(growth, 1))
    result.update(bytes=size, features=features, rss_before_mb=round(before, 1))
    return result


def main(argv: list[str]) -> int:
    if argv[:1] != ["export"]:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    print(json.dumps(measure(os.environ["BENCH_TOKEN"], int(argv[1]) if len(argv) > 1 else 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
