"""Backup archives: one tar of a consistent database snapshot plus the photo files that snapshot refers to.

Layout of an archive (plain or gzip tar)::

    database/db.sqlite3 | database/db.pgdump   the snapshot (SQLite backup API, or pg_dump's custom format)
    photos/<storage name>                      every file named by a photo row of the snapshot
    manifest.json                              last, once every file's SHA-256 is known

The database is copied first and the files after it: photo rows are never deleted and their files are written
before their row commits, so every file the snapshot names is still in the store. Files of later uploads are
not in the snapshot and are left out.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import django
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.db import connections, transaction
from django.db.backends.postgresql.client import DatabaseClient as PostgresClient
from django.db.migrations.loader import MigrationLoader
from django.db.utils import ConnectionDoesNotExist
from django.utils import timezone

from agri.models import Change, ChangeKind, DeviceToken, Photo, TokenEnd
from agri.models.photos import photo_storage
from agri.services.accounts import device_tokens_retire

FORMAT = "nongji-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database/db.sqlite3", "postgresql": "database/db.pgdump"}
PHOTO_PREFIX = "photos/"
MANIFEST_FIELDS = {
    "created_at": str,
    "database_vendor": str,
    "database_file": str,
    "migrations": dict,
    "row_counts": dict,
    "files": dict,
}
# Tables that `migrate` fills by itself: a target holding rows only there is still an empty installation.
MIGRATE_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
# Derived from the data, and replaced by the restore: the sync change log (on SQLite, emptying a database with
# DELETEs logs the deletes).
DERIVED_TABLES = frozenset({"agri_change"})
PHOTO_FILE_FIELDS = ("original", "display", "thumbnail")
CHUNK_BYTES = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


class _Silent:
    """The progress bar used when none is given: counts nothing, shows nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass


def silent(description: str, total: int | None):
    return _Silent()


@dataclass
class Snapshot:
    """A database copy taken at one instant, with what it holds: rows per table, migrations and photo files."""

    vendor: str
    path: Path
    row_counts: dict[str, int]
    migrations: dict[str, str]
    photo_names: list[str] = field(default_factory=list)


class _HashingReader:
    """Reads from ``raw`` while hashing (SHA-256) and counting the bytes and reporting them to ``advance``."""

    def __init__(self, raw, advance=None):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        if self.advance:
            self.advance(len(data))
        return data

    def drain(self) -> None:
        while self.read(CHUNK_BYTES):
            pass


# --- backup --------------------------------------------------------------------------------------------------------


def default_archive_path(*, directory: Path, gzip: bool = False) -> Path:
    return Path(directory) / f"nongji-{timezone.localtime():%Y%m%d-%H%M%S}.tar{'.gz' if gzip else ''}"


def backup_create(*, path: Path, using: str = "default", progress=silent) -> dict:
    """Write the archive at ``path`` (gzip when it ends in .gz or .tgz) and return its manifest.

    The archive is written next to ``path`` under a temporary name and renamed into place when complete, so
    ``path`` holds either nothing or a whole archive. ``progress(description, total)`` returns a bar with
    ``update(n)`` (a tqdm); it is called after the database snapshot is taken.
    """
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} already exists: choose a new name or remove it first.")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory.")
    connection = _connection(using)
    if connection.in_atomic_block:
        raise BackupError("A backup cannot run inside a database transaction.")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nongji-backup-") as workdir:
        snapshot = _take_snapshot(connection, Path(workdir))
        storage = photo_storage()
        missing = [name for name in snapshot.photo_names if not storage.exists(name)]
        if missing:
            raise BackupError(
                f"{len(missing)} photo files that the database refers to are missing from the photo store, "
                f"for example {', '.join(missing[:3])}. Nothing was written."
            )
        manifest = _write_archive(path, snapshot, storage, progress)
    manifest["seconds"] = round(time.monotonic() - started, 2)
    return manifest


def _take_snapshot(connection, workdir: Path) -> Snapshot:
    if connection.vendor == "sqlite":
        return _sqlite_snapshot(connection, workdir / "db.sqlite3")
    if connection.vendor == "postgresql":
        return _postgresql_snapshot(connection, workdir / "db.pgdump")
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")


