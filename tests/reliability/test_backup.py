"""The backup drill: data made through the API (visits, real photos, an audited reveal), ``manage.py backup``, an
empty installation, ``manage.py restore``, then every model's row count and every photo file's SHA-256 compared with
what they were. And the refusals: a target with data, a tampered file, an archive of newer migrations."""

import copy
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.utils import load_backend
from django.test import Client

from agri.management.commands import backup as backup_command
from agri.models import Change, ChangeKind, DeviceToken, Photo, RetiredToken, TokenEnd, Visit
from tests.agri.photo_support import new_visit, sample, stored_files, upload, use_private_storage
from tests.support import login

# Transactions are committed: pg_dump and pg_restore are other processes, and they only see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

NIKON = "ianare_jpg_gps_DSCN0010.jpg"
# The sync change log is derived from the writes (docs/sync.md), not data: a restore brings the archived log back
# and adds an epoch row, which test_restore_after_a_wipe_serves_the_same_photos_through_the_api checks on its own.
# Every table the project keeps: unmanaged models (django_rq's dashboard placeholder) have none.
MODELS = [
    m
    for m in apps.get_models(include_auto_created=True)
    if m._meta.managed and not m._meta.proxy and m._meta.label != "agri.Change"
]


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def row_counts(using: str = "default") -> dict[str, int]:
    return {m._meta.label: m._base_manager.using(using).count() for m in MODELS}


def after_restore(counts: dict[str, int]) -> dict[str, int]:
    """``counts`` as a restore leaves them: every device token retired (remembered as revoked), no browser session."""
    return {
        **counts,
        "agri.DeviceToken": 0,
        "agri.RetiredToken": counts["agri.RetiredToken"] + counts["agri.DeviceToken"],
        "sessions.Session": 0,
    }


def file_hashes(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in stored_files(root)}


def photo_names(using: str = "default") -> set[str]:
    names = set()
    for row in Photo._base_manager.using(using).values_list("original", "display", "thumbnail"):
        names.update(row)
    return names


def read_manifest(archive) -> dict:
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("manifest.json"))


def rewrite(archive, out, change) -> None:
    """Copy ``archive`` to ``out`` with ``change(name, data)`` applied to every member's bytes."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def build(world, clients, samples: list[str]) -> list[dict]:
    """Visits pushed one by one and in a sync batch, photos uploaded on them, a farmer's numbers revealed."""
    worker = clients["worker"]
    first = new_visit(worker, world)
    second = new_visit(worker, world, kind="guidance", notes="春季修剪")
    batch = {"visits": [{**first, "id": str(uuid.uuid4()), "notes": "批量同步"}]}
    response = worker.post("/api/v1/sync/visits/", batch, format="json")
    assert response.status_code == 200, response.content
    assert [item["status"] for item in response.json()["results"]] == ["created"]
    photos = []
    for i, name in enumerate(samples):
        response = upload(worker, (first if i % 2 == 0 else second)["id"], sample(name), filename=name)
        assert response.status_code == 201, response.content
        photos.append({**response.json(), "sample": name})
    response = clients["admin"].post(f"/api/v1/farmers/{world['F1'].pk}/reveal/", {"reason": "核实补贴发放对象"})
    assert response.status_code == 200, response.content
    return photos


@pytest.fixture
def fresh_database(tmp_path):
    """A second database alias on a new, never-migrated database: a second SQLite file, or on PostgreSQL a
    database created for the test (and dropped after it)."""
    default = connections["default"]
    alias = "restore_target"
    settings_dict = copy.deepcopy(default.settings_dict)
    postgres = default.vendor == "postgresql"
    if postgres:
        settings_dict["NAME"] = f"{default.settings_dict['NAME']}_restored"
        with default.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{settings_dict["NAME"]}"')
            cursor.execute(f'CREATE DATABASE "{settings_dict["NAME"]}"')
    else:
        settings_dict["NAME"] = str(tmp_path / "restored.sqlite3")
    # Registered on this thread only, like a connection made at run time: Django's test case lets the test use it
    # (it allows only "default" among the configured aliases) and flushes nothing there afterwards.
    connections[alias] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    yield alias
    connections[alias].close()
    del connections[alias]
    if postgres:
        with default.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{settings_dict["NAME"]}" WITH (FORCE)')


