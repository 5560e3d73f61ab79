"""Conditional requests wherever a phone edits or re-reads: If-Match on households and farmers (428, 412, `*`),
If-None-Match on every detail and pull page (304), and the stored side of a sync conflict."""

import threading
import traceback
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agri import errors
from agri.api import base
from agri.models import Farmer, ModelHousehold, Visit
from agri.services.records import record_update
from tests.agri.map_support import visit as visit_body
from tests.agri.photo_support import image_bytes, new_visit, upload, use_private_storage
from tests.support import build_world, login

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PRECONDITION_REQUIRED = {
    "code": "precondition_required",
    "message": "Send If-Match with the record's ETag to edit it.",
    "fields": {},
}
PRECONDITION_FAILED = {
    "code": "precondition_failed",
    "message": "The record was changed since you read it. Fetch it again and reapply your edit.",
    "fields": {},
}

# endpoint -> (model, world object, a text field an edit changes)
RECORDS = {
    "model-households": (ModelHousehold, "H1", "head_name"),
    "farmers": (Farmer, "F1", "name"),
}
# Fields of a detail that a PUT does not send back.
READ_ONLY = {"id", "deleted", "farmers_count", "created_at", "updated_at", "version"}


def new_household(world, client) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "head_name": "陈大富",
        "address": "三组12号",
        "industries": ["citrus"],
        "lat": 30.9531,
        "lon": 108.7642,
        "village_code": world.divisions["v1"].code,
    }
    response = client.post("/api/v1/model-households/", body, format="json")
    assert response.status_code == 201, response.content
    return response


def stored(model, pk, field):
    return model.objects.values_list(field, "version").get(pk=pk)


# --- If-Match on households and farmers --------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", RECORDS)
def test_patch_needs_the_current_etag(world, clients, endpoint):
    model, name, field = RECORDS[endpoint]
    pk = world[name].pk
    url = f"/api/v1/{endpoint}/{pk}/"
    client = clients["worker"]
    before = stored(model, pk, field)

    missing = client.patch(url, {field: "无条件"}, format="json", **EN)
    assert missing.status_code == 428
    assert missing.json() == PRECONDITION_REQUIRED
    assert stored(model, pk, field) == before

    read = client.get(url)
    assert read.status_code == 200
    etag = read["ETag"]
    assert etag == f'"{pk}-1"'

    edited = client.patch(url, {field: "第一次"}, format="json", HTTP_IF_MATCH=etag)
    assert edited.status_code == 200, edited.content
    assert edited.json()[field] == "第一次"
    assert edited["ETag"] == f'"{pk}-2"'
    assert client.get(url)["ETag"] == edited["ETag"]

    stale = client.patch(url, {field: "过时的"}, format="json", HTTP_IF_MATCH=etag, **EN)
    assert stale.status_code == 412
    assert stale.json() == PRECONDITION_FAILED
    assert stored(model, pk, field) == ("第一次", 2)

    anything = client.patch(url, {field: "任意版本"}, format="json", HTTP_IF_MATCH="*")
    assert anything.status_code == 200, anything.content
    assert anything["ETag"] == f'"{pk}-3"'
    assert stored(model, pk, field) == ("任意版本", 3)


