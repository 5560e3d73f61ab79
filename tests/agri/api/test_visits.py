"""Geotagged visits from phones: exactly-once push, pull with tombstones, If-Match edits, flags, filters."""

import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import Visit, VisitEvent
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from tests.agri.map_support import HOME_LAT, HOME_LON, visit
from tests.support import build_world, login

# --- push -------------------------------------------------------------------------------------


def test_single_post_stores_visit_with_server_fields(mapped_world, clients):
    body = visit(mapped_world)
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert response["ETag"] == f'"{body["id"]}-1"'
    assert data["id"] == body["id"]
    assert data["division_code"] == "500235001001"
    assert data["township_code"] == "500235001000"
    assert data["flags"] == []
    assert data["actor_type"] == "worker" and data["actor_id"] == mapped_world["W1"].pk
    assert data["photos_expected"] == 1 and data["photos_present"] == 0
    assert data["deleted"] is False
    stored = Visit.objects.get(pk=body["id"])
    assert stored.user == mapped_world.users["worker"]
    assert stored.h3_r9 and stored.h3_r7 and stored.h3_r5
    assert VisitEvent.objects.filter(visit=stored, action="create").count() == 1


def test_replayed_post_returns_stored_record_and_conflict_keeps_it(mapped_world, clients):
    body = visit(mapped_world)
    first = clients["worker"].post("/api/v1/visits/", body, format="json")
    again = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = clients["worker"].post("/api/v1/visits/", {**body, "notes": "另一份内容"}, format="json")
    assert other.status_code == 409
    assert other.json()["code"] == "conflict"
    assert Visit.objects.filter(pk=body["id"]).count() == 1
    assert Visit.objects.get(pk=body["id"]).notes == "柑橘溃疡病防治指导"


@pytest.mark.parametrize("replays", [2, 10])
def test_replayed_batch_creates_no_duplicates(mapped_world, clients, replays):
    items = [visit(mapped_world) for _ in range(20)]
    results = []
    for _ in range(replays):
        response = clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json")
        assert response.status_code == 200
        results.append(response.json()["results"])
    assert [r["status"] for r in results[0]] == ["created"] * 20
    for later in results[1:]:
        assert [r["status"] for r in later] == ["unchanged"] * 20
        assert [r["id"] for r in later] == [r["id"] for r in results[0]]
        assert later == results[1]
    assert Visit.objects.count() == 20
    assert VisitEvent.objects.count() == 20


