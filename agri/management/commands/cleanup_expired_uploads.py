"""Remove resumable photo uploads whose expiry has passed, with every byte they stored.

An unfinished upload expires ``PHOTO_UPLOADS["expiry_hours"]`` (24 by default) after the last bytes it received
(``Upload-Expires``); the record of a finished one is kept as long, so that a client that lost the last answer can
still ask for its offset. ``cleanup_orphan_photos`` runs this first.
"""

from django.core.management.base import BaseCommand

from agri.services.uploads import uploads_expire


class Command(BaseCommand):
    help = "Remove resumable photo uploads that expired, and the bytes they stored."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be removed; remove nothing.")

    def handle(self, *args, dry_run=False, **options):
        removed = uploads_expire(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for upload, freed in removed:
            state = "finished" if upload.completed_at else f"{upload.offset} of {upload.length} bytes"
            self.stdout.write(
                f"{verb} upload {upload.pk} (photo {upload.photo_id}, {state}; {freed} bytes)", self.style.WARNING
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(removed)} expired uploads {'would be removed' if dry_run else 'removed'} "
                f"({sum(freed for _upload, freed in removed)} bytes {'to free' if dry_run else 'freed'})."
            )
        )
