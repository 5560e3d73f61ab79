"""Mass assignment (OWASP API3): read-only and server-set fields sent by a client are ignored, never stored.

One test per writable endpoint: the client sends every field the server owns with a forged value, and the
test checks both the response and the database row.
"""

import hashlib
import uuid
from datetime import timedelta

import h3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from agri.models import (
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    Industry,
    ModelHousehold,
    Photo,
    Role,
    Station,
    TechCommissioner,
    User,
    Visit,
)
from geo.crs import wgs84_to_gcj02
from geo.h3cells import to_hex
from geo.models import AdminDivision
from tests import factories as f
from tests.agri.map_support import map_villages
from tests.agri.photo_support import image_bytes, new_visit
from tests.factories import PASSWORD
from tests.support import login

FORGED_TIME = "2001-01-01T00:00:00+08:00"
FORGED_TIMESTAMPS = {"created_at": FORGED_TIME, "updated_at": FORGED_TIME}


def assert_fresh(obj, *fields):
    """Server-set timestamps were set by the server just now, not taken from the client."""
    for name in fields:
        assert getattr(obj, name) > timezone.now() - timedelta(minutes=5), name


def test_industry_id_is_server_set(world):
    owner = f.UserFactory(username="installation-admin", role=Role.BUREAU_ADMIN, jurisdiction="")
    response = login(owner).post("/api/v1/industries/", {"id": 999999, "code": "tea", "name": "茶叶", "sort_order": 5})
    assert response.status_code == 201, response.content
    assert Industry.objects.get(code="tea").pk != 999999
    assert response.json()["id"] == Industry.objects.get(code="tea").pk


def test_division_area_and_synthetic_flag_are_server_set(world):
    response = login(world.users["admin"]).post(
        "/api/v1/divisions/",
        {
            "code": "500235001009",
            "name": "新村",
            "level": "village",
            "parent": "500235001000",
            "area_km2": 12345.0,
            "boundary_synthetic": True,
            "fictional": True,
        },
    )
    assert response.status_code == 201, response.content
    division = AdminDivision.objects.get(code="500235001009")
    assert (division.area_km2, division.boundary_synthetic, division.fictional) == (None, False, False)
    body = response.json()
    assert (body["area_km2"], body["boundary_synthetic"], body["fictional"]) == (None, False, False)


def test_station_timestamps_are_server_set(world):
    body = {
        "name": "新站",
        "host_org": "合作社",
        "host_type": "cooperative",
        "lat": 30.95,
        "lon": 108.7,
        "village_code": "500235001001",
        **FORGED_TIMESTAMPS,
        "id": 999999,
    }
    response = login(world.users["admin"]).post("/api/v1/stations/", body)
    assert response.status_code == 201, response.content
    station = Station.objects.get(name="新站")
    assert station.pk != 999999
    assert_fresh(station, "created_at", "updated_at")
    assert response.json()["created_at"] != FORGED_TIME


def test_base_field_school_is_created_by_the_server_not_taken_from_the_client(world):
    body = {
        "name": "新基地",
        "industry": "citrus",
        "lat": 30.95,
        "lon": 108.7,
        "village_code": "500235001001",
        "field_school": world["FS9"].pk,
        **FORGED_TIMESTAMPS,
    }
    response = login(world.users["admin"]).post("/api/v1/demonstration-bases/", body)
    assert response.status_code == 201, response.content
    base = DemonstrationBase.objects.get(name="新基地")
    assert base.field_school.pk != world["FS9"].pk
    assert FieldSchool.objects.get(pk=world["FS9"].pk).base == world["B9"]
    assert_fresh(base, "created_at")


def test_field_school_cannot_be_moved_to_another_base(world):
    url = f"/api/v1/field-schools/{world['FS1'].pk}/"
    response = login(world.users["admin"]).patch(url, {"base": world["B2"].pk, "base_name": "别的", "capacity": 80})
    assert response.status_code == 200, response.content
    school = FieldSchool.objects.get(pk=world["FS1"].pk)
    assert (school.base_id, school.capacity) == (world["B1"].pk, 80)
    assert response.json()["base"] == world["B1"].pk