def test_batch_of_50_with_one_invalid_stores_49(mapped_world, clients):
    items = [visit(mapped_world) for _ in range(50)]
    items[17]["lat"] = 123.0
    items[17]["household"] = str(uuid.uuid4())
    response = clients["worker"].post(
        "/api/v1/sync/visits/", {"visits": items}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 50
    assert [r["id"] for r in results] == [i["id"] for i in items]
    bad = results[17]
    assert bad["status"] == "invalid"
    assert bad["errors"]["lat"] == [{"code": "max_value", "message": "Ensure this value is less than or equal to 90."}]
    assert bad["errors"]["household"][0]["code"] == "does_not_exist"
    assert {r["status"] for i, r in enumerate(results) if i != 17} == {"created"}
    assert Visit.objects.count() == 49
    assert not Visit.objects.filter(pk=items[17]["id"]).exists()


def test_batch_reports_conflict_and_duplicates_within_the_batch(mapped_world, clients):
    stored = visit(mapped_world)
    clients["worker"].post("/api/v1/visits/", stored, format="json")
    twin = visit(mapped_world)
    items = [{**stored, "notes": "changed"}, twin, twin, {**twin, "notes": "other"}]
    results = clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["conflict", "created", "unchanged", "conflict"]
    assert Visit.objects.count() == 2


def test_batch_shape_errors(mapped_world, clients):
    too_many = {"visits": [visit(mapped_world) for _ in range(501)]}
    response = clients["worker"].post("/api/v1/sync/visits/", too_many, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["visits"][0]["code"] == "max_length"
    not_items = clients["worker"].post("/api/v1/sync/visits/", {"visits": ["x", 3]}, format="json")
    assert not_items.status_code == 400
    assert Visit.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_100_concurrent_posts_of_one_uuid_create_exactly_one_row():
    world = build_world()
    client = login(world.users["worker"])
    header = client._credentials["HTTP_AUTHORIZATION"]
    body = json.dumps(visit(world))
    statuses, errors = [], []
    barrier = threading.Barrier(20)

    def post():
        try:
            barrier.wait(timeout=30)
            c = APIClient()
            for _ in range(5):
                r = c.post("/api/v1/visits/", body, content_type="application/json", HTTP_AUTHORIZATION=header)
                statuses.append(r.status_code)
        except Exception as exc:  # recorded, so the assertion below names it
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(statuses) == 100
    assert set(statuses) <= {200, 201}
    assert statuses.count(201) == 1
    assert Visit.objects.count() == 1
    assert VisitEvent.objects.count() == 1


def test_field_school_session_is_a_training_at_a_base_with_attendance(mapped_world, clients):
    farmers = [mapped_world["F1"]]
    from tests.factories import FarmerFactory

    farmers.append(FarmerFactory(household=mapped_world["H1"]))
    body = visit(mapped_world, kind="training", participants=24, attendees=[str(f.pk) for f in farmers])
    del body["household"]
    body["base"] = mapped_world["B1"].pk
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["base"] == mapped_world["B1"].pk and data["kind"] == "training"
    assert data["participants"] == 24
    assert sorted(data["attendees"]) == sorted(str(f.pk) for f in farmers)
    stored = Visit.objects.get(pk=body["id"])
    assert set(stored.attendees.values_list("pk", flat=True)) == {f.pk for f in farmers}
    outsider = clients["worker"].post(
        "/api/v1/visits/", {**body, "id": str(uuid.uuid4()), "attendees": [str(mapped_world["F2"].pk)]}, format="json"
    )
    assert outsider.status_code == 400
    assert outsider.json()["fields"]["attendees.0"][0]["code"] == "does_not_exist"


# --- rejected inputs (400 with field errors) ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"lat": 91}, "lat", "max_value"),
        ({"lat": -91}, "lat", "min_value"),
        ({"lon": 181}, "lon", "max_value"),
        ({"lat": "NaN"}, "lat", "invalid"),
        ({"lon": "Infinity"}, "lon", "invalid"),
        ({"household": str(uuid.uuid4())}, "household", "does_not_exist"),
        ({"household": "not-a-uuid"}, "household", "does_not_exist"),
        ({"kind": "party"}, "kind", "invalid_choice"),
        ({"source_crs": "epsg:3857"}, "source_crs", "invalid_choice"),
        ({"started_at": "2025-03-14T09:30:00"}, "started_at", "naive"),
        ({"started_at": "1228-10-31T22:13:38-01:45", "ended_at": None}, "started_at", "min_value"),
        ({"started_at": "1969-12-31T23:59:59Z", "ended_at": None}, "started_at", "min_value"),
        ({"started_at": "2100-01-01T08:00:00+08:00", "ended_at": None}, "started_at", "max_value"),
        ({"ended_at": "9999-01-01T00:00:00Z"}, "ended_at", "max_value"),
        ({"ended_at": "9999-12-31T23:59:59-12:00"}, "ended_at", "overflow"),  # past year 9999 in UTC
        ({"kind": "new_variety"}, "introduced", "required"),
        ({"station": 1}, "household", "one_target"),
    ],
)
def test_rejected_inputs(mapped_world, clients, change, field, code):
    body = visit(mapped_world, **change)
    if "station" in change:
        body["station"] = mapped_world["S1"].pk
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"invalid", code}
    assert response.json()["fields"][field][0]["code"] == code
    assert Visit.objects.count() == 0