def test_drill_restores_every_row_and_photo_into_a_fresh_installation(
    world, clients, private_root, settings, tmp_path, fresh_database
):
    photos = build(world, clients, [NIKON, "ianare_heic_mobile_iphone_13_pro_max.HEIC", "ianare_jpg_gps_DSCN0012.jpg"])
    counts = row_counts()
    assert counts["agri.Photo"] == 3 and counts["agri.Visit"] == 3 and counts["agri.PersonalDataAccess"] == 1
    files = file_hashes(private_root)
    assert set(files) == photo_names() and len(files) == 9
    visits = list(Visit._base_manager.values().order_by("pk"))
    photo_rows = list(Photo._base_manager.values().order_by("pk"))
    # A file no row refers to (an upload that crashed before its commit) is not part of the installation.
    (private_root / "zz").mkdir()
    (private_root / "zz" / "orphan-original.jpg").write_bytes(b"left by a crash")

    archive = tmp_path / "nongji.tar"
    out = run("backup", str(archive), "--quiet")
    manifest = read_manifest(archive)
    assert f"{sum(manifest['row_counts'].values())} rows" in out and "9 photo files" in out and str(archive) in out
    assert archive.stat().st_mode & 0o777 == 0o600
    assert list(tmp_path.glob(".nongji.tar.*")) == []  # no temporary file left beside it
    assert manifest["format"] == "nongji-backup" and manifest["format_version"] == 1
    assert manifest["database_vendor"] == connections["default"].vendor
    # The test database is migrated to the code's latest migration of every app.
    assert manifest["migrations"] == dict(MigrationLoader(None).graph.leaf_nodes())
    model_tables = {m._meta.label: m._meta.db_table for m in MODELS}
    assert {label: manifest["row_counts"][table] for label, table in model_tables.items()} == counts
    assert {name: e["sha256"] for name, e in manifest["files"].items() if name.startswith("photos/")} == {
        f"photos/{name}": sha for name, sha in files.items()
    }

    restored_root = use_private_storage(settings, tmp_path / "restored-photos")
    out = run("restore", str(archive), "--database", fresh_database, "--quiet")
    assert f"{sum(manifest['row_counts'].values())} rows" in out and "9 photo files" in out
    assert row_counts(fresh_database) == after_restore(counts)
    assert file_hashes(restored_root) == files
    assert list(Visit._base_manager.using(fresh_database).values().order_by("pk")) == visits
    assert list(Photo._base_manager.using(fresh_database).values().order_by("pk")) == photo_rows
    for photo in photos:
        row = Photo._base_manager.using(fresh_database).get(pk=photo["id"])
        assert row.sha256 == hashlib.sha256(sample(photo["sample"])).hexdigest()
        assert (restored_root / row.original.name).read_bytes() == sample(photo["sample"])


