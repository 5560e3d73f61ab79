"""``manage.py backup [PATH]``: one tar archive of a consistent database snapshot, the photo files it refers to and
a manifest (migrations, row counts, SHA-256 of every file). ``manage.py restore`` brings it back."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS
from tqdm import tqdm

from agri.operations.backup import BackupError, backup_create, default_archive_path


def progress_bars(show: bool):
    """A tqdm per stage, in bytes, on stderr; none when quiet or when stderr is not a terminal."""

    def bar(description: str, total: int | None):
        return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, disable=not show)

    return bar


def show_progress(options) -> bool:
    return not options["quiet"] and options["verbosity"] > 0 and sys.stderr.isatty()


class Command(BaseCommand):
    help = (
        "Back up the database and the photo files it refers to into one tar archive (gzip when the name ends in "
        ".gz), with a manifest of migrations, row counts and SHA-256 sums. Restore it with `manage.py restore`."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="Archive to write (.tar, or .tar.gz to compress), or a directory for a timestamped name. "
            "Default: a timestamped name in BACKUP_DIR.",
        )
        parser.add_argument("--gzip", action="store_true", help="Compress a timestamped archive (.tar.gz).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")
        parser.add_argument("--quiet", action="store_true", help="No progress bars.")

    def handle(self, *args, path=None, gzip=False, database=DEFAULT_DB_ALIAS, **options):
        if path is None or Path(path).is_dir():
            directory = Path(path) if path else Path(settings.BACKUP_DIR)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            target = default_archive_path(directory=directory, gzip=gzip)
        else:
            target = Path(path)
            if gzip and not target.name.endswith((".gz", ".tgz")):
                raise CommandError(f"--gzip writes a .tar.gz archive; {target.name} does not end in .gz.")
        try:
            manifest = backup_create(path=target, using=database, progress=progress_bars(show_progress(options)))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"]:
            rows = sum(manifest["row_counts"].values())
            photo_bytes = sum(e["size"] for name, e in manifest["files"].items() if name.startswith("photos/"))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Backed up {manifest['database_vendor']}: {rows} rows in {len(manifest['row_counts'])} tables "
                    f"and {manifest['photo_files']} photo files ({photo_bytes} bytes) to {target} "
                    f"({manifest['archive_bytes']} bytes) in {manifest['seconds']:.1f} s."
                )
            )
