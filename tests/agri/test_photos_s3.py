"""Photos on an S3-compatible object store (``STORAGE_BACKEND=s3``), the production setup that docs/scaling.md
recommends: django-storages' S3Storage against moto's in-process S3, so boto3 sends real S3 requests (signed,
multipart-aware) to a store that keeps real objects. Uploads, serving, idempotent replays, private objects, the
orphan sweep, backup and restore go through the same code paths as on a local disk."""

import hashlib
import io
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from PIL import Image

from agri.models import Photo
from tests.agri.photo_support import BUCKET, new_visit, objects, sample, upload
from tests.agri.upload_support import create, noise_jpeg, patch

NIKON = "ianare_jpg_gps_DSCN0010.jpg"
IPHONE = "ianare_heic_mobile_iphone_13_pro_max.HEIC"


def test_an_upload_is_three_private_objects_served_back_byte_for_byte(world, clients, s3):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    response = upload(worker, visit["id"], sample(NIKON), filename=NIKON)
    assert response.status_code == 201, response.content
    photo = response.json()
    stored = objects(s3)
    row = Photo.objects.get(pk=photo["id"])
    assert set(stored) == {f"photos/{row.original.name}", f"photos/{row.display.name}", f"photos/{row.thumbnail.name}"}
    assert stored[f"photos/{row.original.name}"] == sample(NIKON)
    assert hashlib.sha256(sample(NIKON)).hexdigest() == photo["sha256"]
    for key in stored:  # nobody but the bucket's owner may read an object
        grants = s3.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
        assert grants[0]["Grantee"]["Type"] == "CanonicalUser"

    original = worker.get(f"/api/v1/photos/{photo['id']}/original/")
    assert original.status_code == 200
    assert b"".join(original.streaming_content) == sample(NIKON)
    display = worker.get(f"/api/v1/photos/{photo['id']}/display/")
    assert display.status_code == 200 and display["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(b"".join(display.streaming_content)))
    assert max(image.size) <= 1600 and not image.getexif()  # the derivative is stripped of EXIF (and its GPS)
    # Another account of the county who may not see the visit gets 404, as on a local disk.
    assert clients["worker2"].get(f"/api/v1/photos/{photo['id']}/original/").status_code == 404


def test_a_replayed_upload_writes_nothing_and_other_bytes_conflict(world, clients, s3):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    photo_id = str(uuid.uuid4())
    assert upload(worker, visit["id"], sample(IPHONE), photo_id=photo_id, filename=IPHONE).status_code == 201
    before = objects(s3)
    again = upload(worker, visit["id"], sample(IPHONE), photo_id=photo_id, filename=IPHONE)
    assert again.status_code == 200
    other = upload(worker, visit["id"], sample(NIKON), photo_id=photo_id, filename=NIKON)
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    assert objects(s3) == before
    assert Photo.objects.count() == 1


def test_orphan_sweep_lists_the_bucket_and_removes_only_old_orphans(world, clients, s3, monkeypatch):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    assert upload(worker, visit["id"], sample(NIKON), filename=NIKON).status_code == 201
    kept = set(objects(s3))
    orphan = b"left by a crashed upload"
    s3.put_object(Bucket=BUCKET, Key="photos/2025/03/orphan-original.jpg", Body=orphan)
    young = StringIO()
    call_command("cleanup_orphan_photos", stdout=young)
    assert "4 files checked: 3 in use, 1 orphans younger than 24 h kept, 0 orphans deleted" in young.getvalue()
    # Two days later to the sweep: S3 sets LastModified itself, so the sweep's clock moves instead.
    from agri.management.commands import cleanup_orphan_photos

    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setattr(cleanup_orphan_photos.timezone, "now", lambda: later)
    out = StringIO()
    call_command("cleanup_orphan_photos", stdout=out)
    assert set(objects(s3)) == kept
    assert "deleted 2025/03/orphan-original.jpg" in out.getvalue()
    assert f"3 in use, 0 orphans younger than 24 h kept, 1 orphans deleted ({len(orphan)} bytes)" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_through_the_bucket(world, clients, s3, settings, tmp_path):
    """The drill on S3: back up (photos read from the bucket), lose the database and the bucket's objects,
    restore (photos written back to the bucket, every hash checked), and the phone gets its photo again."""
    worker = clients["worker"]
    visit = new_visit(worker, world)
    photo = upload(worker, visit["id"], sample(NIKON), filename=NIKON).json()
    stored = objects(s3)
    settings.BACKUP_DIR = tmp_path
    call_command("backup", "--quiet", stdout=StringIO())
    [archive] = list(tmp_path.iterdir())
    row = Photo.objects.get(pk=photo["id"])
    with tarfile.open(archive) as tar:
        names = {m.name for m in tar.getmembers()}
        assert tar.extractfile(f"photos/{row.original.name}").read() == sample(NIKON)
    assert {n for n in names if n.startswith("photos/")} == {
        f"photos/{row.original.name}",
        f"photos/{row.display.name}",
        f"photos/{row.thumbnail.name}",
    }

    call_command("flush", interactive=False)
    for key in stored:
        s3.delete_object(Bucket=BUCKET, Key=key)
    assert objects(s3) == {}
    call_command("restore", str(archive), "--quiet", stdout=StringIO())
    assert objects(s3) == stored
    response = worker.get(f"/api/v1/photos/{photo['id']}/original/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sample(NIKON)


def test_a_resumable_upload_larger_than_a_part_goes_through_s3_multipart_and_leaves_only_the_photo(world, clients, s3):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = noise_jpeg()
    photo_id = str(uuid.uuid4())
    url = create(worker, visit["id"], photo_id, len(data))["Location"].removeprefix("http://testserver")
    for offset in range(0, len(data), 1024 * 1024):
        assert patch(worker, url, offset, data[offset : offset + 1024 * 1024]).status_code == 204
    row = Photo.objects.get(pk=photo_id)
    assert objects(s3)[f"photos/{row.original.name}"] == data
    files = {f"photos/{getattr(row, variant).name}" for variant in ("original", "display", "thumbnail")}
    assert set(objects(s3)) == files
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
