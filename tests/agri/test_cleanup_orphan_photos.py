"""``manage.py cleanup_orphan_photos``: files without a row go once they are a day old; nothing else is touched."""

import os
import time

from agri.models import Photo
from tests.agri.photo_support import cleanup_orphans, new_visit, sample, stored_files, upload


def orphan(private_root, name: str, age_hours: float) -> None:
    path = private_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left by a crash")
    then = time.time() - age_hours * 3600
    os.utime(path, (then, then))


def test_old_orphans_go_young_ones_and_referenced_files_stay(world, clients, private_root):
    visit = new_visit(clients["worker"], world)
    assert upload(clients["worker"], visit["id"], sample("ianare_jpg_gps_DSCN0010.jpg")).status_code == 201
    in_use = stored_files(private_root)
    assert len(in_use) == 3
    for path in in_use:  # an old file that a row refers to is kept whatever its age
        os.utime(path, (time.time() - 90 * 3600,) * 2)
    orphan(private_root, "ab/11111111-1111-1111-1111-111111111111-aaaa-original.jpg", age_hours=30)
    orphan(private_root, "cd/22222222-2222-2222-2222-222222222222-bbbb-display.jpg", age_hours=25)
    orphan(private_root, "ef/33333333-3333-3333-3333-333333333333-cccc-original.jpg", age_hours=2)

    dry = cleanup_orphans("--dry-run")
    assert "would delete ab/11111111-1111-1111-1111-111111111111-aaaa-original.jpg" in dry
    assert "6 files checked: 3 in use, 1 orphans younger than 24 h kept, 2 orphans would be deleted (30 bytes)." in dry
    assert len(stored_files(private_root)) == 6

    done = cleanup_orphans()
    assert "6 files checked: 3 in use, 1 orphans younger than 24 h kept, 2 orphans deleted (30 bytes)." in done
    left = stored_files(private_root)
    assert left == sorted([*in_use, private_root / "ef/33333333-3333-3333-3333-333333333333-cccc-original.jpg"])
    photo = Photo.objects.get()
    assert clients["worker"].get(f"/api/v1/photos/{photo.pk}/original/").status_code == 200

    assert "1 orphans deleted" in cleanup_orphans("--older-than-hours", "1")
    assert stored_files(private_root) == in_use


def test_empty_or_missing_storage(db, private_root):
    assert "0 files checked" in cleanup_orphans()  # nothing ever stored: the directory does not exist yet
    private_root.mkdir(parents=True)
    assert (
        "0 files checked: 0 in use, 0 orphans younger than 24 h kept, 0 orphans deleted (0 bytes)." in cleanup_orphans()
    )
