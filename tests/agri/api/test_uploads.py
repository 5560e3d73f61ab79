"""Resumable photo uploads (tus 1.0) through the API: the protocol's answers and headers, early refusals, the limits,
and a finished upload becoming the same photo as a multipart upload."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from agri.models import Photo, PhotoUpload
from tests.agri.photo_support import new_visit, sample, stored_files, upload
from tests.agri.upload_support import TUS, create, metadata_header, patch

NIKON = "ianare_jpg_gps_DSCN0010.jpg"
IPHONE = "ianare_heic_mobile_iphone_13_pro_max.HEIC"


def location(response) -> str:
    assert response.status_code == 201, response.content
    return response["Location"].removeprefix("http://testserver")


def test_options_discovers_the_server_without_a_login(client, db):
    response = client.options("/api/v1/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Resumable"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert response["Tus-Max-Size"] == str(25 * 1024 * 1024)
    assert "sha256" in response["Tus-Checksum-Algorithm"].split(",")


def test_pieces_in_order_make_the_photo_and_head_reports_progress(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    photo_id = str(uuid.uuid4())
    created = create(worker, visit["id"], photo_id, len(data))
    url = location(created)
    assert created["Tus-Resumable"] == "1.0.0" and created["Upload-Expires"].endswith("GMT")

    first = patch(worker, url, 0, data[:50_000])
    assert first.status_code == 204, first.content
    assert first["Upload-Offset"] == "50000"
    head = worker.head(url, **TUS)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"]) == ("50000", str(len(data)))
    assert head["Upload-Metadata"].startswith(metadata_header(visit=visit["id"], id=photo_id))
    assert head["Cache-Control"] == "no-store"
    assert not Photo.objects.exists()

    last = patch(worker, url, 50_000, data[50_000:])
    assert last.status_code == 204, last.content
    assert last["Upload-Offset"] == str(len(data))
    photo = worker.get(f"/api/v1/photos/{photo_id}/").json()
    assert photo["visit"] == visit["id"] and photo["sha256"] == hashlib.sha256(data).hexdigest()
    # The pieces are gone from the store: only the photo's three files are left.
    assert len(stored_files(private_root)) == 3
    assert worker.head(url, **TUS)["Upload-Offset"] == str(len(data))


def test_creation_with_upload_takes_the_first_piece(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    photo_id = str(uuid.uuid4())
    created = create(worker, visit["id"], photo_id, len(data), body=data[:10_000])
    assert created.status_code == 201 and created["Upload-Offset"] == "10000"
    assert patch(worker, location(created), 10_000, data[10_000:]).status_code == 204
    assert Photo.objects.get(pk=photo_id).size_bytes == len(data)


def test_a_declared_length_over_the_limit_is_a_413_at_creation(world, clients, private_root, settings):
    settings.PHOTOS = {**settings.PHOTOS, "max_bytes": 1_000_000}
    worker = clients["worker"]
    visit = new_visit(worker, world)
    response = create(worker, visit["id"], str(uuid.uuid4()), 1_000_001)
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert response["Tus-Resumable"] == "1.0.0"
    assert not PhotoUpload.objects.exists()


def test_first_bytes_of_another_format_are_a_415_before_the_rest_and_the_upload_is_gone(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    html = b"<!doctype html><script>alert(1)</script>" + b" " * 2000
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 3_000_000))
    response = patch(worker, url, 0, html)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_format"
    assert worker.head(url, **TUS).status_code == 404
    assert stored_files(private_root) == []
    # A JPEG signature carrying markup in the sniffed bytes is a polyglot, refused the same way.
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 3_000_000))
    polyglot = b"\xff\xd8\xff\xe0" + b"<html><body>x</body></html>" + b"\x00" * 2000
    response = patch(worker, url, 0, polyglot)
    assert (response.status_code, response.json()["code"]) == (415, "polyglot")


def test_the_head_is_checked_once_it_is_whole_even_across_small_pieces(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 100_000))
    assert patch(worker, url, 0, b"PK\x03\x04" + b"\x00" * 6).status_code == 204  # too short to tell yet
    response = patch(worker, url, 10, b"\x00" * 2000)
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_format")
    assert stored_files(private_root) == []


def test_another_workers_visit_is_a_404_and_another_accounts_upload_too(world, clients, private_root):
    visit = new_visit(clients["worker"], world)
    response = create(clients["worker2"], visit["id"], str(uuid.uuid4()), 1000)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    url = location(create(clients["worker"], visit["id"], str(uuid.uuid4()), 1000))
    assert clients["worker2"].head(url, **TUS).status_code == 404
    assert patch(clients["worker2"], url, 0, b"\xff\xd8\xff").status_code == 404
    assert clients["worker2"].delete(url, **TUS).status_code == 404
    assert clients["worker"].head(url, **TUS).status_code == 200


def test_metadata_without_visit_and_id_is_a_400_naming_them(world, clients, private_root):
    response = create(clients["worker"], "", "", 1000, HTTP_UPLOAD_METADATA=metadata_header(filename="a.jpg"))
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"visit", "id"}
    response = create(clients["worker"], "", "", 1000, HTTP_UPLOAD_METADATA="visit not-base64!")
    assert response.status_code == 400 and "Upload-Metadata" in response.json()["fields"]


def test_other_bytes_under_a_stored_photo_id_are_a_409_and_the_same_bytes_a_replay(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    photo_id = str(uuid.uuid4())
    assert upload(worker, visit["id"], sample(NIKON), photo_id=photo_id).status_code == 201
    stored = stored_files(private_root)

    same = sample(NIKON)
    url = location(create(worker, visit["id"], photo_id, len(same)))
    assert patch(worker, url, 0, same).status_code == 204
    other = sample("ianare_jpg_gps_DSCN0012.jpg")
    url = location(create(worker, visit["id"], photo_id, len(other)))
    assert patch(worker, url, 0, other[:5000]).status_code == 204
    response = patch(worker, url, 5000, other[5000:])
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert Photo.objects.count() == 1 and Photo.objects.get().sha256 == hashlib.sha256(same).hexdigest()
    assert stored_files(private_root) == stored  # neither upload left a byte behind
    assert worker.head(url, **TUS).status_code == 404


def test_a_wrong_offset_is_a_409_and_nothing_is_written(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), len(data)))
    assert patch(worker, url, 0, data[:4000]).status_code == 204
    for offset in (0, 3999, 4001):
        response = patch(worker, url, offset, data[offset : offset + 1000])
        assert response.status_code == 409
        assert response.json()["code"] == "offset_mismatch"
    assert worker.head(url, **TUS)["Upload-Offset"] == "4000"
    assert len(stored_files(private_root)) == 1


def test_a_checksum_mismatch_is_a_460_and_a_matching_one_is_taken(world, clients, private_root):
    import base64

    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), len(data)))
    piece = data[:8000]
    wrong = base64.b64encode(hashlib.sha256(piece + b"x").digest()).decode()
    response = patch(worker, url, 0, piece, HTTP_UPLOAD_CHECKSUM=f"sha256 {wrong}")
    assert response.status_code == 460
    assert response.json()["code"] == "checksum_mismatch"
    assert worker.head(url, **TUS)["Upload-Offset"] == "0"
    assert stored_files(private_root) == []
    response = patch(worker, url, 0, piece, HTTP_UPLOAD_CHECKSUM="crc32 AAAA")
    assert response.status_code == 400 and response.json()["code"] == "checksum_algorithm_unsupported"
    right = base64.b64encode(hashlib.sha256(piece).digest()).decode()
    assert patch(worker, url, 0, piece, HTTP_UPLOAD_CHECKSUM=f"sha256 {right}")["Upload-Offset"] == "8000"


def test_tus_errors_for_version_content_type_and_length(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    response = worker.post(
        "/api/v1/uploads/",
        HTTP_TUS_RESUMABLE="0.2.2",
        HTTP_UPLOAD_LENGTH="1000",
        HTTP_UPLOAD_METADATA=metadata_header(visit=visit["id"], id=str(uuid.uuid4())),
    )
    assert response.status_code == 412
    assert response.json()["code"] == "tus_version_unsupported" and response["Tus-Version"] == "1.0.0"
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 1000))
    response = worker.generic("PATCH", url, b"\xff\xd8\xff", content_type="application/octet-stream",
                              HTTP_UPLOAD_OFFSET="0", **TUS)  # fmt: skip
    assert response.status_code == 415
    response = patch(worker, url, 0, b"\xff" * 1001)
    assert (response.status_code, response.json()["code"]) == (413, "upload_length_exceeded")
    response = create(worker, visit["id"], str(uuid.uuid4()), 1000, HTTP_UPLOAD_LENGTH="many")
    assert response.status_code == 400 and "Upload-Length" in response.json()["fields"]


def test_termination_removes_the_upload_and_its_bytes(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), len(data)))
    assert patch(worker, url, 0, data[:40_000]).status_code == 204
    assert len(stored_files(private_root)) == 1
    response = worker.delete(url, **TUS)
    assert response.status_code == 204 and response["Tus-Resumable"] == "1.0.0"
    assert stored_files(private_root) == []
    assert worker.head(url, **TUS).status_code == 404


def test_an_expired_upload_is_a_410(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 5000))
    PhotoUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert worker.head(url, **TUS).status_code == 410
    response = patch(worker, url, 0, b"\xff\xd8\xff")
    assert (response.status_code, response.json()["code"]) == (410, "upload_expired")


def test_per_account_limits_on_open_uploads_and_pending_bytes(world, clients, private_root, settings):
    settings.PHOTO_UPLOADS = {**settings.PHOTO_UPLOADS, "max_open": 2, "max_pending_bytes": 5_000_000}
    worker = clients["worker"]
    visit = new_visit(worker, world)
    assert create(worker, visit["id"], str(uuid.uuid4()), 3_000_000).status_code == 201
    response = create(worker, visit["id"], str(uuid.uuid4()), 2_000_001)
    assert (response.status_code, response.json()["code"]) == (413, "pending_uploads_too_large")
    assert create(worker, visit["id"], str(uuid.uuid4()), 2_000_000).status_code == 201
    response = create(worker, visit["id"], str(uuid.uuid4()), 10)
    assert (response.status_code, response.json()["code"]) == (429, "too_many_uploads")
    # The limits are per account: another worker starts uploads all the same.
    other = new_visit(clients["worker2"], world, household=str(world["H2"].pk))
    assert create(clients["worker2"], other["id"], str(uuid.uuid4()), 3_000_000).status_code == 201


@pytest.mark.parametrize("name", [NIKON, IPHONE])
def test_pieces_with_a_chunk_size_of_their_own_give_byte_identical_originals(world, clients, private_root, name):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(name)
    photo_id = str(uuid.uuid4())
    url = location(create(worker, visit["id"], photo_id, len(data)))
    offset = 0
    for size in (7, 1500, 65_536, 300_001, len(data)):
        piece = data[offset : offset + size]
        if piece:
            assert patch(worker, url, offset, piece).status_code == 204
            offset += len(piece)
    original = worker.get(f"/api/v1/photos/{photo_id}/original/")
    assert b"".join(original.streaming_content) == data


def test_a_client_without_patch_posts_with_x_http_method_override(world, clients, private_root):
    """WeChat mini-programs' wx.request sends no PATCH: tus lets them POST with X-HTTP-Method-Override."""
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    photo_id = str(uuid.uuid4())
    url = location(create(worker, visit["id"], photo_id, len(data)))
    override = {**TUS, "HTTP_X_HTTP_METHOD_OVERRIDE": "PATCH"}
    first = worker.generic("POST", url, data[:9000], content_type="application/offset+octet-stream",
                           HTTP_UPLOAD_OFFSET="0", **override)  # fmt: skip
    assert first.status_code == 204 and first["Upload-Offset"] == "9000"
    head = worker.post(url, **{**TUS, "HTTP_X_HTTP_METHOD_OVERRIDE": "HEAD"})
    assert head.status_code == 200 and head["Upload-Offset"] == "9000"
    rest = worker.generic("POST", url, data[9000:], content_type="application/offset+octet-stream",
                          HTTP_UPLOAD_OFFSET="9000", **override)  # fmt: skip
    assert rest.status_code == 204
    assert Photo.objects.filter(pk=photo_id).exists()
    assert worker.post(url, **TUS).status_code == 405  # a plain POST to an upload is not a tus request


