"""``manage.py cleanup_expired_uploads`` (and the orphan sweep, which runs it first): an abandoned resumable upload
goes with every byte it stored, on a local disk and on S3; live uploads keep their pieces whatever their age."""

import io
import os
import time
import uuid
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from agri.models import PhotoUpload
from tests.agri.photo_support import BUCKET, cleanup_orphans, new_visit, objects, sample, stored_files
from tests.agri.upload_support import create, noise_jpeg, patch

IPHONE = "ianare_heic_mobile_iphone_13_pro_max.HEIC"


def cleanup_uploads(*args) -> str:
    out = io.StringIO()
    call_command("cleanup_expired_uploads", *args, stdout=out)
    return out.getvalue()


def start(client, world, data: bytes, sent: int) -> tuple[str, str]:
    """An upload of ``data`` with its first ``sent`` bytes in (pieces of 1 MB at most): its URL and photo id."""
    visit = new_visit(client, world)
    photo_id = str(uuid.uuid4())
    response = create(client, visit["id"], photo_id, len(data))
    assert response.status_code == 201, response.content
    url = response["Location"].removeprefix("http://testserver")
    for offset in range(0, sent, 1024 * 1024):
        assert patch(client, url, offset, data[offset : min(sent, offset + 1024 * 1024)]).status_code == 204
    return url, photo_id


def expire(url: str) -> None:
    PhotoUpload.objects.filter(pk=url.rstrip("/").rsplit("/", 1)[1]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_an_expired_partial_upload_and_its_bytes_are_removed_a_live_one_stays(world, clients, private_root):
    worker = clients["worker"]
    data = sample(IPHONE)
    sent = int(0.3 * len(data))
    abandoned, _ = start(worker, world, data, sent)
    live, _ = start(worker, world, data, 4096)
    assert len(stored_files(private_root)) == 2
    expire(abandoned)

    dry = cleanup_uploads("--dry-run")
    assert f"1 expired uploads would be removed ({sent} bytes to free)." in dry
    assert len(stored_files(private_root)) == 2

    done = cleanup_uploads()
    assert f"of {len(data)} bytes; {sent} bytes)" in done
    assert f"1 expired uploads removed ({sent} bytes freed)." in done
    assert [p.parent.name for p in stored_files(private_root)] == [live.rstrip("/").rsplit("/", 1)[1]]
    assert PhotoUpload.objects.count() == 1
    assert worker.head(abandoned, HTTP_TUS_RESUMABLE="1.0.0").status_code == 404
    assert worker.head(live, HTTP_TUS_RESUMABLE="1.0.0")["Upload-Offset"] == "4096"


def test_the_orphan_sweep_removes_expired_uploads_and_keeps_old_pieces_of_live_ones(world, clients, private_root):
    worker = clients["worker"]
    data = sample(IPHONE)
    abandoned, _ = start(worker, world, data, 100_000)
    live, _ = start(worker, world, data, 200_000)
    for path in stored_files(private_root):  # older than the sweep's day, but the live upload still needs its piece
        os.utime(path, (time.time() - 40 * 3600,) * 2)
    stray = private_root / "uploads" / str(uuid.uuid4()) / "000000000000-dead.part"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"\xff\xd8\xff left by an upload whose row is gone")
    os.utime(stray, (time.time() - 40 * 3600,) * 2)
    expire(abandoned)

    out = cleanup_orphans()
    assert "1 expired uploads removed (100000 bytes freed)." in out
    assert "2 files checked: 1 in use, 0 orphans younger than 24 h kept, 1 orphans deleted" in out
    assert [p.parent.name for p in stored_files(private_root)] == [live.rstrip("/").rsplit("/", 1)[1]]


def test_on_s3_an_expired_upload_loses_its_pieces_and_its_multipart_upload(world, clients, s3):
    worker = clients["worker"]
    data = noise_jpeg()
    assert len(data) > 6 * 1024 * 1024
    sent = 6 * 1024 * 1024
    url, _ = start(worker, world, data, sent)
    # 5 MiB went into a part of a multipart upload; the rest waits as a piece.
    pending = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert len(pending) == 1
    parts = s3.list_parts(Bucket=BUCKET, Key=pending[0]["Key"], UploadId=pending[0]["UploadId"])["Parts"]
    assert [p["Size"] for p in parts] == [5 * 1024 * 1024]
    assert [len(body) for body in objects(s3).values()] == [1024 * 1024]
    expire(url)

    assert f"1 expired uploads removed ({sent} bytes freed)." in cleanup_uploads()
    assert objects(s3) == {}
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
