"""A GeoPackage export of every visit run as a job, end to end (issue 15): the bench's data set of ``--scale``
visits (``bench/data.py``, built once and reused like ``make bench``'s), a real gunicorn (2 sync workers) and one
task worker (``db_worker`` of the embedded engine, or ``rqworker`` on Redis with ``--engine rq``), both on this
machine. The client POSTs the export, polls the job every ``--poll`` seconds until it is done, and then reads its
file with a ``Range`` and whole. It reports the job's time, the rows per second, and every request's latency (the
POST, the polls, the first byte of the file): no request stays open while the export runs.

    .venv/bin/python -m bench.export_job --scale 1000000                   # SQLite, the embedded engine
    .venv/bin/python -m bench.export_job --scale 1000000 --engine rq       # RQ on redis://127.0.0.1:6379/6
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.export_job --scale 100000

Results are printed and saved in ``.bench/export-job-<db>-<scale>-<engine>-<time>.json``. Bounded: the job must
finish within ``--timeout`` seconds (default 3600), and every process started here is stopped at the end.
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"


def log(message: str) -> None:
    print(f"[export-job] {message}", file=sys.stderr, flush=True)


def request(port: int, method: str, path: str, token: str, headers=None, read=True):
    """One HTTP request on a fresh connection: (status, headers, body or None, seconds to the response's head,
    seconds to its end)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, headers={"Authorization": f"Token {token}", **(headers or {})})
    response = conn.getresponse()
    head = time.perf_counter() - t0
    body = None
    size = 0
    if read:
        body = b""
        while block := response.read(1 << 20):
            size += len(block)
            if size <= 1 << 20:
                body += block
    total = time.perf_counter() - t0
    conn.close()
    return response.status, dict(response.getheaders()), body, head, total, size


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1_000_000, help="visits in the data set (default 1,000,000)")
    parser.add_argument("--engine", choices=["database", "rq"], default="database")
    parser.add_argument("--format", default="gpkg", choices=["gpkg", "shp", "geojson", "kml"])
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between two polls of the job")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)

    from bench.report import scale_label

    label = scale_label(args.scale).lower()
    BENCH_DIR.mkdir(exist_ok=True)
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        db = "postgresql"
        url = f"{url.rsplit('/', 1)[0]}/nongji_bench_{label}"
    else:
        db = "sqlite"
        url = f"sqlite:///{BENCH_DIR / f'sqlite-{label}.sqlite3'}"
    job_root = BENCH_DIR / f"jobs-{os.getpid()}"
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "TASK_BACKEND": args.engine,
            "JOB_ROOT": str(job_root),
            "JOB_QUEUE": f"bench-{os.getpid()}",  # a queue of its own: no other process takes its job
            "RQ_URL": os.environ.get("RQ_URL", "redis://127.0.0.1:6379/6"),
        }
    )
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection

    from agri.models import DeviceToken, User
    from bench.loadgen import _free_port, start_server, stop_server
    from bench.runner import ensure_dataset

    ensure_dataset(args.scale, BENCH_DIR / f"{db}-{label}.meta.json")
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)  # a data set built before the jobs table
    admin = User.objects.get(username="demo-admin")
    DeviceToken.objects.filter(device="bench-export-job").delete()
    _token, token = DeviceToken.objects.create(user=admin, expiry=timedelta(days=1), device="bench-export-job")
    connection.close()

    port = _free_port()
    log(f"{db}, {args.scale:,} visits, engine {args.engine}: gunicorn on 127.0.0.1:{port} and one worker")
    server = start_server(port)
    if args.engine == "rq":
        worker_command = ["rqworker", "--job-class", "django_tasks_rq.Job", settings.JOB_QUEUE]
    else:
        worker_command = ["db_worker", "--queue-name", settings.JOB_QUEUE, "--no-startup-delay", "--no-reload"]
    worker_log = BENCH_DIR / f"export-job-worker-{os.getpid()}.log"
    with worker_log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", *worker_command], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        time.sleep(3)  # the worker's start-up (Django, the apps), not the job's time
        t0 = time.perf_counter()
        status, headers, body, post_s, _, _ = request(
            port, "POST", f"/api/v1/exports/visits/?format={args.format}", token
        )
        if status != 202:
            raise RuntimeError(f"POST answered {status}: {body[:500]!r}")
        job_path = "/" + headers["Location"].split("/", 3)[3]
        polls, progress = [], []
        while True:
            status, _headers, body, _head, poll_s, _ = request(port, "GET", job_path, token)
            job = json.loads(body)
            polls.append(poll_s)
            progress.append((round(time.perf_counter() - t0, 1), job["progress"]["done"], job["progress"]["total"]))
            if job["state"] in ("done", "failed"):
                break
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited: {worker_log.read_text()[-2000:]}")
            if time.perf_counter() - t0 > args.timeout:
                raise RuntimeError(f"the job did not finish in {args.timeout:.0f} s: {job}")
            time.sleep(args.poll)
        job_s = time.perf_counter() - t0
        if job["state"] != "done":
            raise RuntimeError(f"the job failed: {job['error']} (worker log: {worker_log})")
        file_path = "/" + job["file_url"].split("/", 3)[3]
        status, headers, first_bytes, range_s, _, _ = request(port, "GET", file_path, token, {"Range": "bytes=0-15"})
        assert status == 206 and first_bytes == b"SQLite format 3\x00" or args.format != "gpkg", (status, first_bytes)
        status, _headers, _body, first_byte_s, download_s, size = request(port, "GET", file_path, token)
        assert status == 200 and size == job["file_size"], (status, size, job["file_size"])
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        stop_server(server)
        shutil.rmtree(job_root, ignore_errors=True)

    rows = job["progress"]["total"]
    result = {
        "db": db,
        "scale": args.scale,
        "engine": args.engine,
        "format": args.format,
        "rows": rows,
        "job_s": round(job_s, 1),
        "rows_per_s": round(rows / job_s),
        "file_mb": round(job["file_size"] / 1e6, 1),
        "post_ms": round(post_s * 1000, 1),
        "polls": len(polls),
        "poll_ms_median": round(statistics.median(polls) * 1000, 1),
        "poll_ms_max": round(max(polls) * 1000, 1),
        "range_ms": round(range_s * 1000, 1),
        "download_first_byte_ms": round(first_byte_s * 1000, 1),
        "download_s": round(download_s, 2),
        "max_request_s": round(max([post_s, *polls, range_s, first_byte_s]), 3),
        "progress": progress[:: max(1, len(progress) // 20)] + progress[-1:],
        "load": [round(x, 1) for x in os.getloadavg()],
    }
    out = BENCH_DIR / f"export-job-{db}-{label}-{args.engine}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1))
    log(
        f"{rows:,} visits -> {result['file_mb']} MB {args.format} in {result['job_s']} s ({result['rows_per_s']:,} "
        f"rows/s); POST {result['post_ms']} ms; {len(polls)} polls, median {result['poll_ms_median']} ms, max "
        f"{result['poll_ms_max']} ms; Range 206 in {result['range_ms']} ms; whole file {result['download_s']} s; "
        f"longest request {result['max_request_s']} s (load {result['load']}); saved {out.name}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