def test_a_reset_phone_clock_is_kept_and_flagged(mapped_world, clients):
    """The earliest time accepted is the Unix epoch, where a phone with a reset clock starts counting."""
    body = visit(mapped_world, started_at="1970-01-01T08:00:00+08:00", ended_at=None)
    response = clients["worker"].post("/api/v1/visits/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 201, response.content
    assert response.json()["started_at"] == "1970-01-01T08:00:00+08:00"
    assert "stale_start" in response.json()["flags"]
    too_early = clients["worker"].post(
        "/api/v1/visits/", {**body, "id": str(uuid.uuid4()), "started_at": "1900-05-01T10:00:00+08:00"}, format="json"
    )
    assert too_early.status_code == 400
    assert "1970-01-01" in too_early.json()["fields"]["started_at"][0]["message"]
    assert Visit.objects.count() == 1


@pytest.mark.parametrize("missing", ["id", "kind", "started_at", "lat", "lon"])
def test_missing_required_field_is_rejected(mapped_world, clients, missing):
    body = visit(mapped_world)
    del body[missing]
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"][missing][0]["code"] == "required"
    assert Visit.objects.count() == 0


@pytest.mark.parametrize(
    ("target", "name"),
    [("household", "H2"), ("household", "H9"), ("farmer", "F2"), ("station", "S9"), ("base", "B9")],
)
def test_target_outside_callers_scope_is_rejected_like_an_unknown_one(mapped_world, clients, target, name):
    body = visit(mapped_world)
    del body["household"]
    body[target] = str(mapped_world[name].pk) if target in ("household", "farmer") else mapped_world[name].pk
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"][target][0]["code"] == "does_not_exist"
    assert Visit.objects.count() == 0


def test_village_target_outside_jurisdiction_is_rejected(mapped_world, clients):
    body = visit(mapped_world, village="500235002001")
    del body["household"]
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["village"][0]["code"] == "does_not_exist"


def test_accounts_without_a_linked_person_cannot_record_visits(mapped_world, clients):
    response = clients["admin"].post("/api/v1/visits/", visit(mapped_world), format="json")
    assert response.status_code == 403
    viewer = clients["viewer"].post("/api/v1/sync/visits/", {"visits": [visit(mapped_world)]}, format="json")
    assert viewer.status_code == 403
    assert Visit.objects.count() == 0


# --- flags: stored and shown, never rejected ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"lat": HOME_LAT + 0.05}, "far_from_target"),
        ({"accuracy_m": 450.0}, "poor_accuracy"),
        ({"mock_location": True}, "mock_location"),
        ({"lat": 29.56, "lon": 106.55}, "unassigned"),
        ({"lat": 31.05, "lon": 109.45}, "outside_county"),
        ({"started_at": (timezone.now() + timedelta(hours=3)).isoformat(), "ended_at": None}, "future_start"),
        ({"started_at": (timezone.now() - timedelta(days=90)).isoformat(), "ended_at": None}, "stale_start"),
    ],
)
def test_suspicious_visits_are_stored_with_a_flag(mapped_world, clients, change, flag):
    response = clients["worker"].post("/api/v1/visits/", visit(mapped_world, **change), format="json")
    assert response.status_code == 201
    assert flag in response.json()["flags"]
    flagged = clients["worker"].get(f"/api/v1/visits/?flag={flag}").json()
    assert [v["id"] for v in flagged["results"]] == [response.json()["id"]]


def test_clean_visit_has_no_flags_and_is_not_listed_as_flagged(mapped_world, clients):
    clients["worker"].post("/api/v1/visits/", visit(mapped_world), format="json")
    assert clients["worker"].get("/api/v1/visits/?flagged=true").json()["count"] == 0
    assert clients["worker"].get("/api/v1/visits/?flagged=false").json()["count"] == 1


