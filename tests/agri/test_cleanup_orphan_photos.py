"""``manage.py cleanup_orphan_photos``: files without a row go once they are a day old; nothing else is touched."""

import os
import time
from io import StringIO

import pytest
from django.core.management import call_command

from agri.models import Photo
from tests.agri.photo_support import new_visit, sample, stored_files, upload, use_private_storage


@pytest.fixture
def root(settings, tmp_path):
    return use_private_storage(settings, tmp_path / "photos")


def orphan(root, name: str, age_hours: float) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left by a crash")
    then = time.time() - age_hours * 3600
    os.utime(path, (then, then))


def run(*args) -> str:
    out = StringIO()
    call_command("cleanup_orphan_photos", *args, stdout=out)
    return out.getvalue()


def test_old_orphans_go_young_ones_and_referenced_files_stay(world, clients, root):
    visit = new_visit(clients["worker"], world)
    assert upload(clients["worker"], visit["id"], sample("ianare_jpg_gps_DSCN0010.jpg")).status_code == 201
    in_use = stored_files(root)
    assert len(in_use) == 3
    for path in in_use:  # an old file that a row refers to is kept whatever its age
        os.utime(path, (time.time() - 90 * 3600,) * 2)
    orphan(root, "ab/11111111-1111-1111-1111-111111111111-aaaa-original.jpg", age_hours=30)
    orphan(root, "cd/22222222-2222-2222-2222-222222222222-bbbb-display.jpg", age_hours=25)
    orphan(root, "ef/33333333-3333-3333-3333-333333333333-cccc-original.jpg", age_hours=2)

    dry = run("--dry-run")
    assert "would delete ab/11111111-1111-1111-1111-111111111111-aaaa-original.jpg" in dry
    assert "6 files checked: 3 in use, 1 orphans younger than 24 h kept, 2 orphans would be deleted (30 bytes)." in dry
    assert len(stored_files(root)) == 6

    done = run()
    assert "6 files checked: 3 in use, 1 orphans younger than 24 h kept, 2 orphans deleted (30 bytes)." in done
    left = stored_files(root)
    assert left == sorted([*in_use, root / "ef/33333333-3333-3333-3333-333333333333-cccc-original.jpg"])
    photo = Photo.objects.get()
    assert clients["worker"].get(f"/api/v1/photos/{photo.pk}/original/").status_code == 200

    assert "1 orphans deleted" in run("--older-than-hours", "1")
    assert stored_files(root) == in_use


def test_empty_or_missing_storage(db, root):
    assert "0 files checked" in run()  # nothing ever stored: the directory does not exist yet
    root.mkdir(parents=True)
    assert "0 files checked: 0 in use, 0 orphans younger than 24 h kept, 0 orphans deleted (0 bytes)." in run()