def test_pieces_count_against_the_write_throttle_and_heads_do_not(world, clients, private_root, settings):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), 100_000))
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "100/min", "write": "2/min"},
    }
    cache.clear()  # the visit and the creation were writes too: start the minute afresh
    data = sample(NIKON)
    assert patch(worker, url, 0, data[:2000]).status_code == 204
    assert patch(worker, url, 2000, data[2000:4000]).status_code == 204
    for _ in range(5):
        assert worker.head(url, **TUS).status_code == 200
    response = patch(worker, url, 4000, data[4000:6000], HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429 and response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0 and response["Tus-Resumable"] == "1.0.0"
    assert worker.head(url, **TUS)["Upload-Offset"] == "4000"


def test_a_request_that_loses_a_race_for_its_offset_is_a_409_and_leaves_no_bytes(
    world, clients, private_root, monkeypatch
):
    """Two requests for the same offset (a phone retrying while its old request still runs): the one that commits
    second finds the offset moved on, removes its own piece and answers 409."""
    from agri.services import uploads as service

    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), len(data)))
    assert patch(worker, url, 0, data[:3000]).status_code == 204
    save = service._save

    def save_then_lose(name, piece):
        stored = save(name, piece)
        PhotoUpload.objects.update(offset=3000 + len(piece))  # the other request commits first
        return stored

    monkeypatch.setattr(service, "_save", save_then_lose)
    response = patch(worker, url, 3000, data[3000:6000])
    assert (response.status_code, response.json()["code"]) == (409, "offset_mismatch")
    assert len(stored_files(private_root)) == 1  # the first piece only


def test_a_visit_deleted_before_the_last_byte_gets_no_photo(world, clients, private_root):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample(NIKON)
    url = location(create(worker, visit["id"], str(uuid.uuid4()), len(data)))
    assert patch(worker, url, 0, data[:3000]).status_code == 204
    assert worker.delete(f"/api/v1/visits/{visit['id']}/").status_code == 204
    response = patch(worker, url, 3000, data[3000:])
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not Photo.objects.exists() and not PhotoUpload.objects.exists()
    assert stored_files(private_root) == []
