"""``manage.py restore ARCHIVE``: bring an archive of ``manage.py backup`` back into an empty installation, then
check every row count and every photo file's SHA-256 against its manifest."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from agri.management.commands.backup import progress_bars, show_progress
from agri.operations.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into an empty database and photo store, verifying the "
        "SHA-256 of every file before writing and the row counts and files afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="Archive written by `manage.py backup` (.tar or .tar.gz).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore even when the target database has data or the photo store has other files under the "
            "archive's names: they are replaced.",
        )
        parser.add_argument(
            "--keep-logins",
            action="store_true",
            help="Keep the archive's device tokens and browser sessions. By default every one is revoked, so that a "
            "login revoked after the backup (a lost phone, a password change) does not come back: everyone logs in "
            "again.",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")
        parser.add_argument("--quiet", action="store_true", help="No progress bars.")

    def handle(self, *args, archive, force=False, keep_logins=False, database=DEFAULT_DB_ALIAS, **options):
        try:
            summary = backup_restore(
                path=archive,
                using=database,
                force=force,
                keep_logins=keep_logins,
                progress=progress_bars(show_progress(options)),
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] > 1:
            for table, n in summary["row_counts"].items():
                self.stdout.write(f"{table}: {n}")
        if options["verbosity"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Restored the {summary['database_vendor']} backup of {summary['created_at']}: {summary['rows']} "
                    f"rows in {summary['tables']} tables and {summary['photo_files']} photo files "
                    f"({summary['photo_bytes']} bytes) in {summary['seconds']:.1f} s; row counts and SHA-256 sums "
                    "match the manifest."
                )
            )
        # Whoever restores must know that every device has to log in again (or that revoked logins came back).
        if not options["verbosity"]:
            pass
        elif summary["logins_kept"]:
            self.stdout.write(
                self.style.WARNING(
                    f"--keep-logins: kept the archive's {summary['device_tokens']} device tokens and "
                    f"{summary['sessions']} browser sessions, including any revoked after the backup was taken."
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Revoked {summary['device_tokens']} device tokens and ended {summary['sessions']} browser "
                    "sessions of the archive: every phone and browser logs in again (phones are told "
                    "token_revoked). Pass --keep-logins to keep them."
                )
            )
        if summary["migrations_behind"]:
            self.stdout.write(
                self.style.WARNING(
                    "The archive predates migrations of this code "
                    f"({', '.join(summary['migrations_behind'])}): run `manage.py migrate`."
                )
            )
