"""Task functions of the domain's jobs (``agri.services.jobs``): management commands run by a task worker.

``manage.py start_job rebuild-rollups`` (or ``import-divisions FILE ...``) queues one; the job's result file is
what the command printed. Exports are jobs too, queued by the API (``agri.api.jobs``).
"""

import io

from django.conf import settings
from django.core.management import CommandError, call_command
from django_tasks import task

from agri import errors
from agri.services.jobs import JobResult, job_run

# Job kind -> the management command it runs, with the job's ``parameters["args"]``.
COMMAND_JOBS = {"rebuild-rollups": "rebuild_rollups", "import-divisions": "import_divisions"}


@task(queue_name=settings.JOB_QUEUE)
def run_command_job(job_id: str) -> str:
    return job_run(job_id, _run_command)


def _run_command(job, progress) -> JobResult:
    output = io.BytesIO()
    text = io.TextIOWrapper(output, encoding="utf-8", write_through=True)
    try:
        call_command(COMMAND_JOBS[job.kind], *job.parameters.get("args", []), stdout=text, stderr=text)
    except CommandError as exc:
        raise errors.InvalidInput(str(exc), code="command_error") from exc
    text.detach()
    output.seek(0)
    return JobResult(output, f"{job.kind}.txt", "text/plain; charset=utf-8")
