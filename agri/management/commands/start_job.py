"""Queue a management command as a job (``agri.tasks``): a task worker runs it, and its output is the job's file.

    manage.py start_job rebuild-rollups
    manage.py start_job import-divisions -- /srv/boundaries/villages.gpkg --level village

The job has no owner: superusers see it at ``/api/v1/jobs/<id>/``. The worker reads files from its own disk.
"""

from django.core.management.base import BaseCommand

from agri.services.jobs import job_create, job_enqueue
from agri.tasks import COMMAND_JOBS, run_command_job


class Command(BaseCommand):
    help = "Queue rebuild_rollups or import_divisions as a job run by a task worker; print the job's id."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(COMMAND_JOBS))
        parser.add_argument("args", nargs="*", help="The command's own arguments (after --).")

    def handle(self, *args, kind, **options):
        job = job_create(owner=None, kind=kind, parameters={"args": list(args)})
        job_enqueue(job=job, task=run_command_job)
        self.stdout.write(str(job.pk))
