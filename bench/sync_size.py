"""Benchmark: a first full sync of ``demo-worker`` on the Yunyang demo, as a phone makes it.

    .venv/bin/python bench/sync_size.py [--page-size 500] [--database sqlite:///path]

Seeds the demo into a fresh SQLite database (or uses the one named, which must hold it), logs in as
``demo-worker`` and follows ``GET /api/v1/sync/`` to its end, without and with ``Accept-Encoding: gzip``; then
the same records through the per-resource pulls (households, farmers, visits with ``?updated_since=``). Prints
requests, bytes on the wire and the time, and checks that both ways hold the same households, farmers and visits.
"""

import argparse
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def follow(client, url: str, params: dict, headers: dict) -> tuple[list[dict], int, int, float]:
    """(results, requests, wire bytes, seconds) of a chain of pages."""
    import json

    results, requests, wire = [], 0, 0
    started = time.perf_counter()
    response = client.get(url, params, headers=headers)
    while True:
        requests += 1
        assert response.status_code == 200, response.content[:300]
        raw = response.content
        wire += len(raw)
        if response.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        results += body["results"]
        if not body.get("next"):
            return results, requests, wire, time.perf_counter() - started
        response = client.get(body["next"], headers=headers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    from bench.demo_client import demo_client  # once ROOT is on the path

    client, auth = demo_client(args.database, "demo-worker", "nongji-sync-")
    size = {"page_size": args.page_size}
    rows = []
    sync = None
    for label, extra in (("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})):
        results, requests, wire, seconds = follow(client, "/api/v1/sync/", size, {**auth, **extra})
        sync = results
        rows.append((f"/sync/ ({label})", len(results), requests, wire, seconds))
    per_resource = {}
    epoch = {"updated_since": "1970-01-01T00:00:00Z", "page_size": 1000}
    for label, extra in (("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})):
        total = [0, 0, 0.0, 0]
        for kind, path in (("household", "model-households"), ("farmer", "farmers"), ("visit", "visits")):
            results, requests, wire, seconds = follow(client, f"/api/v1/{path}/", epoch, {**auth, **extra})
            per_resource[kind] = {r["id"] for r in results if not r["deleted"]}
            total = [total[0] + requests, total[1] + wire, total[2] + seconds, total[3] + len(results)]
        rows.append((f"per-resource pulls ({label})", total[3], total[0], total[1], total[2]))
    for kind, ids in per_resource.items():
        synced = {item["id"] for item in sync if item["type"] == kind}
        assert synced == ids, f"{kind}: /sync/ and the per-resource pull differ"
    counts = {}
    for item in sync:
        counts[item["type"]] = counts.get(item["type"], 0) + 1
    print(f"first sync of demo-worker, page_size={args.page_size}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    print(f"{'chain':34} {'items':>7} {'requests':>9} {'bytes':>11} {'seconds':>8}")
    for label, items, requests, wire, seconds in rows:
        print(f"{label:34} {items:7,} {requests:9,} {wire:11,} {seconds:8.2f}")
    print("same households, farmers and visits through /sync/ and the per-resource pulls: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
