"""Jobs: long work (a year's export, a rollup rebuild) run by a task worker instead of inside a request.

The engine is Django's task interface (``django_tasks``: the database queue by default, RQ on Redis in production;
``settings.TASKS``). A ``Job`` row is what the API shows: its state, its progress and its result file. The task
functions (``agri.tasks``, ``agri.api.jobs``) call :func:`job_run` with the work to do; the work reports progress
through the :class:`JobProgress` it is given and returns the file it made, which is kept in the job storage until
``JOBS["result_hours"]`` have passed (``manage.py cleanup_expired_jobs`` removes it then).
"""

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import connection
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from agri import errors
from agri.models import Job, JobState, job_storage

log = logging.getLogger(__name__)


class JobProgress:
    """What a job's work reports as it goes: the total (rows, photos) once known, then each step done. The job's row
    is updated at most every ``WRITE_SECONDS`` (and when the total is reached), however often the work reports.

    The updates go through a thread of their own, so a database connection of their own: the work's connection may
    hold a long read (an export's rows), and on SQLite a write on it after any other connection wrote (a poll's
    token renewal, another job) is refused as "database is locked".
    """

    WRITE_SECONDS = 0.5

    def __init__(self, job: Job):
        self.job = job
        self.written_at = 0.0
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.pk}")

    def total(self, total: int) -> None:
        self.job.progress_total = total
        self._write(progress_total=total)

    def advance(self, steps: int) -> None:
        if not steps:
            return
        self.job.progress_done += steps
        total = self.job.progress_total
        if total is not None and self.job.progress_done > total:
            # Rows written after the count: the total grows with them, so progress never passes 100 %.
            self.total(self.job.progress_done)
        now = time.monotonic()
        if now - self.written_at >= self.WRITE_SECONDS or self.job.progress_done == self.job.progress_total:
            self._write(progress_done=self.job.progress_done)
            self.written_at = now

    def _write(self, **values) -> None:
        update = Job.objects.filter(pk=self.job.pk).update
        if connection.in_atomic_block:  # run inside a transaction: another connection would wait for its locks
            update(**values)
        else:
            self.writer.submit(update, **values).result()

    def close(self) -> None:
        self.writer.submit(lambda: connection.close()).result()  # the writer thread's own connection
        self.writer.shutdown()


class JobResult:
    """What a job's work made: an open file (read from its start), the name to download it under, its media type."""

    def __init__(self, file: BinaryIO, filename: str, content_type: str):
        self.file, self.filename, self.content_type = file, filename, content_type


def job_create(*, owner, kind: str, parameters: dict) -> Job:
    """A queued job of ``owner`` (``None``: a management command's), speaking the current language."""
    return Job.objects.create(
        owner=owner, kind=kind, parameters=parameters, language=translation.get_language() or settings.LANGUAGE_CODE
    )


def job_enqueue(*, job: Job, task) -> Job:
    """Hand ``job`` to the task engine (``task.enqueue(job id)``). An engine that cannot take it (Redis down) fails
    the job and raises ``Unavailable``: nothing waits for a worker that will never hear of it."""
    try:
        task.enqueue(str(job.pk))
    except Exception as exc:
        log.exception("job %s could not be queued", job.pk)
        message = _("The job queue is unavailable just now. Start the job again later.")
        job_fail(job=job, code="queue_unavailable", message=message)
        raise errors.Unavailable(message, code="queue_unavailable") from exc
    return job


def job_run(job_id: str, work: Callable[[Job, JobProgress], JobResult | None]) -> str:
    """Run ``work`` for the job ``job_id`` in the job's language, and record how it ended: ``done`` with its file, or
    ``failed`` with a code and a message (a domain error's own; any other error is logged and reported as
    ``job_failed``). A job that is not queued (run twice by a retrying engine, or removed) is left alone. Returns
    the job's final state."""
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        log.warning("job %s is not queued: not run", job_id)
        return Job.objects.filter(pk=job_id).values_list("state", flat=True).first() or "missing"
    job = Job.objects.get(pk=job_id)
    progress = JobProgress(job)
    failure = None
    with translation.override(job.language):
        try:
            result = work(job, progress)
        except errors.ApplicationError as exc:
            failure = (exc.code, str(exc.message))
        except Exception:
            log.exception("job %s (%s) failed", job.pk, job.kind)
            failure = ("job_failed", _("The job failed. Start it again; if it fails again, tell the administrator."))
        finally:
            progress.close()
        # Written here, once the work's frames (and an export's open read) are gone with the exception.
        if failure is None:
            try:
                job_finish(job=job, result=result)
            except Exception:  # the job storage refused the file: the job must not stay "running"
                log.exception("job %s (%s): its file could not be stored", job.pk, job.kind)
                failure = (
                    "job_failed",
                    _("The job failed. Start it again; if it fails again, tell the administrator."),
                )
        if failure is not None:
            job_fail(job=job, code=failure[0], message=failure[1])
    return job.state


def job_finish(*, job: Job, result: JobResult | None) -> Job:
    """Store the result file (if any) under the job's id, and mark the job done until its expiry."""
    now = timezone.now()
    if result is not None:
        with result.file:
            name = job_storage().save(f"{job.pk}/{result.filename}", File(result.file, name=result.filename))
        job.result_name = name
        job.result_size = job_storage().size(name)
        job.parameters = {**job.parameters, "content_type": result.content_type}
        job.expires_at = now + timedelta(hours=settings.JOBS["result_hours"])
    job.state = JobState.DONE
    job.finished_at = now
    if job.progress_total is not None:
        job.progress_done = job.progress_total
    job.save(
        update_fields=[
            "result_name",
            "result_size",
            "parameters",
            "expires_at",
            "state",
            "finished_at",
            "progress_done",
        ]
    )
    return job


def job_fail(*, job: Job, code: str, message: str) -> Job:
    job.state = JobState.FAILED
    job.error_code = code
    job.error_message = message
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "error_code", "error_message", "finished_at"])
    return job


def jobs_expire(*, now=None, dry_run: bool = False) -> list[tuple[Job, int]]:
    """Remove the result files of the jobs whose expiry has passed, and mark those jobs expired. Returns each job
    and the bytes its file freed (would free, with ``dry_run``)."""
    now = now or timezone.now()
    storage = job_storage()
    expired = []
    jobs = Job.objects.filter(state=JobState.DONE, expires_at__lte=now).order_by("expires_at")
    for job in jobs.iterator():
        expired.append((job, job.result_size or 0))
        if dry_run:
            continue
        if job.result_name:
            storage.delete(job.result_name)
        Job.objects.filter(pk=job.pk, state=JobState.DONE).update(state=JobState.EXPIRED, result_name="")
    return expired


def job_counted(chunks, progress: JobProgress):
    """``chunks`` of ``(rows, geometries)`` as they are, reporting each chunk's rows to ``progress``."""
    for chunk in chunks:
        yield chunk
        progress.advance(len(chunk[0]))
