"""Coverage maps, hexagons, gaps and a station's service area: every number against an independent count.

The seeded tests run the whole demo (a year of visits) and recount each figure in Python over the objects;
the small-world tests cover scoping, query counts, coordinate systems and bad input.
"""

import math
import uuid
from collections import Counter, defaultdict
from datetime import timedelta

import h3
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import ModelHousehold, Role, Station, User, Visit, VisitRollup
from geo.codes import Level
from geo.crs import wgs84_to_gcj02
from geo.h3cells import to_hex
from geo.models import AdminDivision
from tests import factories as f
from tests.agri.map_support import days_ago, push, visit
from tests.support import demo_client, login

EARTH_RADIUS_KM = 6371.0088


# --- helpers ------------------------------------------------------------------------------------------


def live(visits, date_from=None, date_to=None, industry=None, kind=None, keep=lambda v: True):
    return [
        v
        for v in visits
        if v.deleted_at is None
        and (date_from is None or v.visit_date >= date_from)
        and (date_to is None or v.visit_date <= date_to)
        and (industry is None or (v.industry and v.industry.code == industry))
        and (kind is None or v.kind == kind)
        and keep(v)
    ]


def expected_divisions(
    seeded, level, jurisdiction="", households=None, keep=lambda v: True, visits_to_households=None, **filters
) -> dict:
    """Each division's properties, counted in Python over the visits and households.

    ``keep`` picks the visits counted where they happened; ``visits_to_households`` (default: the same) those that
    make a registered household visited.
    """
    visits = live(seeded["visits"], keep=keep, **filters)
    where = (lambda v: v.division_id) if level == Level.VILLAGE else (lambda v: v.township_code or None)
    by_division = defaultdict(list)
    for v in visits:
        by_division[where(v)].append(v)
    households = seeded["households"] if households is None else households
    industry = filters.get("industry")
    registered = [
        h for h in households if h.deleted_at is None and (not industry or h.worker.expert.industry.code == industry)
    ]
    to_households = (
        visits if visits_to_households is None else live(seeded["visits"], keep=visits_to_households, **filters)
    )
    visited = {v.household_id for v in to_households if v.household_id}
    home = (lambda h: h.village_id) if level == Level.VILLAGE else (lambda h: h.village.parent_id)
    out = {}
    for division in AdminDivision.objects.filter(level=level, code__startswith=jurisdiction):
        here = by_division.get(division.code, [])
        mine = [h for h in registered if home(h) == division.code]
        n_visited = sum(1 for h in mine if h.pk in visited)
        out[division.code] = {
            "code": division.code,
            "name": division.name,
            "level": level,
            "visits": len(here),
            "households_visited": n_visited,
            "households": len(mine),
            "coverage": round(n_visited / len(mine), 4) if mine else None,
            "workers_active": len({v.worker_id for v in here if v.worker_id}),
            "commissioners_active": len({v.commissioner_id for v in here if v.commissioner_id}),
            "last_visit": max(v.visit_date for v in here).isoformat() if here else None,
            "label_lon": division.rep_lon,
            "label_lat": division.rep_lat,
        }
    return out


def by_code(body) -> dict:
    assert body["type"] == "FeatureCollection"
    return {feature["id"]: feature for feature in body["features"]}