def _sqlite_snapshot(connection, target: Path) -> Snapshot:
    """The SQLite online backup API copies the database in one step, so the copy is one consistent state; its
    contents are then read from the copy, not from the live database."""
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        connection.connection.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        cursor = copy.cursor()
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        tables = sorted(row[0] for row in cursor.fetchall())
        counts, migrations, names = _read_state(cursor, tables)
    finally:
        copy.close()
    return Snapshot("sqlite", target, counts, migrations, names)


def _postgresql_snapshot(connection, target: Path) -> Snapshot:
    """pg_dump reads the snapshot that a repeatable-read transaction exports, and the same transaction counts the
    rows and lists the photo files: the dump and the manifest describe the same instant."""
    pg_dump = _client_program("pg_dump")
    with connection.cursor() as cursor:  # connect (and run any health check) before the transaction starts
        cursor.execute("SELECT 1")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot_id = cursor.fetchone()[0]
        _run_client(
            [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot_id}", f"--file={target}"],
            connection.settings_dict,
        )
        tables = sorted(connection.introspection.table_names(cursor))
        counts, migrations, names = _read_state(cursor, tables)
    return Snapshot("postgresql", target, counts, migrations, names)


def _read_state(cursor, tables: list[str]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Row counts of ``tables``, the latest applied migration per app and the photo file names, read through a
    DB-API ``cursor`` on the snapshot."""
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
        counts[table] = cursor.fetchone()[0]
    if "django_migrations" not in tables:
        raise BackupError("The database has no django_migrations table: run `manage.py migrate` first.")
    cursor.execute("SELECT app, name FROM django_migrations")
    migrations = _latest_migrations(cursor.fetchall())
    names: set[str] = set()
    if Photo._meta.db_table in tables:
        columns = ", ".join(_quote(Photo._meta.get_field(name).column) for name in PHOTO_FILE_FIELDS)
        cursor.execute(f"SELECT {columns} FROM {_quote(Photo._meta.db_table)}")
        for row in cursor.fetchall():
            names.update(name for name in row if name)
    return counts, migrations, sorted(names)


def _latest_migrations(applied) -> dict[str, str]:
    """The last applied migration of each app, in the order of the code's migration graph (by name for a
    migration the graph does not hold)."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    by_app: dict[str, list[str]] = {}
    for app, name in applied:
        by_app.setdefault(app, []).append(name)

    def position(app: str, name: str) -> tuple[int, str]:
        node = (app, name)
        return (len(graph.forwards_plan(node)) if node in graph.nodes else -1, name)

    return {app: max(names, key=lambda name, app=app: position(app, name)) for app, names in sorted(by_app.items())}


def _write_archive(path: Path, snapshot: Snapshot, storage, progress) -> dict:
    compressed = path.name.endswith((".gz", ".tgz"))
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)
    try:
        os.fchmod(handle.fileno(), 0o600)  # the archive holds personal data and private photos
        files: dict[str, dict] = {}
        now = int(time.time())
        with tarfile.open(fileobj=handle, mode="w:gz" if compressed else "w") as tar:
            database_member = DATABASE_MEMBERS[snapshot.vendor]
            with open(snapshot.path, "rb") as raw:
                files[database_member] = _add_member(tar, database_member, raw, snapshot.path.stat().st_size, now)
            sizes = {name: storage.size(name) for name in snapshot.photo_names}
            with progress("backup photos", sum(sizes.values())) as bar:
                for name in snapshot.photo_names:
                    with storage.open(name, "rb") as raw:
                        files[PHOTO_PREFIX + name] = _add_member(tar, PHOTO_PREFIX + name, raw, sizes[name], now, bar)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": timezone.now().isoformat(),
                "django_version": django.get_version(),
                "database_vendor": snapshot.vendor,
                "database_file": database_member,
                "migrations": snapshot.migrations,
                "row_counts": snapshot.row_counts,
                "photo_files": len(snapshot.photo_names),
                "files": files,
            }
            data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), now, 0o600
            tar.addfile(info, ContentFile(data))
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(handle.name, path)
    except BaseException:
        handle.close()
        Path(handle.name).unlink(missing_ok=True)
        raise
    manifest["archive_bytes"] = path.stat().st_size
    return manifest