# --- coordinate systems -------------------------------------------------------------------------


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_points_from_amap_or_baidu_are_normalised_to_wgs84(mapped_world, clients, crs, forward):
    lon, lat = forward(HOME_LON + 0.001, HOME_LAT + 0.001)
    response = clients["worker"].post("/api/v1/visits/", visit(mapped_world, lon=lon, lat=lat, source_crs=crs))
    data = response.json()
    assert data["lon"] == pytest.approx(HOME_LON + 0.001, abs=1e-8)
    assert data["lat"] == pytest.approx(HOME_LAT + 0.001, abs=1e-8)
    assert data["division_code"] == "500235001001"
    assert data["flags"] == []
    stored = Visit.objects.get(pk=data["id"])
    assert (stored.client_lon, stored.client_lat) == (lon, lat)


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_coordinates_are_returned_in_the_requested_system(mapped_world, clients, crs, forward):
    created = clients["worker"].post("/api/v1/visits/", visit(mapped_world), format="json").json()
    expected_lon, expected_lat = forward(HOME_LON, HOME_LAT)
    listed = clients["worker"].get(f"/api/v1/visits/?crs={crs}").json()["results"][0]
    detail = clients["worker"].get(f"/api/v1/visits/{created['id']}/?crs={crs}").json()
    for data in (listed, detail):
        assert data["lon"] == pytest.approx(expected_lon, abs=1e-7)
        assert data["lat"] == pytest.approx(expected_lat, abs=1e-7)
    bad = clients["worker"].get("/api/v1/visits/?crs=mercator")
    assert bad.status_code == 400 and bad.json()["fields"]["crs"][0]["code"] == "invalid"


# --- edits, deletes, pull -----------------------------------------------------------------------