@pytest.mark.parametrize("endpoint", RECORDS)
def test_put_needs_the_current_etag(world, clients, endpoint):
    model, name, field = RECORDS[endpoint]
    pk = world[name].pk
    url = f"/api/v1/{endpoint}/{pk}/"
    client = clients["worker"]
    read = client.get(url)
    body = {key: value for key, value in read.json().items() if key not in READ_ONLY}
    body[field] = "整条替换"

    assert client.put(url, body, format="json", **EN).json() == PRECONDITION_REQUIRED
    assert client.put(url, body, format="json", HTTP_IF_MATCH=f'"{pk}-7"').status_code == 412
    assert stored(model, pk, field)[1] == 1

    replaced = client.put(url, body, format="json", HTTP_IF_MATCH=read["ETag"])
    assert replaced.status_code == 200, replaced.content
    assert replaced["ETag"] == f'"{pk}-2"'
    assert stored(model, pk, field) == ("整条替换", 2)
    assert client.put(url, body, format="json", HTTP_IF_MATCH=read["ETag"], **EN).json() == PRECONDITION_FAILED
    assert client.put(url, body, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_household_delete_refuses_a_stale_etag_and_takes_none(world, clients):
    client = clients["worker"]
    created = new_household(world, client)
    pk = created.json()["id"]
    url = f"/api/v1/model-households/{pk}/"
    assert created["ETag"] == f'"{pk}-1"'
    edited = client.patch(url, {"address": "五组"}, format="json", HTTP_IF_MATCH=created["ETag"])
    assert edited.status_code == 200

    stale = client.delete(url, HTTP_IF_MATCH=created["ETag"], **EN)
    assert stale.status_code == 412
    assert stale.json() == PRECONDITION_FAILED
    assert ModelHousehold.objects.get(pk=pk).deleted_at is None

    assert client.delete(url).status_code == 204
    household = ModelHousehold.objects.get(pk=pk)
    assert household.deleted_at is not None and household.version == 3
    assert client.get(url).status_code == 404


def test_farmer_delete_with_the_current_etag_and_with_a_stale_one(world, clients):
    client = clients["worker"]
    pk = world["F1"].pk
    url = f"/api/v1/farmers/{pk}/"
    assert client.delete(url, HTTP_IF_MATCH=f'"{pk}-2"').status_code == 412
    assert Farmer.objects.get(pk=pk).deleted_at is None
    assert client.delete(url, HTTP_IF_MATCH=client.get(url)["ETag"]).status_code == 204
    assert Farmer.objects.get(pk=pk).deleted_at is not None
    # A pull shows the tombstone at its new version.
    pulled = client.get("/api/v1/farmers/?updated_since=2000-01-01T00:00:00Z").json()["results"]
    assert [(row["id"], row["deleted"]) for row in pulled] == [(str(pk), True)]


def test_an_edit_from_a_stale_copy_is_refused_by_the_write_itself(world, clients):
    """Compare-and-swap: a writer that passed the ETag check before another one wrote still loses."""
    household = ModelHousehold.objects.get(pk=world["H1"].pk)  # read at version 1
    url = f"/api/v1/model-households/{household.pk}/"
    first = clients["admin"].patch(url, {"head_name": "先到"}, format="json", HTTP_IF_MATCH=household.etag)
    assert first.status_code == 200
    with pytest.raises(errors.StaleVersion):
        record_update(record=household, data={"head_name": "后到"}, expected_version=1)
    assert stored(ModelHousehold, household.pk, "head_name") == ("先到", 2)


@pytest.mark.django_db(transaction=True)
def test_two_phones_editing_a_household_from_the_same_etag_at_once_one_wins(monkeypatch):
    """Both edits pass the view's ETag check before either writes: the conditional UPDATE decides."""
    world = build_world()
    pk = world["H1"].pk
    phones = [login(world.users["worker"], "phone a"), login(world.users["worker"], "phone b")]
    etag = phones[0].get(f"/api/v1/model-households/{pk}/")["ETag"]
    both_checked = threading.Barrier(2)
    real_update = base.record_update

    def update_after_both_checked(**kwargs):
        both_checked.wait(timeout=30)
        return real_update(**kwargs)

    monkeypatch.setattr(base, "record_update", update_after_both_checked)
    responses, failures = {}, []

    def edit(phone, name):
        try:
            responses[name] = phone.patch(
                f"/api/v1/model-households/{pk}/", {"head_name": name}, format="json", HTTP_IF_MATCH=etag, **EN
            )
        except Exception:  # recorded, so the assertion below names it
            failures.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=pair) for pair in zip(phones, ("甲", "乙"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert sorted(r.status_code for r in responses.values()) == [200, 412]
    winner = next(name for name, r in responses.items() if r.status_code == 200)
    loser = next(r for r in responses.values() if r.status_code == 412)
    assert loser.json() == PRECONDITION_FAILED
    assert responses[winner]["ETag"] == f'"{pk}-2"'
    assert stored(ModelHousehold, pk, "head_name") == (winner, 2)


def test_visits_keep_their_own_words(world, clients):
    created = clients["worker"].post("/api/v1/visits/", visit_body(world), format="json")
    url = f"/api/v1/visits/{created.json()['id']}/"
    missing = clients["worker"].patch(url, {"notes": "复查"}, format="json", **EN)
    assert missing.status_code == 428
    assert missing.json()["message"] == "Send If-Match with the visit's ETag to edit it."
    stale = clients["worker"].patch(url, {"notes": "复查"}, format="json", HTTP_IF_MATCH='"x-1"', **EN)
    assert stale.status_code == 412
    assert stale.json()["message"] == "The visit was changed since you read it. Fetch it again and reapply your edit."


# --- If-None-Match: 304 -------------------------------------------------------------------------------------------


def detail_urls(world, clients) -> dict[str, str]:
    visit = clients["worker"].post("/api/v1/visits/", visit_body(world), format="json").json()
    return {
        "household": f"/api/v1/model-households/{world['H1'].pk}/",
        "farmer": f"/api/v1/farmers/{world['F1'].pk}/",
        "visit": f"/api/v1/visits/{visit['id']}/",
        "station": f"/api/v1/stations/{world['S1'].pk}/",
        "industry": "/api/v1/industries/citrus/",
        "division": f"/api/v1/divisions/{world.divisions['v1'].code}/",
        "base": f"/api/v1/demonstration-bases/{world['B1'].pk}/",
        "field school": f"/api/v1/field-schools/{world['FS1'].pk}/",
        "expert": f"/api/v1/experts/{world['E1'].pk}/",
        "worker": f"/api/v1/extension-workers/{world['W1'].pk}/",
        "commissioner": f"/api/v1/tech-commissioners/{world['C1'].pk}/",
    }


def test_every_detail_answers_304_to_its_etag(world, clients):
    client = clients["admin"]
    for name, url in detail_urls(world, clients).items():
        first = client.get(url)
        assert first.status_code == 200, (name, first.content)
        etag = first["ETag"]
        assert etag.startswith('"') and etag.endswith('"'), name
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            cached = client.get(url, HTTP_IF_NONE_MATCH=header)
            assert cached.status_code == 304, (name, header)
            assert cached.content == b"", name
            assert cached["ETag"] == etag, name
        assert client.head(url, HTTP_IF_NONE_MATCH=etag).status_code == 304, name
        other = client.get(url, HTTP_IF_NONE_MATCH='"something-else"')
        assert other.status_code == 200 and other["ETag"] == etag and other.content == first.content, name


def test_photo_metadata_answers_304(world, clients, settings, tmp_path):
    use_private_storage(settings, tmp_path / "photos")
    visit = new_visit(clients["worker"], world)
    uploaded = upload(clients["worker"], visit["id"], image_bytes("JPEG"))
    assert uploaded.status_code == 201, uploaded.content
    url = f"/api/v1/photos/{uploaded.json()['id']}/"
    first = clients["worker"].get(url)
    assert first.status_code == 200
    cached = clients["worker"].get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert cached.status_code == 304 and cached.content == b""


def test_a_missing_if_match_is_428_whatever_the_id(world, clients):
    """Checked before the lookup: an unknown or out-of-scope id says nothing more than a visible one."""
    for pk in (uuid.uuid4(), world["H9"].pk, world["H1"].pk):
        response = clients["worker"].patch(f"/api/v1/model-households/{pk}/", {"address": "八组"}, format="json")
        assert response.status_code == 428
    assert (
        clients["worker"]
        .patch(f"/api/v1/model-households/{world['H9'].pk}/", {"address": "八组"}, format="json", HTTP_IF_MATCH="*")
        .status_code
        == 404
    )


def test_version_etags_stay_version_etags(world, clients):
    urls = detail_urls(world, clients)
    visit_id = urls["visit"].split("/")[-2]
    assert clients["worker"].get(urls["visit"])["ETag"] == f'"{visit_id}-1"'
    assert clients["worker"].get(urls["household"])["ETag"] == f'"{world["H1"].pk}-1"'
    assert clients["worker"].get(urls["farmer"])["ETag"] == f'"{world["F1"].pk}-1"'


def test_a_changed_record_answers_200_with_a_new_etag(world, clients):
    admin = clients["admin"]
    station = f"/api/v1/stations/{world['S1'].pk}/"
    old = admin.get(station)["ETag"]
    assert admin.patch(station, {"host_org": "龙缸茶业有限公司"}, format="json").status_code == 200
    fresh = admin.get(station, HTTP_IF_NONE_MATCH=old)
    assert fresh.status_code == 200
    assert fresh.json()["host_org"] == "龙缸茶业有限公司"
    assert fresh["ETag"] != old
    assert admin.get(station, HTTP_IF_NONE_MATCH=fresh["ETag"]).status_code == 304

    household = f"/api/v1/model-households/{world['H1'].pk}/"
    old = admin.get(household)["ETag"]
    assert admin.patch(household, {"address": "六组"}, format="json", HTTP_IF_MATCH=old).status_code == 200
    fresh = admin.get(household, HTTP_IF_NONE_MATCH=old)
    assert fresh.status_code == 200 and fresh["ETag"] == f'"{world["H1"].pk}-2"'


def test_the_body_etag_follows_the_representation(world, clients):
    """The same station in another coordinate system is another answer, with another ETag."""
    url = f"/api/v1/stations/{world['S1'].pk}/"
    wgs84 = clients["admin"].get(url)["ETag"]
    gcj02 = clients["admin"].get(f"{url}?crs=gcj02", HTTP_IF_NONE_MATCH=wgs84)
    assert gcj02.status_code == 200 and gcj02["ETag"] != wgs84


@pytest.mark.parametrize("endpoint", ["model-households", "farmers", "visits"])
def test_an_unchanged_pull_page_answers_304(world, clients, endpoint):
    client = clients["worker"]
    client.post("/api/v1/visits/", visit_body(world), format="json")
    url = f"/api/v1/{endpoint}/?updated_since=2000-01-01T00:00:00Z"
    page = client.get(url)
    assert page.status_code == 200 and page.json()["results"]
    etag = page["ETag"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag


def test_a_pull_page_changes_its_etag_when_a_row_changes(world, clients):
    client = clients["worker"]
    url = "/api/v1/model-households/?updated_since=2000-01-01T00:00:00Z"
    old = client.get(url)["ETag"]
    household = f"/api/v1/model-households/{world['H1'].pk}/"
    assert client.patch(household, {"address": "七组"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    fresh = client.get(url, HTTP_IF_NONE_MATCH=old)
    assert fresh.status_code == 200
    assert fresh["ETag"] != old
    assert fresh.json()["results"][0]["address"] == "七组"


def test_lists_carry_a_content_etag_and_writes_are_never_304(world, clients):
    """One rule for every GET (agri.middleware.ContentETagMiddleware): a list's ETag is the hash of its body."""
    client = clients["admin"]
    listed = client.get("/api/v1/stations/")
    assert listed.status_code == 200 and listed.has_header("ETag")
    assert client.get("/api/v1/stations/", HTTP_IF_NONE_MATCH=listed["ETag"]).status_code == 304
    world["S1"].name = "改名的工作站"
    world["S1"].save(update_fields=["name"])
    changed = client.get("/api/v1/stations/", HTTP_IF_NONE_MATCH=listed["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != listed["ETag"]
    body = {"head_name": "陈大富", "lat": 30.95, "lon": 108.76, "village_code": world.divisions["v1"].code}
    created = clients["worker"].post("/api/v1/model-households/", body, format="json", HTTP_IF_NONE_MATCH="*")
    assert created.status_code == 201


# --- the stored side of a sync conflict ---------------------------------------------------------------------------


def test_a_sync_conflict_gives_the_stored_version_and_etag(world, clients):
    client = clients["worker"]
    first = visit_body(world)
    assert client.post("/api/v1/sync/visits/", {"visits": [first]}, format="json").status_code == 200
    url = f"/api/v1/visits/{first['id']}/"
    assert client.patch(url, {"notes": "改过"}, format="json", HTTP_IF_MATCH=client.get(url)["ETag"]).status_code == 200

    other = visit_body(world)
    batch = [{**first, "notes": "另一份"}, other]
    results = client.post("/api/v1/sync/visits/", {"visits": batch}, format="json").json()["results"]
    conflict, created = results
    assert conflict["status"] == "conflict"
    assert conflict["version"] == 2 == Visit.objects.get(pk=first["id"]).version
    assert conflict["etag"] == client.get(url)["ETag"] == f'"{first["id"]}-2"'
    assert created["status"] == "created"
    assert "version" not in created and "etag" not in created


def test_conflict_versions_are_read_in_one_query(world, clients):
    client = clients["worker"]
    stored_items = [visit_body(world) for _ in range(6)]
    assert client.post("/api/v1/sync/visits/", {"visits": stored_items}, format="json").status_code == 200

    def queries(n: int) -> int:
        batch = [{**item, "notes": f"冲突{n}"} for item in stored_items[:n]]
        with CaptureQueriesContext(connection) as context:
            results = client.post("/api/v1/sync/visits/", {"visits": batch}, format="json").json()["results"]
        assert [r["status"] for r in results] == ["conflict"] * n
        assert all(r["version"] == 1 for r in results)
        return len(context.captured_queries)

    assert queries(1) == queries(6)