def _add_member(tar, name: str, raw, size: int, mtime: int, bar=None) -> dict:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o600
    reader = _HashingReader(raw, None if bar is None else bar.update)
    tar.addfile(info, reader)  # reads exactly `size` bytes, and fails if the file is shorter
    return {"sha256": reader.sha256.hexdigest(), "size": reader.size}


# --- restore -------------------------------------------------------------------------------------------------------


def backup_restore(
    *, path: Path, using: str = "default", force: bool = False, keep_logins: bool = False, progress=silent
) -> dict:
    """Restore the archive at ``path`` into the database ``using`` and the photo store, then verify both.

    The target must be empty (no rows beyond what `migrate` writes, no photo file of another content under an
    archived name) unless ``force``. Every file is checked against the manifest's SHA-256 before anything is
    written, so a damaged archive changes nothing. Returns a summary for the command to print.

    Unless ``keep_logins``, every device token of the archive is then revoked (``RetiredToken`` reason ``restore``,
    so that phones are told ``token_revoked``) and every browser session ended: a token or session revoked after
    the backup was taken (a lost phone, a password change) must not work again because its row came back.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    connection = _connection(using)
    if connection.in_atomic_block:
        raise BackupError("A restore cannot run inside a database transaction.")
    started = time.monotonic()
    if not force:
        rows = _rows_present(connection)
        if rows:
            largest = sorted(rows.items(), key=lambda item: (-item[1], item[0]))
            listed = ", ".join(f"{table} ({n})" for table, n in largest[:5])
            raise BackupError(
                f"The target database already has data: {sum(rows.values())} rows, in {listed}"
                f"{', …' if len(rows) > 5 else ''}. Restore into an empty installation, or pass --force to "
                "replace what is there."
            )
    with tempfile.TemporaryDirectory(prefix="nongji-restore-") as workdir:
        manifest, database_file = _verify_archive(path, Path(workdir), connection, progress)
        storage = photo_storage()
        photo_names = [member[len(PHOTO_PREFIX) :] for member in manifest["files"] if member.startswith(PHOTO_PREFIX)]
        present = _photos_present(storage, photo_names, manifest)
        if present["different"] and not force:
            raise BackupError(
                f"The photo store already holds {len(present['different'])} files under archived names with other "
                f"contents, for example {', '.join(present['different'][:3])}. Restore into an empty photo store, "
                "or pass --force to replace them."
            )
        _restore_photos(path, storage, manifest, present, progress)
        _restore_database(connection, database_file, manifest["database_vendor"])
    summary = _verify_restored(connection, storage, manifest, photo_names, progress)
    # The data went back in time: every phone's sync token now points past the restored change log.
    Change.objects.using(using).create(kind=ChangeKind.EPOCH, record_id="restore")
    summary["device_tokens"] = DeviceToken.objects.using(using).count()
    summary["sessions"] = Session.objects.using(using).count()
    summary["logins_kept"] = keep_logins
    if not keep_logins:
        device_tokens_retire(tokens=DeviceToken.objects.using(using).all(), reason=TokenEnd.RESTORE)
        Session.objects.using(using).all().delete()
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["migrations_behind"] = _migrations_behind(manifest["migrations"])
    return summary


def _rows_present(connection) -> dict[str, int]:
    """Rows per table beyond what ``migrate`` writes and what is derived; the database engine's own tables (SQLite's
    ``sqlite_stat1``, its planner statistics after an ``ANALYZE``) hold no data."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        rows = {}
        engine_own = "sqlite_" if connection.vendor == "sqlite" else None
        for table in tables:
            if table in MIGRATE_TABLES | DERIVED_TABLES or (engine_own and table.startswith(engine_own)):
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
            if n := cursor.fetchone()[0]:
                rows[table] = n
    return rows