def test_restore_after_a_wipe_serves_the_same_photos_through_the_api(world, clients, private_root, settings, tmp_path):
    photos = build(world, clients, [NIKON])
    counts = row_counts()
    files = file_hashes(private_root)
    synced = clients["worker"].get("/api/v1/sync/").json()["sync_token"]
    settings.BACKUP_DIR = tmp_path / "backups"
    run("backup", "--gzip", "--quiet")
    [archive] = list((tmp_path / "backups").iterdir())
    assert archive.name.startswith("nongji-") and archive.name.endswith(".tar.gz")
    assert gzip.decompress(archive.read_bytes())[:512].startswith(b"database/db.")

    call_command("flush", interactive=False)  # an installation that was migrated and never used
    assert row_counts()["agri.User"] == 0 and row_counts()["agri.Photo"] == 0
    restored_root = use_private_storage(settings, tmp_path / "restored-photos")
    run("restore", str(archive), "--quiet")
    assert row_counts() == after_restore(counts)
    assert file_hashes(restored_root) == files
    # The phone's token came back with the accounts, revoked: the phone logs in again and fetches its photo from
    # the restored store.
    revoked = clients["worker"].get(f"/api/v1/photos/{photos[0]['id']}/original/")
    assert revoked.status_code == 401 and revoked.json()["code"] == "token_revoked"
    clients["worker"] = login(world.users["worker"])
    response = clients["worker"].get(f"/api/v1/photos/{photos[0]['id']}/original/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sample(NIKON)
    # Its sync token does not: the data went back in time, so the phone starts a first sync.
    old = clients["worker"].get("/api/v1/sync/", {"sync_token": synced})
    assert old.status_code == 400 and old.json()["fields"]["sync_token"][0]["code"] == "sync_token_expired"
    assert Change.objects.filter(kind=ChangeKind.EPOCH).count() == 1
    assert clients["worker"].get("/api/v1/sync/").status_code == 200


def test_restore_into_an_empty_installation_with_planner_statistics(world, clients, private_root, settings, tmp_path):
    """An installation whose database has gathered planner statistics (``ANALYZE``: SQLite keeps them in a table of
    its own, ``sqlite_stat1``) is still empty: the restore goes ahead."""
    build(world, clients, [NIKON])
    counts = row_counts()
    settings.BACKUP_DIR = tmp_path / "backups"
    run("backup", "--quiet")
    [archive] = list((tmp_path / "backups").iterdir())
    call_command("flush", interactive=False)
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    use_private_storage(settings, tmp_path / "restored-photos")
    run("restore", str(archive), "--quiet")
    assert row_counts() == after_restore(counts)


def test_restore_refuses_a_database_with_data_and_force_replaces_it(world, clients, private_root, tmp_path):
    build(world, clients, [NIKON])
    counts = row_counts()
    archive = tmp_path / "nongji.tar"
    run("backup", str(archive), "--quiet")
    later = new_visit(clients["worker"], world, notes="备份之后")
    changed = row_counts()
    assert changed["agri.Visit"] == counts["agri.Visit"] + 1

    with pytest.raises(CommandError, match="already has data") as refused:
        run("restore", str(archive), "--quiet")
    data_rows = sum(n for label, n in changed.items() if label not in ("contenttypes.ContentType", "auth.Permission"))
    assert f"already has data: {data_rows} rows" in str(refused.value) and "--force" in str(refused.value)
    assert row_counts() == changed

    run("restore", str(archive), "--force", "--quiet")
    assert row_counts() == after_restore(counts)
    assert not Visit._base_manager.filter(pk=later["id"]).exists()


def test_restore_refuses_a_tampered_photo_and_writes_nothing(world, clients, private_root, settings, tmp_path):
    [photo] = build(world, clients, [NIKON])
    archive = tmp_path / "nongji.tar"
    run("backup", str(archive), "--quiet")
    target = "photos/" + Photo.objects.get(pk=photo["id"]).original.name

    def flip_a_byte(name, data):
        return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:] if name == target else data

    tampered = tmp_path / "tampered.tar"
    rewrite(archive, tampered, flip_a_byte)
    call_command("flush", interactive=False)
    empty = row_counts()
    restored_root = use_private_storage(settings, tmp_path / "restored-photos")

    with pytest.raises(CommandError, match="SHA-256") as refused:
        run("restore", str(tampered), "--quiet")
    assert target in str(refused.value) and "nothing was restored" in str(refused.value)
    assert row_counts() == empty
    assert not restored_root.exists() or stored_files(restored_root) == []