def test_expert_workers_count_is_computed(world):
    body = {"name": "赵专家", "industry": "goats", "county_code": "500236000000", "workers_count": 99}
    response = login(world.users["admin"]).post("/api/v1/experts/", body)
    # Fengjie is outside the admin's county: the county is checked, and nothing is stored.
    assert response.status_code == 400
    assert not Expert.objects.filter(name="赵专家").exists()
    world["E2"].active = False
    world["E2"].save(update_fields=["active"])
    body["county_code"] = "500235000000"
    response = login(world.users["admin"]).post("/api/v1/experts/", body)
    assert response.status_code == 201, response.content
    assert response.json().get("workers_count") != 99
    detail = login(world.users["admin"]).get(f"/api/v1/experts/{response.json()['id']}/").json()
    assert detail["workers_count"] == 0


def test_extension_worker_industry_and_households_count_are_derived(world):
    body = {
        "name": "钱推广",
        "expert": world["E1"].pk,
        "industry": "goats",
        "home_township_code": "500235001000",
        "households_count": 42,
        **FORGED_TIMESTAMPS,
    }
    response = login(world.users["admin"]).post("/api/v1/extension-workers/", body)
    assert response.status_code == 201, response.content
    assert response.json()["industry"] == "citrus"
    assert response.json().get("households_count") != 42
    worker = ExtensionWorker.objects.get(name="钱推广")
    detail = login(world.users["admin"]).get(f"/api/v1/extension-workers/{worker.pk}/").json()
    assert (detail["industry"], detail["households_count"]) == ("citrus", 0)
    assert worker.expert == world["E1"]
    assert_fresh(worker, "created_at")


def test_tech_commissioner_timestamps_are_server_set(world):
    body = {
        "name": "孙特派",
        "affiliation": "西南大学",
        "affiliation_type": "university",
        "county_code": "500235000000",
        "service_start_year": 2024,
        **FORGED_TIMESTAMPS,
    }
    response = login(world.users["admin"]).post("/api/v1/tech-commissioners/", body)
    assert response.status_code == 201, response.content
    assert_fresh(TechCommissioner.objects.get(name="孙特派"), "created_at", "updated_at")


def household_body(world, **extra):
    return {
        "id": str(uuid.uuid4()),
        "head_name": "陈大富",
        "lat": 30.95,
        "lon": 108.7,
        "village_code": "500235001001",
        **extra,
    }


def test_household_count_tombstone_and_timestamps_are_server_set(world):
    client = login(world.users["worker"])
    body = household_body(world, farmers_count=99, deleted=True, **FORGED_TIMESTAMPS)
    response = client.post("/api/v1/model-households/", body)
    assert response.status_code == 201, response.content
    assert (response.json()["farmers_count"], response.json()["deleted"]) == (0, False)
    household = ModelHousehold.objects.get(pk=body["id"])
    assert household.deleted_at is None
    assert household.worker == world["W1"]
    assert_fresh(household, "created_at", "updated_at")
    listed = client.get("/api/v1/model-households/").json()["results"]
    assert body["id"] in {h["id"] for h in listed}


