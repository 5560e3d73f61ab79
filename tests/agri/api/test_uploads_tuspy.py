"""Resumable photo uploads driven by tuspy, a real tus client, against a live server: connections cut part-way
resume where they stopped, and the photo is the one a one-shot multipart upload of the same file makes."""

import hashlib
import io
import json
import uuid
from urllib.parse import urlparse

import pytest
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from agri.models import PhotoUpload
from tests.agri.photo_support import new_visit, sample, stored_files, upload
from tests.agri.upload_support import CuttingProxy, token_of, tus_client

# (file, chunk size): one PATCH for the whole file, and 256 KiB chunks as a phone on a weak link would send.
CASES = [
    ("ianare_heic_mobile_iphone_13_pro_max.HEIC", None),
    ("ianare_heic_mobile_iphone_13_pro_max.HEIC", 256 * 1024),
    ("ianare_heic_IMG_5195.HEIC", None),
    ("ianare_jpg_tests_45-gps_ifd.jpg", None),
]
SAME = ("sha256", "content_type", "width", "height", "taken_at", "exif_lat", "exif_lon", "exif_alt_m", "camera",
        "orientation", "flags")  # fmt: skip


def served(client, url: str) -> bytes:
    return b"".join(client.get(url).streaming_content)


@pytest.mark.parametrize(("name", "chunk_size"), CASES)
def test_an_upload_cut_at_30_and_70_percent_resumes_and_makes_the_multipart_photo(
    world, clients, private_root, live_server, name, chunk_size
):
    worker = clients["worker"]
    data = sample(name)
    # The same file through the multipart endpoint, on a visit like the tus one. The two photos are copies of each
    # other, so both carry `reused`; every other flag is computed against visits made alike.
    reference = upload(worker, new_visit(worker, world)["id"], data).json()
    visit = new_visit(worker, world)
    photo_id = str(uuid.uuid4())
    proxy = CuttingProxy(urlparse(live_server.url).port, cuts=[int(0.3 * len(data)), int(0.7 * len(data))])
    try:
        uploader = tus_client(proxy.url, token_of(worker)).uploader(
            file_stream=io.BytesIO(data),
            metadata={"visit": visit["id"], "id": photo_id, "filename": name},
            chunk_size=chunk_size or len(data),
            retries=5,
            retry_delay=0.5,
        )
        uploader.upload()
    finally:
        proxy.close()

    assert proxy.cut_count == 2
    print(f"{name} chunk {chunk_size}: {proxy.sent} bytes sent for {len(data)} ({proxy.sent / len(data):.3f}x)")
    assert proxy.sent <= 1.1 * len(data), f"{proxy.sent} bytes sent for a file of {len(data)}"
    photo = worker.get(f"/api/v1/photos/{photo_id}/").json()
    reference = worker.get(f"/api/v1/photos/{reference['id']}/").json()
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert {key: photo[key] for key in SAME} == {key: reference[key] for key in SAME}
    assert "reused" in photo["flags"]
    for variant in ("original", "display", "thumbnail"):
        assert served(worker, photo[variant]) == served(worker, reference[variant])
    # Nothing of the upload is left in the store: the two photos' files only.
    assert len(stored_files(private_root)) == 6
    assert PhotoUpload.objects.get().completed_at is not None


def test_tuspy_with_checksums_uploads_in_small_chunks(world, clients, private_root, live_server):
    worker = clients["worker"]
    data = sample("ianare_jpg_gps_DSCN0010.jpg")
    visit = new_visit(worker, world)
    photo_id = str(uuid.uuid4())
    uploader = tus_client(live_server.url, token_of(worker)).uploader(
        file_stream=io.BytesIO(data),
        metadata={"visit": visit["id"], "id": photo_id},
        chunk_size=32 * 1024,
        upload_checksum=True,  # tuspy sends sha1 of every chunk
    )
    uploader.upload()
    assert worker.get(f"/api/v1/photos/{photo_id}/").json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_tuspy_is_stopped_after_its_first_chunk_when_the_file_is_not_a_photo(world, clients, private_root, live_server):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    data = svg + b" " * 3_000_000
    proxy = CuttingProxy(urlparse(live_server.url).port)
    try:
        uploader = tus_client(proxy.url, token_of(worker)).uploader(
            file_stream=io.BytesIO(data), metadata={"visit": visit["id"], "id": str(uuid.uuid4())}, chunk_size=65_536
        )
        with pytest.raises(TusUploadFailed) as failed:
            uploader.upload()
    finally:
        proxy.close()
    assert failed.value.status_code == 415
    assert json.loads(failed.value.response_content)["code"] == "unsupported_format"
    assert proxy.sent < 70_000  # one chunk of 64 KiB and the headers, not the 3 MB
    assert not PhotoUpload.objects.exists() and stored_files(private_root) == []


def test_tuspy_gets_a_413_at_creation_for_a_file_over_the_limit(world, clients, private_root, live_server, settings):
    settings.PHOTOS = {**settings.PHOTOS, "max_bytes": 100_000}
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample("ianare_jpg_gps_DSCN0010.jpg")
    uploader = tus_client(live_server.url, token_of(worker)).uploader(
        file_stream=io.BytesIO(data), metadata={"visit": visit["id"], "id": str(uuid.uuid4())}
    )
    with pytest.raises(TusCommunicationError) as failed:
        uploader.upload()
    assert failed.value.status_code == 413
    assert json.loads(failed.value.response_content)["code"] == "file_too_large"
    assert not PhotoUpload.objects.exists()
