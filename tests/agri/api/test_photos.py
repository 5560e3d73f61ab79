"""Visit photos through the API: real samples, idempotent uploads, derivatives, evidence flags, serving, the ZIP."""

import csv
import hashlib
import io
import uuid
import zipfile
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image, ImageOps

from agri.models import Photo, Visit
from tests.agri.photo_support import (
    HOME_LAT,
    HOME_LON,
    SAMPLES,
    gps_exif,
    image_bytes,
    jpeg_with_exif,
    new_visit,
    sample,
    stored_files,
    upload,
    with_exif,
)

NIKON = "ianare_jpg_gps_DSCN0010.jpg"


pytestmark = pytest.mark.usefixtures("private_root")  # every test stores its photos in a store of its own


def read_back(client, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/jpeg"
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def assert_no_metadata(im: Image.Image) -> None:
    """No EXIF (so no GPS), no XMP, no comment, no colour profile; only the JFIF header Pillow writes."""
    assert im.format == "JPEG"
    assert not im.getexif()
    assert set(im.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
    assert not [segment for segment, _ in im.applist if segment not in ("APP0",)]


def photo_flags(visit_json: dict) -> list[str]:
    return [flag for flag in visit_json["flags"] if flag.startswith("photo_")]


def local(dt_text: str) -> datetime:
    return datetime.fromisoformat(dt_text)


# --- the real samples ------------------------------------------------------------------------------------------

# file -> (content_type, width, height, taken_at, lat, lon, alt_m, camera, orientation, flags without time checks)
EXPECTED = {
    "ianare_jpg_gps_DSCN0010.jpg": (
        "image/jpeg",
        640,
        480,
        "2008-10-22T16:28:39+08:00",
        43.467448,
        11.885127,
        None,
        "NIKON COOLPIX P6000",
        1,
        [],
    ),
    "ianare_jpg_gps_DSCN0012.jpg": (
        "image/jpeg",
        640,
        480,
        "2008-10-22T16:29:49+08:00",
        43.467157,
        11.885395,
        None,
        "NIKON COOLPIX P6000",
        1,
        [],
    ),
    "ianare_jpg_gps_DSCN0021.jpg": (
        "image/jpeg",
        640,
        480,
        "2008-10-22T16:38:20+08:00",
        43.467082,
        11.884538,
        None,
        "NIKON COOLPIX P6000",
        1,
        [],
    ),
    "ianare_heic_IMG_5195.HEIC": (
        "image/heic",
        2566,
        3313,
        "2021-04-11T15:47:53.054000-05:00",
        39.051344,
        -94.288772,
        260.6,
        "Apple iPhone 11 Pro Max",
        None,
        [],
    ),
    # No Exif\0\0 prefix; only IFD0 DateTime (no offset: read as Asia/Shanghai), no camera make or model.
    "ianare_heic_mobile_HMD_Nokia_8.3_5G_hdr.heif": (
        "image/heic",
        4608,
        3456,
        "2022-01-12T07:30:14.364000+08:00",
        40.662993,
        -3.763741,
        940.3,
        "",
        1,
        [],
    ),
    # Stored rotated (orientation 6): pillow-heif turns it upright, so it is portrait, and is not rotated twice.
    "ianare_heic_mobile_iphone_13_pro_max.HEIC": (
        "image/heic",
        3024,
        4032,
        "2022-02-16T12:55:41.762000+01:00",
        None,
        None,
        None,
        "Apple iPhone 13 Pro Max",
        6,
        [],
    ),
    "ianare_heic_samplefilehub.heif": ("image/heic", 640, 426, None, None, None, None, "", 1, []),
    # An empty GPS pointer.
    "ianare_jpg_tests_45-gps_ifd.jpg": (
        "image/jpeg",
        1600,
        900,
        "2012-06-23T06:55:49+08:00",
        None,
        None,
        None,
        "Polyphony Digital Inc. Gran Turismo 5",
        1,
        [],
    ),
    # An empty GPS IFD; orientation 6 on a 10x10 image.
    "pillow_empty_gps_ifd.jpg": (
        "image/jpeg",
        10,
        10,
        "2020-07-27T14:46:48.780685+08:00",
        None,
        None,
        None,
        "Xiaomi Redmi Note 9S",
        6,
        [],
    ),
    # Malformed GPS rationals: no position, flagged; the (well-formed, if unlikely) time is kept.
    "pillow_exif_gps.jpg": (
        "image/jpeg",
        8,
        8,
        "2099-09-29T10:10:10+08:00",
        None,
        None,
        None,
        "Make XXX-XXX",
        None,
        ["exif_invalid"],
    ),
}


def test_every_sample_is_covered():
    assert sorted(EXPECTED) == SAMPLES


@pytest.mark.parametrize("name", SAMPLES)
def test_real_sample_uploads_with_its_exif(world, clients, name):
    content_type, width, height, taken_at, lat, lon, alt, camera, orientation, flags = EXPECTED[name]
    visit = new_visit(clients["worker"], world)
    data = sample(name)
    response = upload(clients["worker"], visit["id"], data, filename=name)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["visit"] == visit["id"]
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == (width, height)
    assert body["taken_at"] == taken_at
    assert body["exif_lat"] is None if lat is None else round(body["exif_lat"], 6) == lat
    assert body["exif_lon"] is None if lon is None else round(body["exif_lon"], 6) == lon
    assert body["exif_alt_m"] is None if alt is None else round(body["exif_alt_m"], 1) == alt
    assert body["camera"] == camera
    assert body["orientation"] == orientation
    # Every sample is far (in place or time) from a visit in Yunyang today, or says nothing about it.
    assert set(body["flags"]) - {"far_from_visit", "time_mismatch"} == set(flags)
    assert ("far_from_visit" in body["flags"]) == (lat is not None)
    assert ("time_mismatch" in body["flags"]) == (taken_at is not None)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()

    original = clients["worker"].get(body["original"])
    assert original.status_code == 200
    assert original["Content-Type"] == content_type
    assert b"".join(original.streaming_content) == data  # byte for byte
    display = read_back(clients["worker"], body["display"])
    thumbnail = read_back(clients["worker"], body["thumbnail"])
    # Upright: the derivatives have the photo's upright proportions, within the size limits.
    assert max(display.size) == min(1600, max(width, height))
    assert max(thumbnail.size) == min(320, max(width, height))
    for im in (display, thumbnail):
        assert (im.width >= im.height) == (width >= height)
        assert_no_metadata(im)


def test_heic_stored_rotated_is_upright_once(world, clients):
    """iPhone 13 HEIC: stored landscape with orientation 6. pillow-heif turns it upright; a second turn would make
    the derivatives landscape again."""
    visit = new_visit(clients["worker"], world)
    body = upload(clients["worker"], visit["id"], sample("ianare_heic_mobile_iphone_13_pro_max.HEIC")).json()
    assert read_back(clients["worker"], body["display"]).size == (1200, 1600)
    assert read_back(clients["worker"], body["thumbnail"]).size == (240, 320)


@pytest.mark.parametrize(("orientation", "size"), [(3, (640, 480)), (6, (480, 640)), (8, (480, 640))])
def test_jpeg_derivatives_are_turned_upright(world, clients, orientation, size):
    """A copy of a real JPEG tagged with an orientation: the derivatives show it the way exif_transpose does."""
    data = with_exif(sample(NIKON), orientation=orientation)
    visit = new_visit(clients["worker"], world)
    body = upload(clients["worker"], visit["id"], data).json()
    assert (body["width"], body["height"], body["orientation"]) == (*size, orientation)
    display = read_back(clients["worker"], body["display"]).convert("L")
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("L")
    unturned = Image.open(io.BytesIO(data)).convert("L").resize(upright.size)
    assert display.size == upright.size == size

    def diff(a, b):
        return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())

    assert diff(display, upright) < 6
    assert diff(display, unturned) > 4 * diff(display, upright)


# --- idempotency ----------------------------------------------------------------------------------------------------


def test_replay_returns_the_stored_photo_and_creates_nothing(world, clients, private_root):
    visit = new_visit(clients["worker"], world)
    photo_id = str(uuid.uuid4())
    first = upload(clients["worker"], visit["id"], sample(NIKON), photo_id=photo_id)
    files = stored_files(private_root)
    again = upload(clients["worker"], visit["id"], sample(NIKON), photo_id=photo_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Photo.objects.count() == 1
    assert stored_files(private_root) == files and len(files) == 3
    assert clients["worker"].get(f"/api/v1/visits/{visit['id']}/").json()["photos_present"] == 1


def test_same_id_with_other_bytes_is_a_conflict(world, clients, private_root):
    visit = new_visit(clients["worker"], world)
    photo_id = str(uuid.uuid4())
    upload(clients["worker"], visit["id"], sample(NIKON), photo_id=photo_id)
    other = upload(clients["worker"], visit["id"], sample("ianare_jpg_gps_DSCN0012.jpg"), photo_id=photo_id)
    assert other.status_code == 409
    assert other.json()["code"] == "conflict"
    second_visit = new_visit(clients["worker"], world)
    moved = upload(clients["worker"], second_visit["id"], sample(NIKON), photo_id=photo_id)
    assert moved.status_code == 409
    stored = Photo.objects.get()
    assert stored.visit_id == uuid.UUID(visit["id"])
    assert len(stored_files(private_root)) == 3


def test_put_by_photo_id_is_the_same_upload(world, clients):
    visit = new_visit(clients["worker"], world)
    photo_id = str(uuid.uuid4())
    url = f"/api/v1/photos/{photo_id}/"

    def put(data):
        body = {"visit": visit["id"], "file": io.BytesIO(data)}
        body["file"].name = "photo.jpg"
        return clients["worker"].put(url, body, format="multipart")

    created = put(sample(NIKON))
    assert created.status_code == 201, created.content
    assert created.json()["id"] == photo_id and created.json()["visit"] == visit["id"]
    assert put(sample(NIKON)).status_code == 200
    assert put(sample("ianare_jpg_gps_DSCN0012.jpg")).status_code == 409
    assert clients["worker"].get(url).json() == created.json()
    posted = upload(clients["worker"], visit["id"], sample(NIKON), photo_id=photo_id)
    assert posted.status_code == 200 and posted.json() == created.json()
    assert Photo.objects.count() == 1


def test_photo_for_a_visit_not_synced_yet_is_a_404(world, clients):
    response = upload(clients["worker"], str(uuid.uuid4()), sample(NIKON))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- photos_present and incomplete visits ---------------------------------------------------------------------------


def test_visit_counts_its_photos_and_is_incomplete_until_they_are_all_there(world, clients):
    worker = clients["worker"]
    visit = new_visit(worker, world, photos_expected=2)
    done = new_visit(worker, world, photos_expected=0)

    def incomplete():
        return {v["id"] for v in worker.get("/api/v1/visits/?incomplete=true").json()["results"]}

    assert incomplete() == {visit["id"]}
    upload(worker, visit["id"], sample(NIKON))
    assert worker.get(f"/api/v1/visits/{visit['id']}/").json()["photos_present"] == 1
    assert incomplete() == {visit["id"]}
    upload(worker, visit["id"], sample("ianare_jpg_gps_DSCN0012.jpg"))
    assert worker.get(f"/api/v1/visits/{visit['id']}/").json()["photos_present"] == 2
    assert incomplete() == set()
    complete = {v["id"] for v in worker.get("/api/v1/visits/?incomplete=false").json()["results"]}
    assert complete == {visit["id"], done["id"]}


def test_upload_bumps_the_visit_so_phones_pull_it(world, clients):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    before = worker.get(f"/api/v1/visits/{visit['id']}/")
    since = timezone.now().isoformat()
    upload(worker, visit["id"], image_bytes("PNG"))
    after = worker.get(f"/api/v1/visits/{visit['id']}/")
    assert after["ETag"] != before["ETag"]
    assert after.json()["updated_at"] > before.json()["updated_at"]
    pulled = worker.get("/api/v1/visits/", {"updated_since": since}).json()["results"]
    assert [(v["id"], v["photos_present"], photo_flags(v)) for v in pulled] == [(visit["id"], 1, ["photo_no_exif"])]


def test_visit_has_a_photo_limit(world, clients, settings):
    settings.PHOTOS = {**settings.PHOTOS, "max_per_visit": 1}
    visit = new_visit(clients["worker"], world)
    assert upload(clients["worker"], visit["id"], sample(NIKON)).status_code == 201
    response = upload(clients["worker"], visit["id"], sample("ianare_jpg_gps_DSCN0012.jpg"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response.json() == {
        "code": "too_many_photos",
        "message": "This visit already has 1 photos, the most it may have.",
        "fields": {},
    }


# --- evidence checks ------------------------------------------------------------------------------------------------


def visit_at(clients, world, started: datetime, **overrides) -> dict:
    return new_visit(
        clients["worker"],
        world,
        started_at=started.isoformat(),
        ended_at=(started + timedelta(hours=1)).isoformat(),
        **overrides,
    )


def test_photo_taken_at_the_visit_has_no_flags(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    visit = visit_at(clients, world, started)
    data = with_exif(sample(NIKON), lat=HOME_LAT + 0.001, lon=HOME_LON, taken_at=started + timedelta(minutes=20))
    body = upload(clients["worker"], visit["id"], data).json()
    assert body["flags"] == []
    assert (round(body["exif_lat"], 6), round(body["exif_lon"], 6)) == (round(HOME_LAT + 0.001, 6), HOME_LON)
    assert local(body["taken_at"]) == (started + timedelta(minutes=20)).replace(microsecond=0)
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{visit['id']}/").json()) == []


def test_photo_far_from_the_visit_point_is_flagged_not_rejected(world, clients, settings):
    started = timezone.localtime() - timedelta(hours=3)
    visit = visit_at(clients, world, started)
    # About 2.2 km north of the visit point: over the default 1 km, under a 3 km setting.
    far = with_exif(sample(NIKON), lat=HOME_LAT + 0.02, lon=HOME_LON, taken_at=started)
    response = upload(clients["worker"], visit["id"], far)
    assert response.status_code == 201
    assert response.json()["flags"] == ["far_from_visit"]
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{visit['id']}/").json()) == ["photo_far_from_visit"]
    settings.PHOTO_CHECKS = {**settings.PHOTO_CHECKS, "max_visit_distance_m": 3000.0}
    again = upload(clients["worker"], visit["id"], with_exif(far, lat=HOME_LAT + 0.02, lon=HOME_LON, quality=80))
    assert again.json()["flags"] == []


def test_photo_taken_long_before_the_visit_is_flagged(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    visit = visit_at(clients, world, started)
    old = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started - timedelta(days=2))
    assert upload(clients["worker"], visit["id"], old).json()["flags"] == ["time_mismatch"]
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{visit['id']}/").json()) == ["photo_time_mismatch"]


@pytest.mark.parametrize(
    "damage",
    [{"pointer": 0x00FFFFF0}, {"pointer": 8}, {"lat_count": 2**30}],
    ids=["offset out of range", "IFD loop", "count of 2^30"],
)
def test_photo_with_a_malformed_gps_ifd_is_stored_and_flagged_exif_invalid(world, clients, damage):
    visit = new_visit(clients["worker"], world)
    response = upload(clients["worker"], visit["id"], jpeg_with_exif(gps_exif(**damage)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert "exif_invalid" in body["flags"]
    assert (body["exif_lat"], body["exif_lon"]) == (None, None)


def test_photo_without_exif_is_flagged(world, clients):
    visit = new_visit(clients["worker"], world)
    body = upload(clients["worker"], visit["id"], image_bytes("PNG")).json()
    assert body["flags"] == ["no_exif"]
    assert (body["taken_at"], body["exif_lat"], body["camera"], body["orientation"]) == (None, None, "", None)


def test_reused_photo_is_flagged_on_both_visits_whoever_took_them(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    data = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    first_visit = visit_at(clients, world, started)
    first = upload(clients["worker"], first_visit["id"], data).json()
    assert first["flags"] == []
    other_visit = new_visit(
        clients["worker2"],
        world,
        household=str(world["H2"].pk),
        started_at=started.isoformat(),
        ended_at=(started + timedelta(hours=1)).isoformat(),
    )
    second = upload(clients["worker2"], other_visit["id"], data).json()
    assert second["flags"] == ["reused"]
    assert clients["worker"].get(f"/api/v1/photos/{first['id']}/").json()["flags"] == ["reused"]
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{first_visit['id']}/").json()) == ["photo_reused"]
    assert photo_flags(clients["worker2"].get(f"/api/v1/visits/{other_visit['id']}/").json()) == ["photo_reused"]


def test_a_third_copy_flags_itself_and_leaves_the_flagged_copies_visits_alone(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    data = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    visits = [visit_at(clients, world, started) for _ in range(3)]
    first, second = (upload(clients["worker"], v["id"], data).json() for v in visits[:2])
    assert (first["flags"], second["flags"]) == ([], ["reused"])
    before = {v["id"]: Visit.objects.get(pk=v["id"]).version for v in visits[:2]}
    third = upload(clients["worker"], visits[2]["id"], data).json()
    assert third["flags"] == ["reused"]
    # Both earlier copies were already flagged: their visits are neither locked nor bumped again.
    assert {v["id"]: Visit.objects.get(pk=v["id"]).version for v in visits[:2]} == before
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{visits[2]['id']}/").json()) == ["photo_reused"]


def test_near_duplicate_on_another_visit_of_the_same_account_is_flagged(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    data = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    # The same picture saved again: other bytes, the same perceptual hash.
    resaved = with_exif(data, lat=HOME_LAT, lon=HOME_LON, taken_at=started, quality=70)
    assert resaved != data
    first_visit = visit_at(clients, world, started)
    second_visit = visit_at(clients, world, started)
    first = upload(clients["worker"], first_visit["id"], data).json()
    version = clients["worker"].get(f"/api/v1/visits/{first_visit['id']}/")["ETag"]
    # Another picture on the same account is not a near-duplicate.
    different = with_exif(sample("ianare_jpg_tests_45-gps_ifd.jpg"), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    assert upload(clients["worker"], second_visit["id"], different).json()["flags"] == []
    second = upload(clients["worker"], second_visit["id"], resaved).json()
    assert second["flags"] == ["near_duplicate"]
    assert clients["worker"].get(f"/api/v1/photos/{first['id']}/").json()["flags"] == ["near_duplicate"]
    first_after = clients["worker"].get(f"/api/v1/visits/{first_visit['id']}/")
    assert photo_flags(first_after.json()) == ["photo_near_duplicate"]
    assert first_after["ETag"] != version
    assert photo_flags(clients["worker"].get(f"/api/v1/visits/{second_visit['id']}/").json()) == [
        "photo_near_duplicate"
    ]
    assert clients["worker"].get("/api/v1/visits/", {"flag": "photo_near_duplicate"}).json()["count"] == 2


def test_near_duplicate_of_another_account_is_not_flagged(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    data = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    upload(clients["worker"], visit_at(clients, world, started)["id"], data)
    theirs = new_visit(
        clients["worker2"],
        world,
        household=str(world["H2"].pk),
        started_at=started.isoformat(),
        ended_at=(started + timedelta(hours=1)).isoformat(),
    )
    resaved = with_exif(data, lat=HOME_LAT, lon=HOME_LON, taken_at=started, quality=70)
    assert upload(clients["worker2"], theirs["id"], resaved).json()["flags"] == []


def test_editing_the_visit_keeps_its_photo_flags(world, clients):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    upload(worker, visit["id"], image_bytes("PNG"))
    current = worker.get(f"/api/v1/visits/{visit['id']}/")
    edited = worker.patch(
        f"/api/v1/visits/{visit['id']}/", {"notes": "补充说明"}, format="json", HTTP_IF_MATCH=current["ETag"]
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["notes"] == "补充说明"
    assert photo_flags(edited.json()) == ["photo_no_exif"]
    assert edited.json()["photos_present"] == 1


# --- scoping and roles ----------------------------------------------------------------------------------------------


@pytest.fixture
def worker_photo(world, clients):
    visit = new_visit(clients["worker"], world)
    return visit, upload(clients["worker"], visit["id"], sample(NIKON)).json()


@pytest.mark.parametrize("variant", ["", "original/", "display/", "thumbnail/"])
def test_another_worker_cannot_fetch_the_photo(clients, worker_photo, variant):
    _, photo = worker_photo
    response = clients["worker2"].get(f"/api/v1/photos/{photo['id']}/{variant}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("name", "code"), [("worker2", 404), ("expert", 200), ("admin", 200), ("viewer", 200)])
def test_visit_photo_list_is_scoped_like_the_visit(clients, worker_photo, name, code):
    visit, photo = worker_photo
    response = clients[name].get(f"/api/v1/visits/{visit['id']}/photos/")
    assert response.status_code == code
    if code == 200:
        assert [p["id"] for p in response.json()] == [photo["id"]]
        assert clients[name].get(photo["thumbnail"]).status_code == 200


@pytest.mark.parametrize(("name", "code"), [("worker2", 404), ("expert", 403), ("viewer", 403), ("admin", 403)])
def test_only_the_recorder_may_add_photos(clients, worker_photo, name, code):
    visit, _ = worker_photo
    response = upload(clients[name], visit["id"], sample("ianare_jpg_gps_DSCN0012.jpg"))
    assert response.status_code == code
    assert Photo.objects.count() == 1


def test_anonymous_gets_nothing(worker_photo):
    from rest_framework.test import APIClient

    visit, photo = worker_photo
    anonymous = APIClient()
    assert anonymous.get(photo["original"]).status_code == 401
    assert anonymous.get(f"/api/v1/visits/{visit['id']}/photos/").status_code == 401
    assert upload(anonymous, visit["id"], sample(NIKON)).status_code == 401


def test_photo_of_a_deleted_visit_is_gone(clients, worker_photo):
    visit, photo = worker_photo
    etag = clients["worker"].get(f"/api/v1/visits/{visit['id']}/")["ETag"]
    assert clients["worker"].delete(f"/api/v1/visits/{visit['id']}/", HTTP_IF_MATCH=etag).status_code == 204
    assert clients["worker"].get(photo["original"]).status_code == 404
    assert upload(clients["worker"], visit["id"], sample(NIKON)).status_code == 404


# --- serving --------------------------------------------------------------------------------------------------------


def test_files_are_served_privately_with_validators(clients, worker_photo):
    _, photo = worker_photo
    worker = clients["worker"]
    for variant, content_type in (("original", "image/jpeg"), ("display", "image/jpeg"), ("thumbnail", "image/jpeg")):
        response = worker.get(photo[variant])
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "private, max-age=86400"
        etag = response["ETag"]
        assert etag.startswith('"') and not etag.startswith('W/"')
        cached = worker.get(photo[variant], HTTP_IF_NONE_MATCH=etag)
        assert cached.status_code == 304
        assert cached["ETag"] == etag and cached.content == b""
        assert worker.get(photo[variant], HTTP_IF_NONE_MATCH='"something-else"').status_code == 200
    assert "attachment" in worker.get(photo["original"])["Content-Disposition"]
    assert len({worker.get(photo[v])["ETag"] for v in ("original", "display", "thumbnail")}) == 3


def test_image_clients_asking_for_images_get_them(clients, worker_photo):
    _, photo = worker_photo
    response = clients["worker"].get(photo["thumbnail"], HTTP_ACCEPT="image/webp,image/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    missing = clients["worker2"].get(photo["thumbnail"], HTTP_ACCEPT="image/webp,image/*")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_no_public_url_reaches_a_photo(client, clients, worker_photo, private_root):
    _, photo = worker_photo
    names = [p.relative_to(private_root).as_posix() for p in stored_files(private_root)]
    assert len(names) == 3
    for name in names:
        for prefix in ("/media/", "/media/private/photos/", "/private/photos/", "/static/"):
            assert client.get(prefix + name).status_code == 404
    stored = Photo.objects.get(pk=photo["id"])
    assert all(photo[v].endswith(f"/api/v1/photos/{photo['id']}/{v}/") for v in ("original", "display", "thumbnail"))
    assert stored.original.name not in str(photo)


def test_photo_json_contract(clients, worker_photo):
    visit, photo = worker_photo
    assert list(photo) == [
        "id",
        "visit",
        "sha256",
        "width",
        "height",
        "content_type",
        "taken_at",
        "exif_lat",
        "exif_lon",
        "exif_alt_m",
        "camera",
        "orientation",
        "flags",
        "created_at",
        "original",
        "display",
        "thumbnail",
    ]
    assert photo["original"] == f"http://testserver/api/v1/photos/{photo['id']}/original/"


# --- list and query counts ------------------------------------------------------------------------------------------


def _bulk_photos(visit_id, user, n: int) -> None:
    Photo.objects.bulk_create(
        Photo(
            id=uuid.uuid4(),
            visit_id=visit_id,
            user=user,
            sha256=f"{i:064x}",
            size_bytes=1000,
            content_type="image/jpeg",
            width=640,
            height=480,
            original=f"aa/{i}-original.jpg",
            display=f"aa/{i}-display.jpg",
            thumbnail=f"aa/{i}-thumbnail.jpg",
        )
        for i in range(n)
    )


@pytest.mark.parametrize("n", [5, 50])
def test_visit_photo_list_query_count_does_not_grow(world, clients, django_assert_num_queries, n):
    visit = new_visit(clients["worker"], world)
    _bulk_photos(visit["id"], world.users["worker"], n)
    worker = clients["worker"]
    worker.get(f"/api/v1/visits/{visit['id']}/photos/")  # token refresh out of the way
    # the token with its user and linked worker (agri.api.authentication) is one query; the rest reads the visit
    # and its photos
    with django_assert_num_queries(3):
        response = worker.get(f"/api/v1/visits/{visit['id']}/photos/")
    assert response.status_code == 200
    assert len(response.json()) == n


# --- bulk download --------------------------------------------------------------------------------------------------


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response.streaming
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_bureau_downloads_filtered_photos_as_a_streamed_zip_with_a_manifest(world, clients):
    started = timezone.localtime() - timedelta(hours=3)
    visit = visit_at(clients, world, started)
    data = with_exif(sample(NIKON), lat=HOME_LAT, lon=HOME_LON, taken_at=started)
    photo = upload(clients["worker"], visit["id"], data).json()
    heic = upload(clients["worker"], visit["id"], sample("ianare_heic_IMG_5195.HEIC")).json()
    other = visit_at(clients, world, started, kind="training", participants=12)
    upload(clients["worker"], other["id"], image_bytes("PNG"))

    archive = _zip(clients["admin"].get("/api/v1/exports/photos/", {"kind": "diagnosis"}))
    names = archive.namelist()
    folder = f"{started:%Y%m%d}_{visit['id']}"
    assert names == ["manifest.csv", f"{folder}/{photo['id']}.jpg", f"{folder}/{heic['id']}.heic"]
    assert archive.read(names[1]) == data
    assert archive.read(names[2]) == sample("ianare_heic_IMG_5195.HEIC")
    raw = archive.read("manifest.csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["photo"] for r in rows] == [photo["id"], heic["id"]]
    first, second = rows
    assert first["visit"] == visit["id"]
    assert (first["visit_kind"], first["actor"]) == ("diagnosis", world["W1"].name)  # a Chinese name
    assert first["file"] == names[1]
    assert (first["exif_lat"], first["exif_lon"]) == (f"{HOME_LAT:.6f}", f"{HOME_LON:.6f}")
    assert local(first["taken_at"]) == started.replace(microsecond=0)
    assert first["flags"] == ""
    assert (second["exif_lat"], second["exif_lon"], second["exif_alt_m"]) == ("39.051344", "-94.288772", "260.6")
    assert second["taken_at"] == "2021-04-11T15:47:53.054000-05:00"
    assert second["flags"] == "far_from_visit;time_mismatch"
    assert set(second["visit_flags"].split(";")) >= {"photo_far_from_visit", "photo_time_mismatch"}


def test_zip_of_display_images(world, clients):
    visit = new_visit(clients["worker"], world)
    photo = upload(clients["worker"], visit["id"], sample("ianare_heic_IMG_5195.HEIC")).json()
    archive = _zip(clients["viewer"].get("/api/v1/exports/photos/", {"variant": "display"}))
    name = archive.namelist()[1]
    assert name.endswith(f"/{photo['id']}.jpg")
    assert Image.open(io.BytesIO(archive.read(name))).size == (1239, 1600)
    bad = clients["viewer"].get("/api/v1/exports/photos/", {"variant": "thumbnail"})
    assert bad.status_code == 400 and bad.json()["fields"]["variant"][0]["code"] == "invalid_choice"
    bad_filter = clients["viewer"].get("/api/v1/exports/photos/", {"date_from": "yesterday"})
    assert bad_filter.status_code == 400 and "date_from" in bad_filter.json()["fields"]


@pytest.mark.parametrize("name", ["worker", "expert", "commissioner", "station"])
def test_zip_is_for_bureau_staff_only(clients, worker_photo, name):
    response = clients[name].get("/api/v1/exports/photos/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_zip_is_scoped_to_the_jurisdiction(world, clients, worker_photo):
    _, photo = worker_photo
    fengjie = login_fengjie_viewer()
    archive = _zip(fengjie.get("/api/v1/exports/photos/"))
    assert archive.namelist() == ["manifest.csv"]
    assert len(_zip(clients["viewer"].get("/api/v1/exports/photos/")).namelist()) == 2
    assert _zip(clients["township_viewer"].get("/api/v1/exports/photos/")).namelist()[1].endswith(f"{photo['id']}.jpg")


def login_fengjie_viewer():
    from agri.models import Role
    from tests import factories as f
    from tests.support import login

    return login(f.UserFactory(username="fengjie-viewer", role=Role.BUREAU_VIEWER, jurisdiction="500236"))


def test_visit_row_of_a_photo_is_untouched_by_a_failed_upload(world, clients):
    visit = new_visit(clients["worker"], world)
    before = Visit.objects.get(pk=visit["id"])
    assert upload(clients["worker"], visit["id"], b"<svg xmlns='http://www.w3.org/2000/svg'/>").status_code == 415
    after = Visit.objects.get(pk=visit["id"])
    assert (after.version, after.updated_at, after.photos_present) == (before.version, before.updated_at, 0)


def test_admin_shows_a_photo_read_only_with_links_to_the_checked_views(client, clients, worker_photo):
    from tests.factories import UserFactory

    _, photo = worker_photo
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/agri/photo/{photo['id']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for variant in ("thumbnail", "display", "original"):
        assert f'href="/api/v1/photos/{photo["id"]}/{variant}/"' in html
    assert "/media/" not in html
    assert client.get("/admin/agri/photo/add/").status_code == 403
    assert client.get(f"/api/v1/photos/{photo['id']}/thumbnail/").status_code == 200  # the session works there too