def test_household_patch_cannot_forge_the_tombstone_move_the_id_or_take_a_siblings_worker(world):
    client = login(world.users["worker"])
    url = f"/api/v1/model-households/{world['H1'].pk}/"
    new_id = str(uuid.uuid4())
    response = client.patch(
        url, {"id": new_id, "deleted": True, "farmers_count": 0, "address": "五组"}, HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200, response.content
    household = ModelHousehold.objects.get(pk=world["H1"].pk)
    assert (household.address, household.deleted_at) == ("五组", None)
    assert not ModelHousehold.objects.filter(pk=new_id).exists()
    response = client.patch(url, {"worker": world["W2"].pk}, HTTP_IF_MATCH="*")
    assert response.status_code == 400
    assert ModelHousehold.objects.get(pk=world["H1"].pk).worker == world["W1"]


def test_farmer_tombstone_and_timestamps_are_server_set(world):
    client = login(world.users["worker"])
    body = {
        "id": str(uuid.uuid4()),
        "household": str(world["H1"].pk),
        "name": "刘小兰",
        "village_code": "500235001001",
        "deleted": True,
        **FORGED_TIMESTAMPS,
    }
    response = client.post("/api/v1/farmers/", body)
    assert response.status_code == 201, response.content
    assert response.json()["deleted"] is False
    farmer = Farmer.objects.get(pk=body["id"])
    assert farmer.deleted_at is None
    assert_fresh(farmer, "created_at", "updated_at")
    response = client.patch(
        f"/api/v1/farmers/{body['id']}/", {"id": str(uuid.uuid4()), "deleted": True}, HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert Farmer.objects.filter(pk=body["id"], deleted_at__isnull=True).exists()


# --- visits -------------------------------------------------------------------------------------

SERVER_SET_VISIT_FIELDS = {
    "division_code": "500236001001",  # a Fengjie village: the point is in Yunyang
    "township_code": "500236001000",
    "flags": [],
    "photos_present": 7,
    "received_at": FORGED_TIME,
    "updated_at": FORGED_TIME,
    "deleted": True,
    "actor_type": "expert",
    "actor_id": 1,
    "user": 1,
    "version": 99,
    "flag_bits": 0,
}


@pytest.fixture
def mapped_world(world):
    """Village polygons, so that the server assigns a division to the point."""
    map_villages("500235001001", "500236001001")
    return world


def visit_body(world, **extra):
    return {
        "id": str(uuid.uuid4()),
        "kind": "guidance",
        "industry": "citrus",
        "household": str(world["H1"].pk),
        "started_at": (timezone.now() - timedelta(hours=2)).isoformat(),
        "lat": 30.95,
        "lon": 108.70,
        "accuracy_m": 500.0,  # poor accuracy: the server flags it, whatever the client says
        "photos_expected": 2,
        **extra,
    }


def assert_visit_server_fields(world, visit_id, body=None):
    visit = Visit.objects.get(pk=visit_id)
    assert visit.division_id == "500235001001"
    assert visit.township_code == "500235001000"
    assert visit.photos_present == 0
    assert visit.deleted_at is None
    assert visit.flag_bits != 0
    assert (visit.worker_id, visit.expert_id, visit.user_id) == (world["W1"].pk, None, world.users["worker"].pk)
    assert_fresh(visit, "received_at", "updated_at")
    if body is not None:
        assert body["division_code"] == "500235001001"
        assert body["township_code"] == "500235001000"
        assert "poor_accuracy" in body["flags"]
        assert (body["photos_present"], body["deleted"], body["actor_type"]) == (0, False, "worker")
        assert body["actor_id"] == world["W1"].pk
    return visit


def test_visit_post_ignores_every_server_set_field(mapped_world):
    world = mapped_world
    body = visit_body(world, **SERVER_SET_VISIT_FIELDS)
    response = login(world.users["worker"]).post("/api/v1/visits/", body)
    assert response.status_code == 201, response.content
    visit = assert_visit_server_fields(world, body["id"], response.json())
    assert visit.version == 1


def test_visit_batch_push_ignores_every_server_set_field(mapped_world):
    world = mapped_world
    body = visit_body(world, **SERVER_SET_VISIT_FIELDS)
    response = login(world.users["worker"]).post("/api/v1/sync/visits/", {"visits": [body]})
    assert response.json()["results"][0]["status"] == "created", response.content
    assert_visit_server_fields(world, body["id"])


def test_visit_patch_ignores_every_server_set_field(mapped_world):
    world = mapped_world
    client = login(world.users["worker"])
    body = visit_body(world)
    created = client.post("/api/v1/visits/", body)
    url = f"/api/v1/visits/{body['id']}/"
    response = client.patch(url, {"notes": "复查", **SERVER_SET_VISIT_FIELDS}, HTTP_IF_MATCH=created["ETag"])
    assert response.status_code == 200, response.content
    assert response.json()["notes"] == "复查"
    visit = assert_visit_server_fields(world, body["id"], response.json())
    assert visit.version == 2


# --- accounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_me_cannot_change_role_or_jurisdiction(world, method):
    client = login(world.users["worker"])
    response = getattr(client, method)(
        "/api/v1/me/", {"role": Role.BUREAU_ADMIN, "jurisdiction": "", "is_superuser": True}
    )
    assert response.status_code == 403  # /me/ is read-only: no role may write to it
    assert response.json()["code"] == "permission_denied"
    user = User.objects.get(username="worker")
    assert (user.role, user.jurisdiction, user.is_superuser, user.is_staff) == (Role.WORKER, "500235001", False, False)


def test_password_change_cannot_change_anything_else(world):
    client = login(world.users["worker"])
    response = client.post(
        "/api/v1/auth/password/",
        {
            "old_password": PASSWORD,
            "new_password": "脐橙-溃疡病-防治-2026",
            "role": Role.BUREAU_ADMIN,
            "jurisdiction": "",
            "username": "admin2",
            "is_superuser": True,
        },
    )
    assert response.status_code == 204
    user = User.objects.get(pk=world.users["worker"].pk)
    assert (user.username, user.role, user.jurisdiction, user.is_superuser) == (
        "worker",
        Role.WORKER,
        "500235001",
        False,
    )


def test_device_tokens_cannot_be_created_or_edited_through_the_api(world):
    client = login(world.users["worker"])
    key = client.get("/api/v1/auth/devices/").json()["results"][0]["token_key"]
    assert client.post("/api/v1/auth/devices/", {"device": "x"}).status_code == 405
    assert client.patch(f"/api/v1/auth/devices/{key}/", {"expiry": None}).status_code == 405


# --- visits: the stored model fields a client might name ----------------------------------------------------------


def forged_visit_model_fields(world) -> dict:
    """The Visit model's server-set columns under their own names, with values that would move the visit elsewhere."""
    return {
        "division": "500236001001",
        "division_id": "500236001001",
        "scope_code": "500236001001",
        "h3_r5": 1,
        "h3_r7": 1,
        "h3_r9": 1,
        "ingest_id": str(uuid.uuid4()),
        "payload_sha256": "0" * 64,
        "deleted_at": FORGED_TIME,
        "visit_date": "2001-01-01",
        "client_lat": 1.0,
        "client_lon": 1.0,
        "worker": world["W2"].pk,
        "expert": world["E1"].pk,
        "commissioner": world["C1"].pk,
        "user_id": world.users["admin"].pk,
        "photos_present": 9,
    }


def gcj02_body(world, **extra):
    """A visit sent in GCJ-02 (Amap) from a point of 杏家湾社区: stored in WGS-84, whatever else the client says."""
    lon, lat = wgs84_to_gcj02(108.70, 30.95)
    return visit_body(world, lat=lat, lon=lon, source_crs="gcj02", **extra)


def assert_visit_model_fields(world, visit_id, body):
    visit = assert_visit_server_fields(world, visit_id)
    assert (visit.client_lon, visit.client_lat) == (body["lon"], body["lat"])  # kept as sent
    assert visit.lon == pytest.approx(108.70, abs=1e-6) and visit.lat == pytest.approx(30.95, abs=1e-6)  # WGS-84
    assert visit.scope_code == "500235001001"
    cells = {res: h3.latlng_to_cell(visit.lat, visit.lon, res) for res in (5, 7, 9)}
    assert (to_hex(visit.h3_r5), to_hex(visit.h3_r7), to_hex(visit.h3_r9)) == (cells[5], cells[7], cells[9])
    assert visit.ingest_id is not None and str(visit.ingest_id) != body["ingest_id"]
    assert len(visit.payload_sha256) == 64 and visit.payload_sha256 != body["payload_sha256"]
    assert visit.visit_date == timezone.localtime(visit.started_at).date()
    assert (visit.expert_id, visit.commissioner_id) == (None, None)
    return visit


def test_visit_post_ignores_the_model_fields_and_normalises_the_point(mapped_world):
    world = mapped_world
    body = gcj02_body(world, **forged_visit_model_fields(world))
    response = login(world.users["worker"]).post("/api/v1/visits/", body)
    assert response.status_code == 201, response.content
    assert_visit_model_fields(world, body["id"], body)
    assert response.json()["lon"] == pytest.approx(108.70, abs=1e-6)


def test_visit_batch_push_ignores_the_model_fields_and_normalises_the_point(mapped_world):
    world = mapped_world
    body = gcj02_body(world, **forged_visit_model_fields(world))
    response = login(world.users["worker"]).post("/api/v1/sync/visits/", {"visits": [body]})
    assert response.json()["results"][0]["status"] == "created", response.content
    assert_visit_model_fields(world, body["id"], body)


def test_visit_patch_ignores_the_model_fields_and_cannot_move_the_id(mapped_world):
    world = mapped_world
    client = login(world.users["worker"])
    body = gcj02_body(world)
    created = client.post("/api/v1/visits/", body)
    stored = Visit.objects.get(pk=body["id"])
    forged = {**forged_visit_model_fields(world), "id": str(uuid.uuid4()), "notes": "复查"}
    response = client.patch(f"/api/v1/visits/{body['id']}/", forged, HTTP_IF_MATCH=created["ETag"])
    assert response.status_code == 200, response.content
    assert response.json()["id"] == body["id"] and not Visit.objects.filter(pk=forged["id"]).exists()
    visit = assert_visit_model_fields(world, body["id"], {**body, **forged})
    assert (visit.notes, visit.version, visit.ingest_id) == ("复查", 2, stored.ingest_id)


# --- photos ---------------------------------------------------------------------------------------------------------

FORGED_PHOTO_FIELDS = {
    "sha256": "0" * 64,
    "size_bytes": 1,
    "content_type": "image/png",
    "width": 1,
    "height": 1,
    "orientation": 6,
    "taken_at": FORGED_TIME,
    "exif_lat": 31.05,
    "exif_lon": 109.45,
    "exif_alt_m": 1.0,
    "camera": "伪造相机",
    "phash": "0" * 16,
    "flag_bits": 0,
    "flags": [],
    "created_at": FORGED_TIME,
    "original": "../../../etc/passwd",
    "display": "forged-display.jpg",
    "thumbnail": "forged-thumbnail.jpg",
}


def assert_photo_server_fields(world, photo_id, visit_id, data, root):
    photo = Photo.objects.get(pk=photo_id)
    assert str(photo.visit_id) == visit_id
    assert photo.user == world.users["worker"]
    assert (photo.sha256, photo.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (photo.content_type, photo.width, photo.height, photo.orientation) == ("image/jpeg", 64, 48, None)
    assert (photo.taken_at, photo.exif_lat, photo.exif_lon, photo.exif_alt_m, photo.camera) == (None,) * 4 + ("",)
    assert photo.flags == ["no_exif"]  # the evidence check, not the client, sets the flags
    assert len(photo.phash) == 16 and photo.phash != "0" * 16
    assert_fresh(photo, "created_at")
    for variant in ("original", "display", "thumbnail"):
        name = getattr(photo, variant).name
        assert name.startswith(f"{photo.id.hex[:2]}/{photo.id}-") and ".." not in name
        assert (root / name).is_file()
    assert (root / photo.original.name).read_bytes() == data
    visit = Visit.objects.get(pk=visit_id)
    assert visit.photos_present == 1
    assert [flag for flag in visit.flags if flag.startswith("photo_")] == ["photo_no_exif"]
    return photo


def test_photo_post_ignores_every_server_set_field(world, private_root):
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    other = new_visit(client, world)  # the client's own other visit: the path names the visit, not the body
    data = image_bytes("JPEG", size=(64, 48))
    body = {
        "id": str(uuid.uuid4()),
        "file": SimpleUploadedFile("../../passwd.png", data, content_type="image/png"),
        "visit": other["id"],
        "user": world.users["admin"].pk,
        **FORGED_PHOTO_FIELDS,
    }
    response = client.post(f"/api/v1/visits/{visit['id']}/photos/", body, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["visit"] == visit["id"] and response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert_photo_server_fields(world, body["id"], visit["id"], data, private_root)
    assert Visit.objects.get(pk=other["id"]).photos_present == 0


def test_photo_put_ignores_every_server_set_field(world, private_root):
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    data = image_bytes("JPEG", size=(64, 48), color=(200, 30, 30))
    photo_id = str(uuid.uuid4())
    body = {
        "visit": visit["id"],
        "file": SimpleUploadedFile("IMG.jpg", data, content_type="image/jpeg"),
        "id": str(uuid.uuid4()),  # the path names the photo
        "user": world.users["admin"].pk,
        **FORGED_PHOTO_FIELDS,
    }
    response = client.put(f"/api/v1/photos/{photo_id}/", body, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["id"] == photo_id and not Photo.objects.filter(pk=body["id"]).exists()
    assert_photo_server_fields(world, photo_id, visit["id"], data, private_root)
