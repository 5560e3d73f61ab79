"""Households and farmers recorded offline on a phone: client UUIDs, idempotent replays, conflicts."""

import uuid

import pytest

from agri.models import Farmer, ModelHousehold


def household_payload(world, **overrides):
    body = {
        "id": str(uuid.uuid4()),
        "head_name": "陈大富",
        "phone": "13512345678",
        "address": "三组12号",
        "industries": ["citrus"],
        "lat": 30.9531,
        "lon": 108.7642,
        "village_code": world.divisions["v1"].code,
    }
    body.update(overrides)
    return body


def test_worker_creates_household_for_self_by_default(world, clients):
    body = household_payload(world)
    response = clients["worker"].post("/api/v1/model-households/", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"] == body["id"]
    assert data["worker"] == world["W1"].pk
    assert data["village_code"] == "500235001001"
    assert data["industries"] == ["citrus"]
    assert data["phone"] == "13512345678"  # the owning worker sees it unmasked
    stored = ModelHousehold.objects.get(pk=body["id"])
    assert stored.worker == world["W1"]


@pytest.mark.parametrize("replays", [1, 10])
def test_replayed_create_returns_stored_record_and_creates_nothing(world, clients, replays):
    body = household_payload(world)
    first = clients["worker"].post("/api/v1/model-households/", body)
    assert first.status_code == 201
    for _ in range(replays):
        again = clients["worker"].post("/api/v1/model-households/", body)
        assert again.status_code == 200
        assert again.json() == first.json()
    assert ModelHousehold.objects.filter(pk=body["id"]).count() == 1
    assert ModelHousehold.objects.filter(worker=world["W1"]).count() == 2  # H1 and this one


def test_same_id_with_different_payload_is_409_and_keeps_stored_record(world, clients):
    body = household_payload(world)
    assert clients["worker"].post("/api/v1/model-households/", body).status_code == 201
    changed = {**body, "head_name": "另一个人", "industries": ["goats"]}
    response = clients["worker"].post("/api/v1/model-households/", changed, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "This id is already taken. Nothing was changed: a new record needs a new id.",
        "fields": {},
    }
    stored = ModelHousehold.objects.get(pk=body["id"])
    assert stored.head_name == "陈大富"
    assert list(stored.industries.values_list("code", flat=True)) == ["citrus"]


def test_id_of_a_record_out_of_scope_is_a_conflict_not_a_leak(world, clients):
    body = household_payload(world, id=str(world["H2"].pk))
    response = clients["worker"].post("/api/v1/model-households/", body)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert ModelHousehold.objects.get(pk=world["H2"].pk).worker == world["W2"]


def test_farmer_replay_is_idempotent_and_conflict_is_409(world, clients):
    body = {
        "id": str(uuid.uuid4()),
        "household": str(world["H1"].pk),
        "name": "刘小兰",
        "phone": "13787654321",
        "id_number": "500235198803150025",
        "village_code": world.divisions["v1"].code,
    }
    assert clients["worker"].post("/api/v1/farmers/", body).status_code == 201
    assert clients["worker"].post("/api/v1/farmers/", body).status_code == 200
    assert clients["worker"].post("/api/v1/farmers/", {**body, "name": "别人"}).status_code == 409
    assert Farmer.objects.filter(pk=body["id"]).count() == 1
    assert Farmer.objects.get(pk=body["id"]).name == "刘小兰"


def test_farmer_id_number_checksum_is_validated(world, clients):
    body = {
        "household": str(world["H1"].pk),
        "name": "刘小兰",
        "id_number": "500235198803150021",
        "village_code": world.divisions["v1"].code,
    }
    response = clients["worker"].post("/api/v1/farmers/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"]["id_number"] == [
        {"code": "invalid_id_number", "message": "The ID number's check digit is wrong."}
    ]


def test_update_never_changes_the_id(world, clients):
    h1 = world["H1"]
    response = clients["worker"].patch(
        f"/api/v1/model-households/{h1.pk}/", {"id": str(uuid.uuid4()), "head_name": "新户主"}, HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert response.json()["id"] == str(h1.pk)
    assert ModelHousehold.objects.get(pk=h1.pk).head_name == "新户主"


def test_household_with_farmers_cannot_be_deleted(world, clients):
    response = clients["worker"].delete(f"/api/v1/model-households/{world['H1'].pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "protected"
    assert ModelHousehold.objects.filter(pk=world["H1"].pk).exists()


def test_pull_filters_by_updated_since(world, clients):
    everything = clients["worker"].get("/api/v1/model-households/?updated_since=2000-01-01T00:00:00%2B08:00")
    assert [r["id"] for r in everything.json()["results"]] == [str(world["H1"].pk)]
    nothing = clients["worker"].get("/api/v1/model-households/?updated_since=2999-01-01T00:00:00%2B08:00")
    assert nothing.json()["results"] == []
    assert nothing.json()["next"] is None


@pytest.mark.parametrize("resource", ["model-households", "farmers", "visits"])
def test_an_empty_updated_since_is_no_filter_so_the_list_is_paged_and_live(world, clients, resource):
    assert clients["worker"].delete(f"/api/v1/farmers/{world['F1'].pk}/").status_code == 204
    listed = clients["worker"].get(f"/api/v1/{resource}/?updated_since=")
    assert listed.status_code == 200
    assert "count" in listed.json()  # the page-numbered list, not a pull
    assert all(not row.get("deleted") for row in listed.json()["results"])
    bad_page = clients["worker"].get(f"/api/v1/{resource}/?updated_since=&page=false", HTTP_ACCEPT_LANGUAGE="en")
    assert bad_page.status_code == 404
    assert bad_page.json()["code"] == "not_found"
    pulled = clients["worker"].get(f"/api/v1/{resource}/?updated_since=1970-01-01T00:00:00Z")
    assert "count" not in pulled.json()
    if resource == "farmers":
        assert [(f["id"], f["deleted"]) for f in pulled.json()["results"]] == [(str(world["F1"].pk), True)]


def test_pull_after_delete_returns_household_and_farmer_tombstones(world, clients):
    since = "/?updated_since=2000-01-01T00:00:00Z"
    farmer, household = world["F1"], world["H1"]
    refused = clients["worker"].delete(f"/api/v1/model-households/{household.pk}/")
    assert refused.status_code == 409  # its farmer is still live
    assert clients["worker"].delete(f"/api/v1/farmers/{farmer.pk}/").status_code == 204
    assert clients["worker"].delete(f"/api/v1/model-households/{household.pk}/").status_code == 204
    households = clients["worker"].get("/api/v1/model-households" + since).json()["results"]
    farmers = clients["worker"].get("/api/v1/farmers" + since).json()["results"]
    assert [(h["id"], h["deleted"]) for h in households] == [(str(household.pk), True)]
    assert [(f["id"], f["deleted"]) for f in farmers] == [(str(farmer.pk), True)]
    assert clients["worker"].get("/api/v1/model-households/").json()["count"] == 0
    assert clients["worker"].get(f"/api/v1/farmers/{farmer.pk}/").status_code == 404
    assert ModelHousehold.objects.filter(pk=household.pk, deleted_at__isnull=False).exists()
    # A tombstone takes no new links.
    body = {"household": str(household.pk), "name": "新农户", "village_code": "500235001001"}
    response = clients["worker"].post("/api/v1/farmers/", body)
    assert response.status_code == 400
    assert response.json()["fields"]["household"][0]["code"] == "does_not_exist"


def test_farmers_carry_their_households_point_in_a_fixed_number_of_queries(world, clients, django_assert_num_queries):
    """A farmer has no position of its own: ``lat``/``lon`` are its household's, read with the page (no query per
    farmer), in the requested CRS."""
    from geo.crs import from_wgs84

    household = world["H1"]
    for _ in range(2):
        with django_assert_num_queries(3):
            rows = clients["worker"].get("/api/v1/farmers/", {"page_size": 100}).json()["results"]
        assert rows and all((r["lat"], r["lon"]) == (household.lat, household.lon) for r in rows)
        for _ in range(20):
            Farmer.objects.create(household=household, village=household.village, name="刘小兰")
    assert len(rows) == 21
    (gcj_lon,), (gcj_lat,) = from_wgs84([household.lon], [household.lat], "gcj02")
    row = clients["worker"].get(f"/api/v1/farmers/{world['F1'].pk}/", {"crs": "gcj02"}).json()
    assert (row["lat"], row["lon"]) == pytest.approx((gcj_lat, gcj_lon), abs=1e-6)  # 7 decimals: about 1 cm
    assert (row["lat"], row["lon"]) != (household.lat, household.lon)


def test_a_bureau_viewer_gets_a_farmers_point_at_its_cell_centre_like_its_households(world, clients):
    from django.conf import settings

    from geo.h3cells import snap_to_cells

    household = world["H1"]
    farmer = clients["viewer"].get(f"/api/v1/farmers/{world['F1'].pk}/").json()
    shown = clients["viewer"].get(f"/api/v1/model-households/{household.pk}/").json()
    (lat,), (lon,) = snap_to_cells([household.lat], [household.lon], settings.COVERAGE_VIEWER_H3_RESOLUTION)
    assert (farmer["lat"], farmer["lon"]) == (shown["lat"], shown["lon"]) == pytest.approx((lat, lon))
    assert (farmer["lat"], farmer["lon"]) != (household.lat, household.lon)
    listed = clients["viewer"].get("/api/v1/farmers/").json()["results"]
    assert (household.lat, household.lon) not in {(r["lat"], r["lon"]) for r in listed}
    admin = clients["admin"].get(f"/api/v1/farmers/{world['F1'].pk}/").json()
    assert (admin["lat"], admin["lon"]) == (household.lat, household.lon)


def test_a_farmer_sent_with_a_point_keeps_its_households(world, clients):
    """``lat``/``lon`` are read-only: a phone that sends a farmer back as it read it changes nothing."""
    body = {"household": str(world["H1"].pk), "name": "刘小兰", "village_code": "500235001001", "lat": 1, "lon": 2}
    response = clients["worker"].post("/api/v1/farmers/", body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["lat"], response.json()["lon"]) == (world["H1"].lat, world["H1"].lon)