def test_patch_needs_if_match_and_a_stale_etag_gets_412(mapped_world, clients):
    body = visit(mapped_world)
    created = clients["worker"].post("/api/v1/visits/", body, format="json")
    etag = created["ETag"]
    url = f"/api/v1/visits/{body['id']}/"
    missing = clients["worker"].patch(url, {"notes": "改"}, format="json")
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    ok = clients["worker"].patch(url, {"notes": "改"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok.json()["notes"] == "改"
    assert ok["ETag"] == f'"{body["id"]}-2"'
    stale = clients["worker"].patch(url, {"notes": "再改"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert Visit.objects.get(pk=body["id"]).notes == "改"


def test_two_phones_editing_from_the_same_etag_one_wins(mapped_world, clients):
    body = visit(mapped_world)
    etag = clients["worker"].post("/api/v1/visits/", body, format="json")["ETag"]
    phone_b = login(mapped_world.users["worker"], "phone b")
    url = f"/api/v1/visits/{body['id']}/"
    first = clients["worker"].patch(url, {"participants": 5}, format="json", HTTP_IF_MATCH=etag)
    second = phone_b.patch(url, {"participants": 9}, format="json", HTTP_IF_MATCH=etag)
    assert (first.status_code, second.status_code) == (200, 412)
    assert Visit.objects.get(pk=body["id"]).participants == 5


def test_patch_moving_the_point_reassigns_and_audits(mapped_world, clients):
    body = visit(mapped_world)
    etag = clients["worker"].post("/api/v1/visits/", body, format="json")["ETag"]
    moved = (
        clients["worker"]
        .patch(f"/api/v1/visits/{body['id']}/", {"lon": 108.72}, format="json", HTTP_IF_MATCH=etag)
        .json()
    )
    assert moved["division_code"] == "500235001003"
    history = clients["admin"].get(f"/api/v1/visits/{body['id']}/history/").json()
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[1]["changes"] == {"lon": [HOME_LON, 108.72]}
    assert history[1]["user"] == "worker"


def test_history_is_for_bureau_admins(mapped_world, clients):
    body = visit(mapped_world)
    clients["worker"].post("/api/v1/visits/", body, format="json")
    assert clients["worker"].get(f"/api/v1/visits/{body['id']}/history/").status_code == 403
    assert clients["viewer"].get(f"/api/v1/visits/{body['id']}/history/").status_code == 403
    assert clients["admin"].get(f"/api/v1/visits/{body['id']}/history/").status_code == 200


def test_a_deleted_visit_keeps_its_history_for_bureau_admins(mapped_world, clients):
    body = visit(mapped_world)
    etag = clients["worker"].post("/api/v1/visits/", body, format="json")["ETag"]
    assert clients["worker"].delete(f"/api/v1/visits/{body['id']}/", HTTP_IF_MATCH=etag).status_code == 204
    assert clients["admin"].get(f"/api/v1/visits/{body['id']}/").status_code == 404
    history = clients["admin"].get(f"/api/v1/visits/{body['id']}/history/")
    assert history.status_code == 200
    assert [(h["action"], h["user"]) for h in history.json()] == [("create", "worker"), ("delete", "worker")]


def test_others_cannot_edit_a_visit_they_can_see(mapped_world, clients):
    body = visit(mapped_world)
    etag = clients["worker"].post("/api/v1/visits/", body, format="json")["ETag"]
    url = f"/api/v1/visits/{body['id']}/"
    assert clients["expert"].get(url).status_code == 200  # the worker's expert sees it
    assert clients["expert"].patch(url, {"notes": "x"}, format="json", HTTP_IF_MATCH=etag).status_code == 403
    assert clients["worker2"].patch(url, {"notes": "x"}, format="json", HTTP_IF_MATCH=etag).status_code == 404
    assert Visit.objects.get(pk=body["id"]).notes == body["notes"]


def test_pull_after_delete_returns_the_tombstone(mapped_world, clients):
    keep, gone = visit(mapped_world), visit(mapped_world)
    clients["worker"].post("/api/v1/sync/visits/", {"visits": [keep, gone]}, format="json")
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert clients["worker"].delete(f"/api/v1/visits/{gone['id']}/").status_code == 204
    pulled = clients["worker"].get("/api/v1/visits/", {"updated_since": since}).json()
    assert {(v["id"], v["deleted"]) for v in pulled["results"]} == {(keep["id"], False), (gone["id"], True)}
    assert pulled["results"][-1]["id"] == gone["id"]  # ordered by updated_at: the delete is the latest change
    assert clients["worker"].get(f"/api/v1/visits/{gone['id']}/").status_code == 404
    assert [v["id"] for v in clients["worker"].get("/api/v1/visits/").json()["results"]] == [keep["id"]]
    assert Visit.objects.filter(pk=gone["id"]).exists()  # kept as a tombstone, never dropped


def test_pull_pages_with_a_cursor_in_stable_order(mapped_world, clients):
    items = [visit(mapped_world) for _ in range(12)]
    clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json")
    seen, url = [], "/api/v1/visits/?updated_since=2000-01-01T00:00:00Z&page_size=5"
    pages = 0
    while url:
        page = clients["worker"].get(url).json()
        seen += [v["id"] for v in page["results"]]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(i["id"] for i in items)
    assert len(seen) == len(set(seen))


def test_pull_is_scoped_to_the_caller(mapped_world, clients):
    clients["worker"].post("/api/v1/visits/", visit(mapped_world), format="json")
    since = {"updated_since": "2000-01-01T00:00:00Z"}
    assert len(clients["worker2"].get("/api/v1/visits/", since).json()["results"]) == 0
    assert len(clients["expert"].get("/api/v1/visits/", since).json()["results"]) == 1
    assert len(clients["commissioner"].get("/api/v1/visits/", since).json()["results"]) == 0


# --- queries ------------------------------------------------------------------------------------


def test_bbox_near_division_and_date_filters(mapped_world, clients):
    here = visit(mapped_world)
    there = visit(mapped_world, lon=108.72, lat=30.93)
    old = visit(mapped_world, started_at=(timezone.now() - timedelta(days=20)).isoformat(), ended_at=None)
    clients["worker"].post("/api/v1/sync/visits/", {"visits": [here, there, old]}, format="json")

    def ids(query):
        response = clients["worker"].get(f"/api/v1/visits/?{query}")
        assert response.status_code == 200, response.content
        return {v["id"] for v in response.json()["results"]}

    assert ids("bbox=108.695,30.945,108.705,30.955") == {here["id"], old["id"]}
    assert ids("near=108.7,30.95&radius_km=1") == {here["id"], old["id"]}
    assert ids("near=108.7,30.95&radius_km=3") == {here["id"], old["id"], there["id"]}
    assert ids("division=500235002") == {there["id"]}
    assert ids("division=500235001001") == {here["id"], old["id"]}
    # The local (Asia/Shanghai) date the visits started on: two hours ago is yesterday early in a day.
    started = timezone.localtime(datetime.fromisoformat(here["started_at"])).date().isoformat()
    assert ids(f"date_from={started}") == {here["id"], there["id"]}
    assert ids(f"household={mapped_world['H1'].pk}&kind=guidance&industry=citrus") == {
        here["id"],
        there["id"],
        old["id"],
    }
    bad = clients["worker"].get("/api/v1/visits/?bbox=1,2,3")
    assert bad.status_code == 400 and bad.json()["fields"]["bbox"][0]["code"] == "invalid"


def test_geojson_export_streams_a_feature_collection(mapped_world, clients):
    items = [visit(mapped_world) for _ in range(3)]
    clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json")
    response = clients["worker"].get("/api/v1/visits.geojson?crs=wgs84")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    assert response.streaming
    data = json.loads(b"".join(response.streaming_content))
    assert data["type"] == "FeatureCollection"
    assert {f["id"] for f in data["features"]} == {i["id"] for i in items}
    assert data["features"][0]["geometry"] == {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}
    assert data["features"][0]["properties"]["division_code"] == "500235001001"
    assert json.loads(b"".join(clients["worker2"].get("/api/v1/visits.geojson").streaming_content))["features"] == []


def test_visit_list_query_count_does_not_grow(mapped_world, clients, django_assert_num_queries):
    def add(n):
        items = [visit(mapped_world) for _ in range(n)]
        clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json")

    add(5)
    # token with user and linked worker (1), count (1), the page's keys (1), its visits with their attendees (1)
    with django_assert_num_queries(4):
        first = clients["worker"].get("/api/v1/visits/?page_size=100")
    add(45)
    with django_assert_num_queries(4):
        second = clients["worker"].get("/api/v1/visits/?page_size=100")
    assert (first.json()["count"], second.json()["count"]) == (5, 50)
    assert len(second.json()["results"]) == 50


@pytest.mark.parametrize("value", ["2025-03-14T09:60:00+08:00", "2025-02-30T09:00:00+08:00", "2025-03-14T24:00:00Z"])
def test_a_well_formed_but_impossible_time_is_a_400_not_a_500(world, clients, value):
    """Django's parse_datetime raises ValueError for these (minute 60, 30 February): refused like any bad time,
    alone and as one item of a batch whose other items are stored."""
    single = clients["worker"].post("/api/v1/visits/", visit(world, started_at=value), format="json")
    assert single.status_code == 400
    assert single.json()["fields"]["started_at"][0]["code"] == "invalid"
    good = visit(world)
    batch = clients["worker"].post(
        "/api/v1/sync/visits/", {"visits": [visit(world, started_at=value), good]}, format="json"
    )
    assert batch.status_code == 200
    bad_result, good_result = batch.json()["results"]
    assert bad_result["status"] == "invalid" and bad_result["errors"]["started_at"][0]["code"] == "invalid"
    assert good_result["status"] == "created"


def test_a_deleted_visit_id_is_taken_like_a_deleted_household_id(world, clients):
    """One rule for every client id: a replay answers the stored record only while the caller may read it live; a
    deleted one (a tombstone in the pull) is taken: 409, in the push and in the batch, as for households."""
    body = visit(world)
    assert clients["worker"].post("/api/v1/visits/", body, format="json").status_code == 201
    assert clients["worker"].delete(f"/api/v1/visits/{body['id']}/").status_code == 204
    response = clients["worker"].post("/api/v1/visits/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "conflict"
    batch = clients["worker"].post("/api/v1/sync/visits/", {"visits": [body]}, format="json").json()
    assert [r["status"] for r in batch["results"]] == ["conflict"]
    household = {"id": str(uuid.uuid4()), "head_name": "陈大富", "lat": 30.95, "lon": 108.7}
    household["village_code"] = "500235001001"
    assert clients["worker"].post("/api/v1/model-households/", household, format="json").status_code == 201
    assert clients["worker"].delete(f"/api/v1/model-households/{household['id']}/").status_code == 204
    again = clients["worker"].post("/api/v1/model-households/", household, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 409 and again.json() == response.json()
