"""Many counties, one installation: ``seed_demo --counties 10`` (with a tenth of the visits), read by the province's,
a city's and a county's bureau through the API, in lists, coverage, indicators and exports."""

import json

import pytest
from django.conf import settings
from django.core.management import call_command

from agri.models import ModelHousehold, Role, TechCommissioner, User, Visit
from geo.models import AdminDivision
from tests.security.matrix_support import flush_project_tables
from tests.support import demo_client

N_COUNTIES = 10
API = "/api/v1"


@pytest.fixture(scope="module")
def province(django_db_setup, django_db_blocker):
    """The demo with ten more counties, seeded once for the module and committed; emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            call_command("seed_demo", counties=N_COUNTIES, county_visits=0.1, verbosity=0)
            User.objects.create_user(
                "county-500236", password=settings.DEMO_PASSWORD, role=Role.BUREAU_VIEWER, jurisdiction="500236"
            )
            counties = list(AdminDivision.objects.filter(level="county").values_list("code", flat=True))
            yield counties
        finally:
            flush_project_tables()


@pytest.fixture
def seeded(province, db):
    return province


def county_codes(prefix: str, counties) -> set[str]:
    return {code for code in counties if code.startswith(prefix)}


def test_ten_more_counties_with_fictional_townships_and_villages(seeded):
    assert len(seeded) == 1 + N_COUNTIES
    others = AdminDivision.objects.exclude(code__startswith="500235")
    for level in ("township", "village"):
        assert others.filter(level=level).count() > 0
        assert not others.filter(level=level, fictional=False).exists()
        assert not others.filter(level=level, boundary_synthetic=False).exists()
    # The counties and Yunyang's townships and villages are real divisions (Yunyang's cells are synthetic).
    assert not AdminDivision.objects.filter(level="county", fictional=True).exists()
    assert not AdminDivision.objects.filter(code__startswith="500235", fictional=True).exists()
    assert set(AdminDivision.objects.filter(level="city").values_list("code", flat=True)) == {
        "500100000000",
        "500200000000",
    }
    # Each county has its network and its visits, placed inside it.
    for code in seeded:
        prefix = code[:6]
        assert ModelHousehold.objects.filter(village__code__startswith=prefix).exists(), code
        assert TechCommissioner.objects.filter(county_id=code).exists(), code
        # (A point jittered across the outline lies in no village and belongs to its actor's home.)
        visits = Visit.objects.filter(scope_code__startswith=prefix)
        assert visits.exists(), code
        assert not visits.exclude(division__code__startswith=prefix).exclude(division=None).exists(), code


def test_seeding_again_changes_nothing(seeded):
    def counts():
        return (AdminDivision.objects.count(), ModelHousehold.objects.count(), Visit.objects.count())

    before = counts()
    call_command("seed_demo", counties=N_COUNTIES, county_visits=0.1, verbosity=0)
    assert counts() == before


ACCOUNTS = {"demo-province": "50", "demo-city": "5002", "county-500236": "500236"}


def client_of(username: str):
    return demo_client(username)


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_each_bureau_lists_its_own_counties(seeded, username):
    client = client_of(username)
    prefix = ACCOUNTS[username]
    expected = county_codes(prefix, seeded)
    assert expected and (prefix != "50" or expected == set(seeded))
    assert prefix == "50" or expected != set(seeded)
    body = client.get(f"{API}/divisions/?level=county&page_size=100").json()
    assert {row["code"] for row in body["results"]} == expected
    households = client.get(f"{API}/model-households/?page_size=1").json()
    assert households["count"] == ModelHousehold.objects.alive().filter(village__code__startswith=prefix).count()
    commissioners = client.get(f"{API}/tech-commissioners/?page_size=200").json()
    assert {row["county_code"] for row in commissioners["results"]} == expected
    # A list filtered to one county of the slice, and to one outside it.
    inside = sorted(expected)[0][:6]
    filtered = client.get(f"{API}/model-households/?division={inside}&page_size=1").json()
    assert filtered["count"] == ModelHousehold.objects.alive().filter(village__code__startswith=inside).count() > 0
    for endpoint, field in (
        ("experts", "county_code"),
        ("tech-commissioners", "county_code"),
        ("extension-workers", "home_township_code"),
        ("stations", "village_code"),
        ("demonstration-bases", "village_code"),
    ):
        rows = client.get(f"{API}/{endpoint}/?division={inside}&page_size=500").json()["results"]
        assert rows and all(row[field].startswith(inside) for row in rows), endpoint
    outside = sorted(set(seeded) - expected)
    if outside:
        for endpoint in ("model-households", "experts", "extension-workers", "tech-commissioners", "field-schools"):
            assert client.get(f"{API}/{endpoint}/?division={outside[0][:6]}").json()["count"] == 0, endpoint


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_county_level_coverage_and_its_export(seeded, username):
    client = client_of(username)
    prefix = ACCOUNTS[username]
    expected = county_codes(prefix, seeded)
    body = client.get(f"{API}/coverage/divisions/?level=county").json()
    rows = {feature["id"]: feature["properties"] for feature in body["features"]}
    assert set(rows) == expected
    for code, row in rows.items():
        assert row["level"] == "county" and body["features"][0]["geometry"] is not None
        assert row["visits"] == Visit.objects.alive().filter(division__code__startswith=code[:6]).count() > 0
        assert row["households"] == ModelHousehold.objects.alive().filter(village__code__startswith=code[:6]).count()
        assert 0 < row["households_visited"] <= row["households"]
    # The township level of the same account adds up to the county level.
    townships = client.get(f"{API}/coverage/divisions/?level=township").json()["features"]
    for code, row in rows.items():
        inside = [t["properties"] for t in townships if t["id"].startswith(code[:6])]
        assert sum(t["households"] for t in inside) == row["households"]
    export = client.get(f"{API}/exports/coverage/?level=county&format=geojson")
    exported = json.loads(b"".join(export.streaming_content))
    assert {f["properties"]["code"] for f in exported["features"]} == expected


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_indicators_roll_up_with_targets_scaled_by_counties(seeded, username):
    client = client_of(username)
    prefix = ACCOUNTS[username]
    expected = county_codes(prefix, seeded)
    t = settings.NETWORK_TARGETS
    body = client.get(f"{API}/indicators/").json()
    by_code = {ind["code"]: ind for ind in body["indicators"]}
    n = len(expected)
    for code, target in (
        ("commissioners_in_service", t["commissioners_min"]),
        ("village_visits", t["village_visits_min"]),
        ("trainings", t["trainings_min"]),
        ("new_varieties", t["new_varieties_min"]),
        ("bases", t["bases_min"]),
    ):
        ind = by_code[code]
        assert ind["target"] == target * n, code
        assert {row["code"] for row in ind["by_county"]} == expected
        assert all(row["target"] == target for row in ind["by_county"])
        cities = {row["code"]: row for row in ind["by_city"]}
        assert set(cities) == {c[:4] + "00000000" for c in expected}
        for city, row in cities.items():
            assert row["target"] == target * len(county_codes(city[:4], expected))
        if code != "new_varieties":  # distinct names need not add up
            assert sum(row["value"] for row in ind["by_county"]) == ind["value"], code
            assert sum(row["value"] for row in ind["by_city"]) == ind["value"], code
    # Ratios keep the plan's targets whatever the slice.
    assert by_code["households_per_worker"]["target"] == t["households_per_worker"]
    this_year = Visit.objects.alive().filter(visit_date__year=body["year"], scope_code__startswith=prefix)
    assert by_code["village_visits"]["value"] == this_year.count()


def test_a_city_account_sees_no_visit_or_household_of_another_city(seeded):
    client = client_of("demo-city")
    visits = client.get(f"{API}/visits/?page_size=500").json()
    assert visits["count"] == Visit.objects.alive().filter(scope_code__startswith="5002").count()
    assert visits["results"] and all((row["division_code"] or "5002").startswith("5002") for row in visits["results"])
    export = client.get(f"{API}/exports/model-households/?format=geojson")
    exported = json.loads(b"".join(export.streaming_content))
    assert exported["features"] and all(
        f["properties"]["village_code"].startswith("5002") for f in exported["features"]
    )


def test_county_coverage_query_count_does_not_depend_on_the_number_of_counties(seeded, django_assert_num_queries):
    client = client_of("demo-province")
    for url in (f"{API}/coverage/divisions/?level=county", f"{API}/coverage/divisions/?level=county&industry=citrus"):
        # Whole months (here: all time) read the monthly tables: visits, people active, households, divisions.
        with django_assert_num_queries(5 if "industry" not in url else 6):
            response = client.get(url)
        assert response.status_code == 200 and len(response.json()["features"]) == len(seeded)


def test_the_fictional_filter_refuses_what_is_not_a_boolean(seeded):
    """``?fictional=`` takes true or false like every boolean filter; anything else is a 400, not ignored."""
    client = client_of("demo-province")
    response = client.get("/api/v1/divisions/", {"fictional": "-58800"})
    assert response.status_code == 400, response.content
    assert "fictional" in response.json()["fields"]
    invented = client.get("/api/v1/divisions/", {"fictional": "true", "level": "township", "page_size": 1000}).json()
    assert invented["results"] and all(d["fictional"] for d in invented["results"])
