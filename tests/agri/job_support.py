"""Running jobs in tests: the embedded engine's worker in this process, and real worker processes (the database
queue's ``db_worker``, RQ's ``rqworker`` on Redis) beside the test, sharing its database and job store."""

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
# Run in a worker process before it starts: with ``slow_step``, exports are written a row per chunk and every chunk
# takes SLOW_STEP_S more, so that a job of a few rows runs for seconds while the test polls it and starts others.
SLOW_STEP_S = 0.4
WORKER_CODE = """
import os, sys, time, django
django.setup()
if os.environ.get("SLOW_JOB_STEP"):
    from django.conf import settings
    from agri.services import jobs
    settings.EXPORT_CHUNK_ROWS = 1  # a chunk per row: one slow step each
    advance = jobs.JobProgress.advance
    def slow_advance(self, steps):
        time.sleep(float(os.environ["SLOW_JOB_STEP"]))
        advance(self, steps)
    jobs.JobProgress.advance = slow_advance
from django.core.management import call_command
call_command(*sys.argv[1:])
"""


def run_embedded_worker() -> None:
    """Run every queued task of the database queue in this process, then return: ``db_worker --batch``, except that
    it leaves the test's database connection open (the worker closes it between tasks, as after a request)."""
    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        call_command(
            "db_worker", batch=True, no_startup_delay=True, interval=0, queue_name=settings.JOB_QUEUE, verbosity=0
        )


def database_url() -> str:
    """The test database, for other processes."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A task worker in a process of its own: ``engine`` "database" (``db_worker``) or "rq" (``rqworker`` on
    ``RQ_URL``), for this test process's queue, with the test's database and job store."""

    def __init__(self, engine: str, job_root: Path, log: Path, *, slow_step: float | None = None):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backend.settings.test",
            "DATABASE_URL": database_url(),
            "JOB_ROOT": str(job_root),
            "JOB_QUEUE": settings.JOB_QUEUE,
            "TASK_BACKEND": engine,
            "RQ_URL": settings.RQ_QUEUES[settings.JOB_QUEUE]["URL"],
        }
        if slow_step:
            env["SLOW_JOB_STEP"] = str(slow_step)
        if engine == "rq":
            command = ["rqworker", "--job-class", "django_tasks_rq.Job", "--worker-class", "rq.SimpleWorker"]
            command += [settings.JOB_QUEUE]
        else:
            command = ["db_worker", "--queue-name", settings.JOB_QUEUE, "--interval", "0.1", "--no-startup-delay"]
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER_CODE, *command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(client, url: str, states=("done", "failed"), timeout: float = 60, log: Path | None = None) -> list[dict]:
    """Poll a job until it reaches one of ``states``; every answer seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.content
        seen.append(response.json())
        if seen[-1]["state"] in states:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {seen[-1]['state']} after {timeout} s: {log.read_text() if log else ''}")
        time.sleep(0.1)
