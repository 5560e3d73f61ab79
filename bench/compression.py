"""Benchmark: a pull page of 1,000 visits, raw and compressed (gzip, Brotli, zstd), and what compressing it costs.

    DATABASE_URL=sqlite:///$PWD/.bench/demo.sqlite3 .venv/bin/python bench/compression.py [--runs 20]

Needs a database with the demo (``manage.py migrate && manage.py seed_demo``: a year of visits). Logs in as
``demo-admin``, takes the first page of a pull (``?updated_since=1970-01-01T00:00:00Z&page_size=1000``) through
the whole middleware stack, once without ``Accept-Encoding`` and once per coding, checks that each decompresses
to the raw bytes with the same ETag, then times the compression of that page alone (the levels the middleware
uses, and the slowest levels for comparison) and prints bytes, ratio and the median time per page: the CPU time
of this process (``time.process_time``, which other processes on a shared machine cannot inflate) and the wall clock.
"""

import argparse
import gzip
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

import brotli  # noqa: E402
import zstandard  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from agri import middleware  # noqa: E402

PULL = {"updated_since": "1970-01-01T00:00:00Z", "page_size": 1000}
DECODE = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompress(data),
}
# (label, function): the middleware's own levels, then the slowest ones, to show what they would add.
VARIANTS = [
    (f"gzip -{middleware.GZIP_LEVEL} (used)", lambda data: middleware._compress("gzip", data)),
    ("gzip -9", lambda data: gzip.compress(data, compresslevel=9, mtime=0)),
    (f"br q{middleware.BROTLI_QUALITY} (used)", lambda data: middleware._compress("br", data)),
    ("br q11", lambda data: brotli.compress(data, quality=11)),
    (f"zstd -{middleware.ZSTD_LEVEL} (used)", lambda data: middleware._compress("zstd", data)),
    ("zstd -19", lambda data: zstandard.ZstdCompressor(level=19).compress(data)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--username", default="demo-admin")
    args = parser.parse_args()
    client = Client()
    login = client.post(
        "/api/v1/auth/login/",
        {"username": args.username, "password": settings.DEMO_PASSWORD, "device": "bench"},
        content_type="application/json",
    )
    if login.status_code != 200:
        sys.exit(f"login as {args.username} failed ({login.status_code}): seed the demo first")
    auth = {"HTTP_AUTHORIZATION": f"Token {login.json()['token']}"}
    raw = client.get("/api/v1/visits/", PULL, **auth)
    visits = len(raw.json()["results"])
    if visits < 1000:
        sys.exit(f"the page has {visits} visits: the database needs at least 1,000")
    print(f"pull page of {visits:,} visits: {len(raw.content):,} bytes raw")
    for coding, decode in DECODE.items():
        response = client.get("/api/v1/visits/", PULL, HTTP_ACCEPT_ENCODING=coding, **auth)
        assert response["Content-Encoding"] == coding and response["ETag"] == raw["ETag"]
        assert decode(response.content) == raw.content
        print(f"  through the middleware, {coding:4}: {len(response.content):7,} bytes, same ETag, decodes to the raw")
    for accept in ("", "gzip"):
        cpu = []
        for _ in range(6):
            start_cpu = time.process_time()
            client.get("/api/v1/visits/", PULL, HTTP_ACCEPT_ENCODING=accept, **auth)
            cpu.append((time.process_time() - start_cpu) * 1000)
        print(f"  the whole request, Accept-Encoding {accept or '(none)':6}: CPU {statistics.median(cpu[1:]):6.1f} ms")
    print(f"compressing that page alone, median of {args.runs} runs (CPU time of this process, and wall clock):")
    for label, compress in VARIANTS:
        cpu, wall = [], []
        for _ in range(args.runs + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            out = compress(raw.content)
            cpu.append((time.process_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
        cpu, wall = cpu[1:], wall[1:]  # the first run warms up
        print(
            f"  {label:18} {len(out):8,} bytes  {len(raw.content) / len(out):5.1f}x  "
            f"CPU {statistics.median(cpu):7.2f} ms  wall {statistics.median(wall):7.2f} ms"
        )


if __name__ == "__main__":
    main()