def haversine_km(lon1, lat1, lon2, lat2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


# --- seeded county: every number against an independent count ---------------------------------------


def test_division_coverage_of_the_seeded_county_matches_independent_counts(seeded):
    client = demo_client("demo-admin")
    today = timezone.localdate()
    cases = [
        {},
        {"date_from": today - timedelta(days=89), "date_to": today},
        {"date_from": today - timedelta(days=250), "date_to": today - timedelta(days=120)},
        {"industry": "citrus"},
        {"industry": "tea", "date_from": today - timedelta(days=180)},
        {"kind": "diagnosis"},
        {"kind": "training", "industry": "goats"},
    ]
    for level in (Level.TOWNSHIP, Level.VILLAGE):
        for filters in cases:
            query = {"level": level, **{k: str(v) for k, v in filters.items()}}
            response = client.get("/api/v1/coverage/divisions/", query)
            assert response.status_code == 200, response.content
            assert response["Content-Type"] == "application/geo+json"
            features = by_code(response.json())
            expected = expected_divisions(seeded, level, **filters)
            assert set(features) == set(expected), query
            for code, props in expected.items():
                assert features[code]["properties"] == props, (query, code)
                assert features[code]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # The demo is realistic: some villages were never visited, and coverage is partial somewhere.
    villages = by_code(client.get("/api/v1/coverage/divisions/", {"level": "village"}).json())
    assert any(f["properties"]["visits"] == 0 for f in villages.values())
    assert any(f["properties"]["visits"] > 0 for f in villages.values())
    shares = [f["properties"]["coverage"] for f in villages.values() if f["properties"]["coverage"] is not None]
    assert shares and all(0 <= s <= 1 for s in shares) and min(shares) < 1
    # Seeding again adds no visit and leaves the rollup as it was.
    rollup = sorted(VisitRollup.objects.values_list("day", "division_code", "kind", "household_key", "visits"))
    call_command("seed_demo", verbosity=0)
    assert Visit.objects.count() == len(seeded["visits"])
    assert sorted(VisitRollup.objects.values_list("day", "division_code", "kind", "household_key", "visits")) == rollup


def test_seeded_scoping_township_viewer_and_worker_slices(seeded):
    worker_user = User.objects.get(username="demo-worker")
    worker = worker_user.extension_worker
    township = worker.home_township_id
    viewer = f.UserFactory(username="township-viewer-demo", role=Role.BUREAU_VIEWER, jurisdiction=township[:9])
    viewer_client = login(viewer)
    for level in (Level.TOWNSHIP, Level.VILLAGE):
        body = viewer_client.get("/api/v1/coverage/divisions/", {"level": level}).json()
        features = by_code(body)
        # Visits scoped like the visit list: by the village (or, when a point is in none, the actor's home).
        # A household of the township counts as visited whatever village the visit's point fell in.
        expected = expected_divisions(
            seeded,
            level,
            jurisdiction=township[:9],
            keep=lambda v: v.scope_code.startswith(township[:9]),
            visits_to_households=lambda v: True,
        )
        assert set(features) == set(expected) and all(code.startswith(township[:9]) for code in features)
        assert {code: ft["properties"] for code, ft in features.items()} == expected
    # The worker: the divisions of the home township, counting only the worker's own visits and households.
    mine = [h for h in seeded["households"] if h.worker_id == worker.pk]
    worker_client = demo_client("demo-worker")
    for level in (Level.TOWNSHIP, Level.VILLAGE):
        features = by_code(worker_client.get("/api/v1/coverage/divisions/", {"level": level}).json())
        expected = expected_divisions(
            seeded, level, jurisdiction=township[:9], households=mine, keep=lambda v: v.worker_id == worker.pk
        )
        assert {code: ft["properties"] for code, ft in features.items()} == expected
    assert sum(ft["properties"]["households"] for ft in features.values()) == len(mine) > 0
    # A station manager has no slice of the visits to count.
    denied = demo_client("demo-station").get("/api/v1/coverage/divisions/")
    assert denied.status_code == 403
    assert denied.json()["code"] == "no_coverage_slice"


def test_seeded_hexagons_gaps_and_service_area_match_independent_counts(seeded):
    client = demo_client("demo-admin")
    visits = live(seeded["visits"])
    for resolution in (5, 7, 9):
        body = client.get("/api/v1/coverage/hexagons/", {"resolution": resolution}).json()
        expected = Counter(to_hex(getattr(v, f"h3_r{resolution}")) for v in visits)
        assert {k: ft["properties"]["visits"] for k, ft in by_code(body).items()} == expected
        assert {ft["properties"]["resolution"] for ft in body["features"]} == {resolution}
    # A bounding box and an industry narrow the visits counted.
    lons = sorted(v.lon for v in visits)
    lats = sorted(v.lat for v in visits)
    bbox = (lons[len(lons) // 4], lats[len(lats) // 4], lons[3 * len(lons) // 4], lats[3 * len(lats) // 4])
    body = client.get(
        "/api/v1/coverage/hexagons/", {"resolution": 7, "bbox": ",".join(map(str, bbox)), "industry": "pigs"}
    ).json()
    inside = live(
        visits,
        industry="pigs",
        keep=lambda v: bbox[0] <= v.lon <= bbox[2] and bbox[1] <= v.lat <= bbox[3],
    )
    assert {k: ft["properties"]["visits"] for k, ft in by_code(body).items()} == Counter(
        to_hex(v.h3_r7) for v in inside
    )

    # Gaps: households with no visit in the last 90 days, villages where none took place.
    today = timezone.localdate()
    since = today - timedelta(days=89)
    recent = live(visits, date_from=since, date_to=today)
    visited_households = {v.household_id for v in recent if v.household_id}
    visited_villages = {v.division_id for v in recent}
    gaps = client.get("/api/v1/coverage/gaps/").json()
    assert (gaps["days"], gaps["since"], gaps["until"]) == (90, since.isoformat(), today.isoformat())
    expected_households = {str(h.pk) for h in seeded["households"] if h.pk not in visited_households}
    assert {h["id"] for h in gaps["households"]} == expected_households
    assert expected_households, "the demo neglects some households"
    last_visit = defaultdict(lambda: None)
    for v in visits:
        if v.household_id and (last_visit[v.household_id] is None or v.visit_date > last_visit[v.household_id]):
            last_visit[v.household_id] = v.visit_date
    for h in gaps["households"]:
        stored = last_visit[uuid.UUID(h["id"])]
        assert h["last_visit"] == (stored.isoformat() if stored else None)
    villages = AdminDivision.objects.villages().within("500235")
    expected_villages = {d.code for d in villages if d.code not in visited_villages}
    assert {v["code"] for v in gaps["villages"]} == expected_villages
    assert 0 < len(expected_villages) < villages.count()
    households_in = Counter(h.village_id for h in seeded["households"])
    assert all(v["households"] == households_in[v["code"]] for v in gaps["villages"])

    # A station's service area: exact great-circle distances, visited in the last 30 days.
    station = Station.objects.order_by("id").first()
    area = client.get(f"/api/v1/stations/{station.pk}/service-area/", {"radius_km": 12, "days": 30}).json()
    month = live(visits, date_from=today - timedelta(days=29), date_to=today)
    visited = {v.household_id for v in month if v.household_id}
    near = {
        str(h.pk): haversine_km(station.lon, station.lat, h.lon, h.lat)
        for h in seeded["households"]
        if haversine_km(station.lon, station.lat, h.lon, h.lat) <= 12
    }
    assert {h["id"] for h in area["items"]} == set(near) and near
    assert all(abs(h["distance_km"] - near[h["id"]]) < 0.001 for h in area["items"])
    assert [h["distance_km"] for h in area["items"]] == sorted(h["distance_km"] for h in area["items"])
    assert area["households"] == len(near)
    assert area["households_visited"] == sum(1 for pk in near if uuid.UUID(pk) in visited)
    assert all(h["visited"] == (uuid.UUID(h["id"]) in visited) for h in area["items"])


# --- small world: scoping, coordinate systems, query counts, bad input -------------------------------


@pytest.fixture
def visited_world(mapped_world, clients):
    """W1 (worker, 双江街道) and E1 (its expert) in 杏家湾社区, W2 in 青龙社区, C1 at station S1."""
    w = mapped_world
    push(clients["worker"], [visit(w, started_at=days_ago(n)) for n in (1, 2, 30)])
    push(clients["worker"], [visit(w, household=None, village="500235001003", lon=108.72, kind="training")])
    push(clients["worker2"], [visit(w, household=str(w["H2"].pk), lat=30.93, started_at=days_ago(5))])
    push(clients["expert"], [visit(w, household=str(w["H1"].pk), kind="diagnosis", started_at=days_ago(100))])
    push(clients["commissioner"], [visit(w, household=None, station=w["S1"].pk)])
    return w


def props(client, **query) -> dict:
    response = client.get("/api/v1/coverage/divisions/", query)
    assert response.status_code == 200, response.content
    return {code: ft["properties"] for code, ft in by_code(response.json()).items()}


def test_bureau_sees_its_jurisdiction_and_a_township_viewer_only_its_township(visited_world, clients):
    county = props(clients["admin"], level="village")
    assert set(county) == {"500235001001", "500235001003", "500235002001"}
    v1 = county["500235001001"]
    assert (v1["visits"], v1["households"], v1["households_visited"], v1["coverage"]) == (5, 1, 1, 1.0)
    assert (v1["workers_active"], v1["commissioners_active"]) == (1, 1)
    # The latest visit's local (Asia/Shanghai) date: "two hours ago" is yesterday in the first two hours of a day.
    latest = max(timezone.localtime(v.started_at).date() for v in Visit.objects.filter(division_id="500235001001"))
    assert v1["last_visit"] == latest.isoformat()
    assert county["500235001003"]["visits"] == 1 and county["500235001003"]["households"] == 1
    assert county["500235001003"]["households_visited"] == 0 and county["500235001003"]["coverage"] == 0.0
    assert county["500235002001"]["visits"] == 1
    township = props(clients["township_viewer"], level="township")
    assert list(township) == ["500235001000"]
    assert township["500235001000"]["visits"] == 6
    assert set(props(clients["township_viewer"], level="village")) == {"500235001001", "500235001003"}
    # A period that leaves out the oldest visits.
    recent = props(clients["admin"], level="village", date_from=str(timezone.localdate() - timedelta(days=10)))
    assert recent["500235001001"]["visits"] == 3


def test_field_people_count_only_their_own_slice(visited_world, clients):
    worker = props(clients["worker"], level="village")
    assert set(worker) == {"500235001001", "500235001003"}  # the worker's township
    assert worker["500235001001"]["visits"] == 3  # the expert's and the commissioner's visits are not the worker's
    assert worker["500235001003"]["visits"] == 1
    assert worker["500235001001"]["households"] == 1  # H1; H3 in 黄金包社区 is another worker's
    assert worker["500235001003"]["households"] == 0 and worker["500235001003"]["coverage"] is None
    expert = props(clients["expert"], level="village")
    assert expert["500235001001"]["visits"] == 4  # own visit plus the worker's three
    assert expert["500235002001"]["visits"] == 1  # the worker W2 is also the expert's
    commissioner = props(clients["commissioner"], level="village")
    assert commissioner["500235001001"]["visits"] == 1
    assert commissioner["500235001001"]["commissioners_active"] == 1
    assert commissioner["500235001001"]["households"] == 0
    for name in ("station",):
        response = clients[name].get("/api/v1/coverage/divisions/")
        assert response.status_code == 403 and response.json()["code"] == "no_coverage_slice"
        assert clients[name].get("/api/v1/coverage/gaps/").status_code == 403
        assert clients[name].get("/api/v1/indicators/").status_code == 403


def test_hexagons_work_without_any_boundaries(world, clients):
    items = [visit(world, lat=30.95 + i * 0.05, lon=108.7) for i in range(3)]
    push(clients["worker"], items)
    assert Visit.objects.filter(division__isnull=True).count() == 3
    body = clients["admin"].get("/api/v1/coverage/hexagons/", {"resolution": 9}).json()
    assert len(body["features"]) == 3
    cells = {to_hex(v.h3_r9) for v in Visit.objects.all()}
    assert set(by_code(body)) == cells
    ring = body["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    narrow = clients["admin"].get("/api/v1/coverage/hexagons/", {"resolution": 9, "bbox": "108.6,30.9,108.8,31.0"})
    assert len(narrow.json()["features"]) == 2
    # Divisions in no boundary: the township exists but has no polygon and no visits.
    assert all(p["visits"] == 0 for p in props(clients["admin"], level="township").values())


def test_gaps_and_service_area_honour_the_output_crs(visited_world, clients):
    w = visited_world
    far = f.ModelHouseholdFactory(worker=w["W1"], village=w.divisions["v1"], lat=30.99, lon=108.70)
    gaps = clients["worker"].get("/api/v1/coverage/gaps/", {"days": 30}).json()
    assert [h["id"] for h in gaps["households"]] == [str(far.pk)]
    assert gaps["households"][0]["last_visit"] is None
    assert {v["code"] for v in gaps["villages"]} == set()  # both villages of the worker's township had a visit
    in_gcj = clients["worker"].get("/api/v1/coverage/gaps/", {"days": 30, "crs": "gcj02"}).json()
    lon, lat = wgs84_to_gcj02(108.70, 30.99)
    assert in_gcj["households"][0]["lon"] == pytest.approx(lon, abs=1e-6)
    assert in_gcj["households"][0]["lat"] == pytest.approx(lat, abs=1e-6)
    geo = clients["admin"].get("/api/v1/coverage/gaps/", {"days": 3, "format": "geojson"})
    assert geo["Content-Type"] == "application/geo+json"
    kinds = Counter(ft["properties"]["kind"] for ft in geo.json()["features"])
    assert kinds == {"household": 3, "village": 1}  # H2, H3, far; 青龙社区 (visited 5 days ago)
    station = w["S1"]
    area = clients["admin"].get(f"/api/v1/stations/{station.pk}/service-area/", {"radius_km": 2, "crs": "bd09"})
    body = area.json()
    assert body["households"] == 3  # H1, H2 and H3 at the station's point; far is 4.4 km north
    assert body["households_visited"] == 2 and body["coverage"] == pytest.approx(0.6667)  # H1, H2
    assert [h["visited"] for h in body["items"]].count(True) == 2
    wider = clients["admin"].get(f"/api/v1/stations/{station.pk}/service-area/", {"radius_km": 5}).json()
    assert wider["households"] == 4 and wider["items"][-1]["id"] == str(far.pk)
    assert wider["items"][-1]["distance_km"] == pytest.approx(4.448, abs=0.01)
    assert body["station"]["lon"] != station.lon  # converted
    out_of_scope = clients["worker2"].get(f"/api/v1/stations/{station.pk}/service-area/")
    assert out_of_scope.status_code == 404


@pytest.mark.parametrize("n_visits", [10, 1000])
def test_coverage_query_counts_do_not_depend_on_the_number_of_visits(
    mapped_world, clients, n_visits, django_assert_num_queries
):
    w = mapped_world
    push(
        clients["worker"],
        # From yesterday back: today at 10:00 is still ahead in the small hours.
        [visit(w, started_at=days_ago(1 + i % 200), kind=("guidance", "diagnosis")[i % 2]) for i in range(n_visits)],
    )
    admin = clients["admin"]
    # Over whole months (or all time) a bureau's coverage by division reads the monthly tables: one query more
    # than the daily path (people active come from their own table); any other period reads the daily rollup.
    budgets = [
        ("/api/v1/coverage/divisions/?level=village", 5),
        ("/api/v1/coverage/divisions/?level=county", 5),
        ("/api/v1/coverage/divisions/?level=village&scheme=fisher_jenks&value=visits&crs=gcj02", 5),
        ("/api/v1/coverage/divisions/?level=township&industry=citrus&kind=diagnosis", 6),
        ("/api/v1/coverage/divisions/?level=township&date_from=2025-01-01&date_to=2025-12-31", 5),
        ("/api/v1/coverage/divisions/?level=township&date_from=2025-01-02&date_to=2025-12-31", 4),
        ("/api/v1/coverage/hexagons/?resolution=9&bbox=108,30,109,31", 2),
        ("/api/v1/coverage/hexagons/?resolution=9&scheme=quantiles", 2),
        ("/api/v1/coverage/hexagons/?resolution=7&date_from=2025-03-01&date_to=2025-04-30&kind=training", 2),
        ("/api/v1/coverage/gaps/?days=30", 3),
        (f"/api/v1/stations/{w['S1'].pk}/service-area/?radius_km=5", 5),
    ]
    for url, queries in budgets:
        with django_assert_num_queries(queries):
            response = admin.get(url)
        assert response.status_code == 200, (url, response.content)


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/v1/coverage/divisions/?level=city", "level"),
        ("/api/v1/coverage/divisions/?date_from=2025-13-01", "date_from"),
        ("/api/v1/coverage/divisions/?date_from=2025-06-01&date_to=2025-05-01", "date_to"),
        ("/api/v1/coverage/divisions/?industry=durian", "industry"),
        ("/api/v1/coverage/divisions/?kind=party", "kind"),
        ("/api/v1/coverage/divisions/?crs=epsg3857", "crs"),
        ("/api/v1/coverage/divisions/?format=shp", "format"),
        ("/api/v1/coverage/hexagons/?resolution=8", "resolution"),
        ("/api/v1/coverage/hexagons/?resolution=x", "resolution"),
        ("/api/v1/coverage/hexagons/?bbox=1,2,3", "bbox"),
        ("/api/v1/coverage/hexagons/?bbox=109,30,108,31", "bbox"),
        ("/api/v1/coverage/hexagons/?bbox=a,b,c,d", "bbox"),
        ("/api/v1/coverage/hexagons/?bbox=0,0,200,10", "bbox"),
        ("/api/v1/coverage/gaps/?days=0", "days"),
        ("/api/v1/coverage/gaps/?days=many", "days"),
        ("/api/v1/coverage/gaps/?format=kml", "format"),
        ("/api/v1/indicators/?year=1999", "year"),
        ("/api/v1/indicators/?year=2101", "year"),
        ("/api/v1/indicators/?year=abc", "year"),
        ("/api/v1/indicators/?format=pdf", "format"),
        ("/api/v1/indicators/?year=1999&format=xlsx", "year"),  # errors are JSON whatever the format
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(world, clients, url, field):
    response = clients["admin"].get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["message"] == "The request contains invalid data."
    assert list(body["fields"]) == [field]
    assert body["fields"][field][0]["code"]


def test_bad_service_area_radius_is_a_400(world, clients):
    url = f"/api/v1/stations/{world['S1'].pk}/service-area/"
    for radius in ("0", "101", "far"):
        response = clients["admin"].get(url, {"radius_km": radius})
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["radius_km"]
    response = clients["admin"].get(url, {"format": "geojson"})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["format"]


def test_coverage_needs_authentication(world):
    response = APIClient().get("/api/v1/coverage/divisions/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_household_visited_from_across_the_border_counts_as_visited_where_it_is_registered(mapped_world, clients):
    # The expert meets 杏家湾社区's household H1 at a point in 青龙社区 (another township).
    push(clients["expert"], [visit(mapped_world, household=str(mapped_world["H1"].pk), lat=30.93)])
    township = props(clients["township_viewer"], level="village")
    assert township["500235001001"]["visits"] == 0  # the visit happened elsewhere...
    assert township["500235001001"]["households_visited"] == 1  # ...but H1 was visited
    assert township["500235001001"]["coverage"] == 1.0
    county = props(clients["admin"], level="village")
    assert county["500235002001"]["visits"] == 1 and county["500235002001"]["households_visited"] == 0


def test_viewers_see_households_at_their_grid_cell_centre_and_no_finer_hexagons(visited_world, clients, settings):
    w = visited_world
    settings.COVERAGE_VIEWER_H3_RESOLUTION = 7
    exact = clients["admin"].get("/api/v1/coverage/gaps/", {"days": 3}).json()
    coarse = clients["viewer"].get("/api/v1/coverage/gaps/", {"days": 3}).json()
    assert (exact["location_grid"], coarse["location_grid"]) == (None, 7)
    assert [h["id"] for h in coarse["households"]] == [h["id"] for h in exact["households"]]
    stored = {str(h.pk): h for h in ModelHousehold.objects.all()}
    for shown, precise in zip(coarse["households"], exact["households"], strict=True):
        household = stored[shown["id"]]
        assert (precise["lat"], precise["lon"]) == pytest.approx((household.lat, household.lon), abs=1e-7)
        cell = h3.latlng_to_cell(household.lat, household.lon, 7)
        assert (shown["lat"], shown["lon"]) == pytest.approx(h3.cell_to_latlng(cell), abs=1e-7)
        assert (shown["lat"], shown["lon"]) != pytest.approx((household.lat, household.lon), abs=1e-5)
    geo = clients["viewer"].get("/api/v1/coverage/gaps/", {"days": 3, "format": "geojson"}).json()
    points = {
        ft["id"]: ft["geometry"]["coordinates"] for ft in geo["features"] if ft["properties"]["kind"] == "household"
    }
    assert points == {h["id"]: [h["lon"], h["lat"]] for h in coarse["households"]}

    station = w["S1"]
    area = clients["viewer"].get(f"/api/v1/stations/{station.pk}/service-area/", {"radius_km": 5}).json()
    full = clients["admin"].get(f"/api/v1/stations/{station.pk}/service-area/", {"radius_km": 5}).json()
    assert (area["location_grid"], full["location_grid"]) == (7, None)
    assert [h["id"] for h in area["items"]] == [h["id"] for h in full["items"]]
    for shown in area["items"]:
        household = stored[shown["id"]]
        centre = h3.cell_to_latlng(h3.latlng_to_cell(household.lat, household.lon, 7))
        assert (shown["lat"], shown["lon"]) == pytest.approx(centre, abs=1e-7)
        assert shown["distance_km"] == pytest.approx(
            h3.great_circle_distance((station.lat, station.lon), centre, unit="km"), abs=0.002
        )

    fine = clients["viewer"].get("/api/v1/coverage/hexagons/", {"resolution": 9}).json()
    assert fine["features"] and {ft["properties"]["resolution"] for ft in fine["features"]} == {7}
    assert {ft["id"] for ft in fine["features"]} == {to_hex(v.h3_r7) for v in Visit.objects.all()}
    admin_fine = clients["admin"].get("/api/v1/coverage/hexagons/", {"resolution": 9}).json()
    assert {ft["id"] for ft in admin_fine["features"]} == {to_hex(v.h3_r9) for v in Visit.objects.all()}
    settings.COVERAGE_VIEWER_H3_RESOLUTION = 9
    assert clients["viewer"].get("/api/v1/coverage/gaps/", {"days": 3}).json()["location_grid"] == 9
