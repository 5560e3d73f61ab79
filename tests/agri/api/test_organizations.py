"""Stations, bases with their one field school, experts, divisions: writes and their invariants."""

import pytest
from django.db import IntegrityError, transaction

from agri.models import DemonstrationBase, Expert, FieldSchool, Industry, Role
from geo.models import AdminDivision
from tests import factories as f
from tests.support import login

PARCEL = {
    "type": "Polygon",
    "coordinates": [[[108.758, 30.948], [108.762, 30.948], [108.762, 30.952], [108.758, 30.952], [108.758, 30.948]]],
}


def test_creating_a_base_creates_its_one_field_school(world, clients):
    body = {
        "name": "双江脐橙试验示范基地",
        "industry": "citrus",
        "lat": 30.95,
        "lon": 108.76,
        "village_code": "500235001001",
        "parcel": PARCEL,
        "area_mu": "320.00",
        "status": "certified",
        "certified_on": "2022-04-18",
    }
    response = clients["admin"].post("/api/v1/demonstration-bases/", body, format="json")
    assert response.status_code == 201, response.content
    base = DemonstrationBase.objects.get(pk=response.json()["id"])
    school = FieldSchool.objects.get(base=base)
    assert response.json()["field_school"] == school.pk
    assert school.name == "双江脐橙试验示范基地农民田间学校"


