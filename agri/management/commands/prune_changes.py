"""Delete change-log rows older than the sync retention (``SYNC_RETENTION_DAYS``, 90 by default).

A phone whose token is older than the retention gets 400 ``sync_token_expired`` and starts a first sync, so no
pull ever needs a pruned row. Run it daily (cron, or the job runner of the deployment).
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agri.models import Change


class Command(BaseCommand):
    help = "Delete change-log rows older than the sync retention; tokens older than it must start a first sync."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep this many days (default SYNC_RETENTION_DAYS, {settings.SYNC_RETENTION_DAYS}); at least 2.",
        )

    def handle(self, *args, days=None, **options):
        days = settings.SYNC_RETENTION_DAYS if days is None else days
        if days < 2:
            raise CommandError("Keep at least 2 days: a token is refused one day before its changes are pruned.")
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = Change.objects.filter(at__lt=cutoff).delete()
        self.stdout.write(f"{deleted} change rows older than {cutoff:%Y-%m-%d %H:%M} UTC deleted ({days} days kept).")