def _verify_archive(path: Path, workdir: Path, connection, progress) -> tuple[dict, Path]:
    """Read the whole archive once: hash every member, keep the database file aside, and check the manifest
    (format, vendor, migrations, every file's SHA-256 and size). Nothing is written to the target."""
    seen: dict[str, dict] = {}
    manifest = None
    database_file = workdir / "database"
    try:
        compressed = path.name.endswith((".gz", ".tgz"))
        total = None if compressed else path.stat().st_size
        with tarfile.open(path, "r|*") as tar, progress("verify archive", total) as bar:
            for member in tar:
                name = member.name
                if not member.isfile() or name in seen or not _safe_member_name(name):
                    raise BackupError(f"{path} has an unexpected entry {name!r}: it is not a backup archive.")
                reader = _HashingReader(tar.extractfile(member))
                if name == MANIFEST:
                    try:
                        manifest = json.loads(reader.read())
                    except ValueError as exc:
                        raise BackupError(f"The manifest of {path} is not valid JSON.") from exc
                elif name in DATABASE_MEMBERS.values():
                    with open(database_file, "wb") as out:
                        while chunk := reader.read(CHUNK_BYTES):
                            out.write(chunk)
                else:
                    reader.drain()
                seen[name] = {"sha256": reader.sha256.hexdigest(), "size": reader.size}
                bar.update(member.size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{path} cannot be read as a tar archive: {exc}") from exc
    _check_manifest(path, manifest, connection)
    seen.pop(MANIFEST)
    listed = manifest["files"]
    missing = sorted(set(listed) - set(seen))
    extra = sorted(set(seen) - set(listed))
    altered = sorted(
        name
        for name in set(listed) & set(seen)
        if (listed[name]["sha256"], listed[name]["size"]) != (seen[name]["sha256"], seen[name]["size"])
    )
    if missing or extra or altered:
        problems = []
        if altered:
            problems.append(
                f"{len(altered)} files differ from their SHA-256 or size in the manifest: {', '.join(altered[:5])}"
            )
        if missing:
            problems.append(f"{len(missing)} files of the manifest are missing: {', '.join(missing[:5])}")
        if extra:
            problems.append(f"{len(extra)} files are not in the manifest: {', '.join(extra[:5])}")
        raise BackupError(f"{path} is damaged or was altered; nothing was restored. " + "; ".join(problems) + ".")
    return manifest, database_file


def _safe_member_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts and "\\" not in name


def _check_manifest(path: Path, manifest, connection) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} has no {FORMAT} manifest: it is not a backup archive made by `manage.py backup`.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is in archive format version {manifest.get('format_version')}; this code reads version "
            f"{FORMAT_VERSION}. Restore it with the version of the code that made it."
        )
    wrong = [key for key, kind in MANIFEST_FIELDS.items() if not isinstance(manifest.get(key), kind)]
    if wrong or not all(isinstance(e, dict) and {"sha256", "size"} <= e.keys() for e in manifest["files"].values()):
        raise BackupError(f"The manifest of {path} is incomplete ({', '.join(wrong) or 'files'}); it cannot be used.")
    vendor = manifest["database_vendor"]
    if vendor != connection.vendor:
        raise BackupError(
            f"{path} holds a {vendor} database; the target database is {connection.vendor}. Restore into the same "
            "kind of database."
        )
    if manifest["database_file"] != DATABASE_MEMBERS.get(vendor) or manifest["database_file"] not in manifest["files"]:
        raise BackupError(f"The manifest of {path} lists no database file.")
    newer = _migrations_unknown(manifest["migrations"])
    if newer:
        raise BackupError(
            f"{path} was made by newer code: its database has migrations this code does not have "
            f"({', '.join(newer)}). Upgrade the code first, then restore."
        )


def _migrations_unknown(migrations: dict[str, str]) -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return [
        f"{app}.{name}"
        for app, name in sorted(migrations.items())
        if app not in loader.unmigrated_apps and (app, name) not in loader.disk_migrations
    ]


