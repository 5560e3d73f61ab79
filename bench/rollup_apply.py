"""Benchmark: the rollup write of edits, deletes and reassignments (``rollup_apply``) on a bench data set.

    DATABASE_URL=sqlite:///$PWD/.bench/sqlite-100k.sqlite3 .venv/bin/python bench/rollup_apply.py [--visits 500]

Takes the rollup rows of N random live visits away and puts them back (two ``rollup_apply`` calls, what deleting
those visits and restoring them costs the rollup), inside a transaction that is rolled back, so the data set is
left as it was. The keys are spread over the whole table, the worst case for a write that must find its rows.
Prints the median and range over ``--runs`` runs, after one warm-up, each with other visits. Build the data sets
first (``make bench``, or ``python -m bench --scale full --sizes 100k --only storage``).
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from agri.models import Visit, VisitRollup  # noqa: E402
from agri.services.rollups import rollup_apply, rollup_deltas  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ids = list(Visit.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True))
    if len(ids) < args.visits * (args.runs + 1):
        sys.exit(f"{len(ids)} live visits: too few for {args.runs + 1} runs of {args.visits}")
    random.Random(20261127).shuffle(ids)
    rows = VisitRollup.objects.count()
    times = []
    for run in range(args.runs + 1):
        visits = Visit.objects.filter(pk__in=ids[run * args.visits : (run + 1) * args.visits])
        taken, back = rollup_deltas(visits, -1), rollup_deltas(visits)
        with transaction.atomic():
            start = time.perf_counter()
            rollup_apply(taken)
            rollup_apply(back)
            elapsed = (time.perf_counter() - start) * 1000
            transaction.set_rollback(True)
        if VisitRollup.objects.count() != rows:
            sys.exit("the rollup changed: the rollback failed")
        if run:  # the first run warms the caches
            times.append(elapsed)
    print(
        f"rollup_apply, {args.visits} visits out and back in, {len(ids):,} live visits, {rows:,} rollup rows: "
        f"median {statistics.median(times):.1f} ms, {min(times):.1f}-{max(times):.1f} ms over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
