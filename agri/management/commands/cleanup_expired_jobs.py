"""Remove the files of finished jobs whose expiry has passed (``JOBS["result_hours"]``, 48 by default, after the job
finished); the jobs stay listed, as ``expired``. Run it from cron next to ``cleanup_expired_uploads``."""

from django.core.management.base import BaseCommand

from agri.services.jobs import jobs_expire


class Command(BaseCommand):
    help = "Remove the result files of jobs that expired."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be removed; remove nothing.")

    def handle(self, *args, dry_run=False, **options):
        expired = jobs_expire(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for job, size in expired:
            self.stdout.write(f"{verb} job {job.pk} ({job.kind}, {job.result_name}; {size} bytes)", self.style.WARNING)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(expired)} expired job files {'would be removed' if dry_run else 'removed'} "
                f"({sum(size for _job, size in expired)} bytes {'to free' if dry_run else 'freed'})."
            )
        )