def _migrations_behind(migrations: dict[str, str]) -> list[str]:
    """Apps whose latest migration in the code is not the archive's: `manage.py migrate` brings them up."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return sorted(f"{app}.{name}" for app, name in graph.leaf_nodes() if migrations.get(app) != name)


def _photos_present(storage, names: list[str], manifest: dict) -> dict[str, list[str]]:
    """Archived names already in the store: with the archived content (left as they are) or with another."""
    present = {"same": [], "different": []}
    for name in names:
        if storage.exists(name):
            with storage.open(name, "rb") as raw:
                reader = _HashingReader(raw)
                reader.drain()
            same = reader.sha256.hexdigest() == manifest["files"][PHOTO_PREFIX + name]["sha256"]
            present["same" if same else "different"].append(name)
    return present


def _restore_photos(path: Path, storage, manifest: dict, present: dict, progress) -> None:
    keep = set(present["same"])
    replace = set(present["different"])
    total = sum(entry["size"] for member, entry in manifest["files"].items() if member.startswith(PHOTO_PREFIX))
    with tarfile.open(path, "r|*") as tar, progress("restore photos", total) as bar:
        for member in tar:
            if not member.name.startswith(PHOTO_PREFIX):
                continue
            name = member.name[len(PHOTO_PREFIX) :]
            data = tar.extractfile(member).read()
            # Checked again: the archive could have changed since it was verified.
            if hashlib.sha256(data).hexdigest() != manifest["files"][member.name]["sha256"]:
                raise BackupError(f"{member.name} changed in {path} during the restore; restore again.")
            if name not in keep:
                if name in replace:
                    storage.delete(name)
                stored = storage.save(name, ContentFile(data))
                if stored != name:
                    raise BackupError(f"The photo store saved {name} as {stored}; the database refers to {name}.")
            bar.update(len(data))


def _restore_database(connection, database_file: Path, vendor: str) -> None:
    if vendor == "sqlite":
        connection.ensure_connection()
        source = sqlite3.connect(database_file)
        try:
            source.backup(connection.connection)  # replaces every page of the target database
        finally:
            source.close()
        return
    pg_restore = _client_program("pg_restore")
    # Tables the archive does not have (a newer migration, --force on an older database) would keep foreign
    # keys into the restored tables and block their replacement: the target is emptied first.
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if tables:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_quote(table) for table in tables)} CASCADE")
    connection.close()
    settings_dict = connection.settings_dict
    dbname = settings_dict["NAME"] or f"service={settings_dict['OPTIONS'].get('service', '')}"
    _run_client(
        [
            pg_restore,
            "--no-owner",
            # Grants name roles of the source server, which the target may not have.
            "--no-privileges",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={dbname}",
            str(database_file),
        ],
        settings_dict,
    )


def _verify_restored(connection, storage, manifest: dict, photo_names: list[str], progress) -> dict:
    counts = {}
    with connection.cursor() as cursor:
        for table in manifest["row_counts"]:
            cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
            counts[table] = cursor.fetchone()[0]
    wrong = {table: (n, counts[table]) for table, n in manifest["row_counts"].items() if counts[table] != n}
    if wrong:
        listed = ", ".join(f"{table} {want} in the archive, {got} restored" for table, (want, got) in wrong.items())
        raise BackupError(f"The restored row counts differ from the archive's: {listed}.")
    total = sum(manifest["files"][PHOTO_PREFIX + name]["size"] for name in photo_names)
    bad = []
    with progress("check photos", total) as bar:
        for name in photo_names:
            with storage.open(name, "rb") as raw:
                reader = _HashingReader(raw, bar.update)
                reader.drain()
            if {"sha256": reader.sha256.hexdigest(), "size": reader.size} != manifest["files"][PHOTO_PREFIX + name]:
                bad.append(name)
    if bad:
        raise BackupError(f"{len(bad)} restored photo files differ from the archive: {', '.join(bad[:5])}.")
    return {
        "created_at": manifest["created_at"],
        "database_vendor": manifest["database_vendor"],
        "tables": len(counts),
        "rows": sum(counts.values()),
        "row_counts": counts,
        "photo_files": len(photo_names),
        "photo_bytes": total,
    }


# --- PostgreSQL client programs ------------------------------------------------------------------------------------


def _client_program(name: str) -> str:
    program = shutil.which(name)
    if not program:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client (Debian: postgresql-client) of the server's "
            "major version or newer."
        )
    return program


def _run_client(args: list[str], settings_dict: dict) -> None:
    """Run pg_dump or pg_restore against the database of ``settings_dict``: host, port, user and database as
    libpq environment variables, the password (PGPASSWORD) and SSL and service options as Django's own dbshell
    passes them."""
    _, env = PostgresClient.settings_to_cmd_args_env(settings_dict, [])
    env = {**os.environ, **(env or {})}
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGDATABASE", "NAME")):
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    result = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.returncode:
        raise BackupError(f"{Path(args[0]).name} failed (exit {result.returncode}): {result.stderr.strip()}")


def _connection(alias: str):
    try:
        return connections[alias]
    except ConnectionDoesNotExist as exc:
        raise BackupError(f"There is no database {alias!r} in DATABASES.") from exc


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