@pytest.mark.parametrize("area", ["0", "0.00", "-5"])
def test_a_base_area_must_be_positive(world, clients, area):
    response = clients["admin"].patch(
        f"/api/v1/demonstration-bases/{world['B1'].pk}/", {"area_mu": area}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["area_mu"][0] == {
        "code": "min_value",
        "message": "Ensure this value is greater than or equal to 0.01.",
    }
    world["B1"].refresh_from_db()
    assert world["B1"].area_mu == 200


def test_a_second_field_school_for_a_base_is_refused(world, clients):
    response = clients["admin"].post("/api/v1/field-schools/", {"name": "x"})
    assert response.status_code == 405
    with pytest.raises(IntegrityError), transaction.atomic():
        FieldSchool.objects.create(base=world["B1"], name="second")


@pytest.mark.parametrize(
    ("parcel", "code"),
    [
        ({"type": "Point", "coordinates": [108.7, 30.9]}, "invalid_geometry"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "invalid_geometry"),
        ({"type": "Polygon", "coordinates": [[[200, 0], [201, 0], [201, 1], [200, 0]]]}, "invalid_geometry"),
        ({"nonsense": True}, "invalid_geometry"),
    ],
)
def test_bad_parcels_are_rejected(world, clients, parcel, code):
    body = {"name": "b", "industry": "citrus", "lat": 30.95, "lon": 108.76, "village_code": "500235001001"}
    response = clients["admin"].post("/api/v1/demonstration-bases/", {**body, "parcel": parcel}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["parcel"][0]["code"] == code
    assert not DemonstrationBase.objects.filter(name="b").exists()


def test_certified_base_needs_its_date(world, clients):
    body = {"name": "b", "industry": "citrus", "lat": 30.95, "lon": 108.76, "village_code": "500235001001"}
    response = clients["admin"].post("/api/v1/demonstration-bases/", {**body, "status": "certified"})
    assert response.status_code == 400
    assert "certified_on" in response.json()["fields"]


def test_one_active_expert_per_industry_is_enforced_by_api_and_database(world, clients):
    body = {"name": "另一位专家", "industry": "citrus", "county_code": "500235000000"}
    response = clients["admin"].post("/api/v1/experts/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"]["industry"] == [
        {"code": "unique", "message": "This industry already has an active expert in this county."}
    ]
    inactive = clients["admin"].post("/api/v1/experts/", {**body, "active": False})
    assert inactive.status_code == 201
    with pytest.raises(IntegrityError), transaction.atomic():
        Expert.objects.create(name="x", industry=world.industries["citrus"], county=world.divisions["yunyang"])


def test_station_manager_edits_own_station_only(world, clients):
    response = clients["station"].patch(f"/api/v1/stations/{world['S1'].pk}/", {"host_org": "龙缸茶业有限公司"})
    assert response.status_code == 200
    assert response.json()["host_org"] == "龙缸茶业有限公司"
    assert clients["station"].post("/api/v1/stations/", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("code", "level", "parent", "message"),
    [
        ("50023500100", "village", "500235001000", "A division code has exactly 12 digits."),
        ("500235002101", "village", "500235001000", "The code must start with its parent's prefix 500235001."),
        ("500235003001", "township", "500235000000", "A township code ends in zeros after its first 9 digits."),
        ("500235003000", "township", "500235001000", "The parent of a township must be a county."),
    ],
)
def test_division_codes_are_validated_against_parent(world, clients, code, level, parent, message):
    body = {"code": code, "name": "新区划", "level": level, "parent": parent}
    response = clients["admin"].post("/api/v1/divisions/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in [e["message"] for e in response.json()["fields"]["code"]]
    assert not AdminDivision.objects.filter(code=code).exists()


def test_valid_division_is_created_inside_jurisdiction_only(world, clients):
    ok = {"code": "500235001009", "name": "新村", "level": "village", "parent": "500235001000"}
    assert clients["admin"].post("/api/v1/divisions/", ok).status_code == 201
    outside = {"code": "500236001009", "name": "外县村", "level": "village", "parent": "500236001000"}
    response = clients["admin"].post("/api/v1/divisions/", outside)
    assert response.status_code == 400
    assert not AdminDivision.objects.filter(code="500236001009").exists()


def test_divisions_filter_by_level_and_parent(world, clients):
    rows = clients["admin"].get("/api/v1/divisions/?level=village&parent=500235001000").json()["results"]
    assert [r["code"] for r in rows] == ["500235001001", "500235001003"]


def test_the_jurisdiction_that_me_gives_is_a_parent_the_divisions_filter_takes(world, clients):
    """``/me/`` gives a jurisdiction as a code prefix (a township's 9 digits); ``divisions/?parent=`` takes it as
    it takes the 12-digit code."""
    jurisdiction = clients["worker"].get("/api/v1/me/").json()["jurisdiction"]
    assert jurisdiction == "500235001"
    by_prefix = clients["worker"].get("/api/v1/divisions/", {"parent": jurisdiction}).json()["results"]
    by_code = clients["worker"].get("/api/v1/divisions/", {"parent": "500235001000"}).json()["results"]
    assert [r["code"] for r in by_prefix] == [r["code"] for r in by_code] == ["500235001001", "500235001003"]
    county = clients["admin"].get("/api/v1/me/").json()["jurisdiction"]
    townships = clients["admin"].get("/api/v1/divisions/", {"parent": county}).json()["results"]
    assert townships and {r["level"] for r in townships} == {"township"}
    assert clients["admin"].get("/api/v1/divisions/", {"parent": "5002350"}).json()["results"] == []


def test_database_rejects_out_of_range_coordinates(world):
    from tests.factories import StationFactory

    with pytest.raises(IntegrityError), transaction.atomic():
        StationFactory(village=world.divisions["v1"], lat=91)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("endpoint", ["stations", "demonstration-bases", "model-households"])
def test_located_records_are_returned_in_the_requested_crs(world, clients, endpoint, crs):
    from geo.crs import from_wgs84

    plain = clients["admin"].get(f"/api/v1/{endpoint}/").json()["results"][0]
    converted = clients["admin"].get(f"/api/v1/{endpoint}/{plain['id']}/?crs={crs}").json()
    lon, lat = from_wgs84(plain["lon"], plain["lat"], crs)
    assert converted["lon"] == pytest.approx(lon, abs=1e-7)
    assert converted["lat"] == pytest.approx(lat, abs=1e-7)
    assert abs(converted["lon"] - plain["lon"]) > 1e-3  # really moved (hundreds of metres in China)
    listed = clients["admin"].get(f"/api/v1/{endpoint}/?crs={crs}").json()["results"][0]
    assert (listed["lon"], listed["lat"]) == (converted["lon"], converted["lat"])


def test_base_parcel_and_division_boundary_follow_crs(world, clients):
    from geo.crs import wgs84_to_gcj02

    body = {"name": "地块", "industry": "citrus", "lat": 30.95, "lon": 108.76, "village_code": "500235001001"}
    base = clients["admin"].post("/api/v1/demonstration-bases/", {**body, "parcel": PARCEL}, format="json").json()
    converted = clients["admin"].get(f"/api/v1/demonstration-bases/{base['id']}/?crs=gcj02").json()
    x, y = PARCEL["coordinates"][0][0]
    gx, gy = wgs84_to_gcj02(x, y)
    assert converted["parcel"]["coordinates"][0][0] == pytest.approx([gx, gy], abs=1e-7)

    import shapely

    from geo.services import DivisionRow, division_upsert_many

    division_upsert_many(
        [DivisionRow("500235001001", "杏家湾社区", "village", "500235001000", shapely.box(108.7, 30.9, 108.8, 31.0))]
    )
    feature = clients["admin"].get("/api/v1/divisions/500235001001/boundary/?crs=gcj02&detail=full").json()
    ring = feature["geometry"]["coordinates"][0]
    expected = wgs84_to_gcj02(108.8, 30.9)
    assert any(pt == pytest.approx(list(expected), abs=1e-7) for pt in ring)
    division = clients["admin"].get("/api/v1/divisions/500235001001/?crs=gcj02").json()
    plain = clients["admin"].get("/api/v1/divisions/500235001001/").json()
    assert division["rep_lon"] != plain["rep_lon"]


def test_unknown_crs_is_400(world, clients):
    response = clients["admin"].get("/api/v1/stations/?crs=epsg3857")
    assert response.status_code == 400
    assert response.json()["fields"]["crs"][0]["code"] == "invalid"


def test_write_responses_carry_the_same_computed_fields_as_reads(world, clients):
    expert = clients["admin"].post(
        "/api/v1/experts/", {"name": "新专家", "industry": "citrus", "county_code": "500235000000", "active": False}
    )
    assert expert.status_code == 201
    assert expert.json()["workers_count"] == 0
    worker = clients["admin"].patch(f"/api/v1/extension-workers/{world['W1'].pk}/", {"name": "改名"})
    assert worker.status_code == 200
    assert worker.json()["households_count"] == 1
    assert worker.json() == clients["admin"].get(f"/api/v1/extension-workers/{world['W1'].pk}/").json()


def test_industries_are_written_by_the_installation_admin_and_keep_their_codes(world, clients):
    """Industries are shared by every county: a county's admin reads them; the installation-wide admin (empty
    jurisdiction) writes them, with strict JSON types, and never changes a code."""
    fengjie = login(f.UserFactory(username="fengjie-admin", role=Role.BUREAU_ADMIN, jurisdiction="500236"))
    response = fengjie.patch("/api/v1/industries/citrus/", {"code": "citrus-fj"}, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    owner = login(f.UserFactory(username="installation-admin", role=Role.BUREAU_ADMIN, jurisdiction=""))
    body = {"code": "tea", "name": "茶叶", "name_en": 0}
    response = owner.post("/api/v1/industries/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "name_en" in response.json()["fields"], response.content
    recode = {"code": "citrus-fj"}
    response = owner.patch("/api/v1/industries/citrus/", recode, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["code"][0]["code"] == "immutable"
    assert list(Industry.objects.order_by("code").values_list("code", flat=True)) == ["citrus", "goats"]
    response = owner.patch("/api/v1/industries/citrus/", {"code": "citrus", "name": "柑桔"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "柑桔", response.content


def test_a_division_code_never_changes(world, clients):
    """A PATCH that changes a division's code (its key) is refused: it used to store a copy under the new code."""
    body = {"code": "500235001008"}
    response = clients["admin"].patch("/api/v1/divisions/500235001003/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["code"][0]["code"] == "immutable"
    assert not AdminDivision.objects.filter(code="500235001008").exists()
