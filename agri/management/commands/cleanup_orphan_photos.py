"""Delete photo files that no database row refers to, once they are old enough not to belong to an upload in flight.

An upload writes its files first and commits its row last, so a crash in between leaves files without a row.
They are removed here after a day (``--older-than-hours``); younger ones may still be waiting for their commit.
Expired resumable uploads go first (``cleanup_expired_uploads``); the pieces of the uploads still live, under
``uploads/<upload id>/``, are in use whatever their age.
"""

from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from agri.models import Photo
from agri.models.photos import UPLOADS_PREFIX, photo_storage
from agri.services.uploads import live_upload_ids

FILE_FIELDS = ("original", "display", "thumbnail")


def walk(storage, path: str = ""):
    """Every file name under ``path`` in ``storage``, depth first (works for local and S3 storages alike)."""
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:  # a local store that has never received a photo
        return
    for name in sorted(files):
        yield f"{path}/{name}" if path else name
    for directory in sorted(directories):
        yield from walk(storage, f"{path}/{directory}" if path else directory)


def referenced(names: list[str]) -> set[str]:
    found = set()
    for field in FILE_FIELDS:
        found.update(Photo.objects.filter(**{f"{field}__in": names}).values_list(field, flat=True))
    # A live upload's pieces are in use: uploads/<upload id>/<piece>.
    prefix = f"{UPLOADS_PREFIX}/"
    pieces = {name: name.split("/")[1] for name in names if name.startswith(prefix) and "/" in name[len(prefix) :]}
    live = live_upload_ids(set(pieces.values()))
    found.update(name for name, upload_id in pieces.items() if upload_id in live)
    return found


class Command(BaseCommand):
    help = "Delete stored photo files that no photo row refers to and that are older than a day."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be deleted; delete nothing.")
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=24.0,
            help="Only delete orphans last modified longer ago than this (default 24).",
        )

    def handle(self, *args, dry_run=False, older_than_hours=24.0, **options):
        call_command("cleanup_expired_uploads", dry_run=dry_run, stdout=self.stdout)
        storage = photo_storage()
        cutoff = timezone.now() - timedelta(hours=older_than_hours)
        counts = {"files": 0, "referenced": 0, "young": 0, "orphans": 0, "bytes": 0}
        batch: list[str] = []

        def sweep(names: list[str]) -> None:
            known = referenced(names)
            counts["referenced"] += len(known)
            for name in names:
                if name in known:
                    continue
                if storage.get_modified_time(name) > cutoff:
                    counts["young"] += 1
                    continue
                counts["orphans"] += 1
                counts["bytes"] += storage.size(name)
                self.stdout.write(f"{'would delete' if dry_run else 'deleted'} {name}", self.style.WARNING)
                if not dry_run:
                    storage.delete(name)

        # One query per 500 files, so a large store is never held in memory at once.
        for name in walk(storage):
            counts["files"] += 1
            batch.append(name)
            if len(batch) == 500:
                sweep(batch)
                batch = []
        sweep(batch)
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['files']} files checked: {counts['referenced']} in use, {counts['young']} orphans younger "
                f"than {older_than_hours:g} h kept, {counts['orphans']} orphans {verb} ({counts['bytes']} bytes)."
            )
        )