def test_restore_refuses_an_archive_of_newer_migrations(world, clients, private_root, settings, tmp_path):
    build(world, clients, [NIKON])
    archive = tmp_path / "nongji.tar"
    run("backup", str(archive), "--quiet")

    def from_the_future(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["migrations"]["agri"] = "0099_from_newer_code"
        return json.dumps(manifest).encode()

    newer = tmp_path / "newer.tar"
    rewrite(archive, newer, from_the_future)
    call_command("flush", interactive=False)
    empty = row_counts()
    restored_root = use_private_storage(settings, tmp_path / "restored-photos")

    with pytest.raises(CommandError, match="newer code") as refused:
        run("restore", str(newer), "--quiet")
    assert "agri.0099_from_newer_code" in str(refused.value)
    assert row_counts() == empty
    assert not restored_root.exists() or stored_files(restored_root) == []


def test_photo_uploaded_after_the_snapshot_is_left_out(
    world, clients, private_root, settings, tmp_path, fresh_database, monkeypatch
):
    build(world, clients, [NIKON])
    counts = row_counts()
    files = file_hashes(private_root)
    visit = Visit.objects.first()
    late = {}

    def upload_during_the_file_copy(show):
        def bar(description, total):
            if description == "backup photos" and not late:  # the database snapshot is already taken
                late["response"] = upload(clients["worker"], str(visit.pk), sample("ianare_jpg_gps_DSCN0021.jpg"))
            return backup_command.tqdm(disable=True)

        return bar

    monkeypatch.setattr(backup_command, "progress_bars", upload_during_the_file_copy)
    archive = tmp_path / "nongji.tar"
    run("backup", str(archive))
    assert "response" in late, "the patched progress_bars never ran: no upload was made during the file copy"
    assert late["response"].status_code == 201, late["response"].content
    assert Photo.objects.filter(pk=late["response"].json()["id"]).exists()  # stored, but after the snapshot
    assert len(stored_files(private_root)) == len(files) + 3

    restored_root = use_private_storage(settings, tmp_path / "restored-photos")
    run("restore", str(archive), "--database", fresh_database, "--quiet")
    assert row_counts(fresh_database) == after_restore(counts)
    assert file_hashes(restored_root) == files


def test_backup_with_a_photo_file_missing_fails_and_leaves_no_archive(world, clients, private_root, tmp_path):
    [photo] = build(world, clients, [NIKON])
    lost = Photo.objects.get(pk=photo["id"]).display.name
    (private_root / lost).unlink()
    archive = tmp_path / "nongji.tar"

    with pytest.raises(CommandError, match="missing from the photo store") as refused:
        run("backup", str(archive), "--quiet")
    assert lost in str(refused.value)
    assert list(tmp_path.glob("*nongji.tar*")) == []


def test_restore_revokes_every_device_token_and_session_unless_told_to_keep_them(
    world, clients, private_root, tmp_path
):
    """A token or session revoked after the backup must not come back with the archive's rows."""
    user = world.users["admin"]
    browser = Client()
    browser.force_login(user)
    session_cookie = browser.cookies["sessionid"].value
    archive = tmp_path / "nongji.tar"
    run("backup", str(archive), "--quiet")
    tokens = DeviceToken.objects.count()
    assert tokens == len(clients) and Session.objects.count() == 1
    # After the backup: the worker's phone is logged out (lost?), and so is the browser.
    assert clients["worker"].post("/api/v1/auth/logout/").status_code == 204
    assert browser.post("/accounts/logout/").status_code == 302
    assert Session.objects.count() == 0

    out = run("restore", str(archive), "--force", "--quiet")
    assert f"Revoked {tokens} device tokens and ended 1 browser sessions" in out and "--keep-logins" in out
    for name, client in clients.items():
        response = client.get("/api/v1/me/")
        assert response.status_code == 401, name
        assert response.json()["code"] == "token_revoked"
    revived = Client()
    revived.cookies["sessionid"] = session_cookie
    assert revived.get("/map/").status_code == 302  # to the login page
    assert RetiredToken.objects.filter(reason=TokenEnd.RESTORE).count() == tokens

    # Told to keep them, the restore brings back the logins of the archive, the revoked one with the others.
    out = run("restore", str(archive), "--force", "--keep-logins", "--quiet")
    assert f"kept the archive's {tokens} device tokens and 1 browser sessions" in out
    assert clients["worker"].get("/api/v1/me/").status_code == 200
    revived.cookies["sessionid"] = session_cookie  # the 302 above deleted the cookie of an unknown session
    assert revived.get("/map/").status_code == 200
