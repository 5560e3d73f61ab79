"""Coverage over whole months (the monthly tables) answers exactly what the daily rollup and the visit table answer,
on random visits created, edited, moved and deleted through the API (SQLite and PostgreSQL alike)."""

import random
import re
from datetime import date, timedelta

import pytest
import shapely
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agri.models import DivisionMonth, HexMonth, PresenceCount, PresenceMonth, Role
from agri.selectors import coverage
from agri.services.rollups import visits_reassign
from geo.services import DivisionRow, division_upsert_many
from tests import factories as f
from tests.agri.map_support import days_ago, push, visit
from tests.support import login

KINDS = ("guidance", "diagnosis", "training", "other")


def _patch(client, visit_id, changes):
    etag = client.get(f"/api/v1/visits/{visit_id}/")["ETag"]
    response = client.patch(f"/api/v1/visits/{visit_id}/", changes, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content


def _authors(w) -> dict:
    """Who writes the random visits: account -> (latitude range, the targets their visits pick from)."""
    return {
        "worker": ((30.942, 30.968), [{"household": str(w["H1"].pk)}, {"household": None, "village": "500235001003"}]),
        "worker2": ((30.921, 30.939), [{"household": str(w["H2"].pk)}]),
        "expert": ((30.921, 30.959), [{"household": str(w["H1"].pk)}, {"household": str(w["H2"].pk)}]),
        "commissioner": ((30.941, 30.959), [{"household": None, "station": w["S1"].pk}]),
    }


@pytest.fixture
def random_visits(mapped_world, clients):
    """About 120 visits over five months by two workers, an expert and a commissioner, a fifth of them edited (kind,
    industry, day, place) and a tenth deleted; a few fall in no village."""
    w = mapped_world
    rng = random.Random(15)
    authors = _authors(w)
    made = []
    for who, (lats, targets) in authors.items():
        items = []
        for _ in range(30):
            target = rng.choice(targets)
            kind = rng.choice(KINDS)
            body = visit(
                w,
                **target,
                kind=kind,
                industry=rng.choice(["citrus", "goats", None]),
                started_at=days_ago(rng.randint(1, 150), rng.randint(7, 18)),
                lat=round(rng.uniform(*lats), 5),
                lon=round(rng.uniform(108.691, 108.729), 5),
                participants=rng.randint(1, 30),
            )
            items.append(body)
        push(clients[who], items)
        made += [(who, item["id"]) for item in items]
    for who, visit_id in rng.sample(made, 24):
        change = rng.choice(
            [
                {"kind": rng.choice(("guidance", "diagnosis"))},
                {"industry": rng.choice(["citrus", "goats"])},
                {"started_at": days_ago(rng.randint(1, 150), 9)},
                {"lon": round(rng.uniform(108.691, 108.729), 5)},
            ]
        )
        _patch(clients[who], visit_id, change)
    for who, visit_id in rng.sample(made, 12):
        assert clients[who].delete(f"/api/v1/visits/{visit_id}/").status_code == 204
    return made


def _months_back(n: int):
    """The first day of the month ``n`` months before this one, and the last day of last month."""
    today = timezone.localdate()
    first = today.replace(day=1)
    start = first
    for _ in range(n):
        start = (start - timedelta(days=1)).replace(day=1)
    return start.isoformat(), (first - timedelta(days=1)).isoformat()


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json(), " ".join(q["sql"] for q in queries.captured_queries)


@pytest.mark.parametrize("who", ["admin", "township_viewer", "province"])
def test_the_monthly_path_equals_the_daily_path(random_visits, clients, monkeypatch, who):
    if who == "province":  # a province's bureau (2 digits): the province rows of the r5 and r7 cells
        clients[who] = login(f.UserFactory(username="province", role=Role.BUREAU_VIEWER, jurisdiction="50"))
    client = clients[who]
    start, end = _months_back(3)
    periods = ["", f"&date_from={start}&date_to={end}", f"&date_from={start}", f"&date_to={end}"]
    filters = ["", "&industry=citrus", "&kind=diagnosis", "&industry=goats&kind=guidance"]
    urls = [
        f"/api/v1/coverage/divisions/?level={level}{period}{only}"
        for level in ("village", "township", "county")
        for period in periods
        for only in filters
    ] + [
        f"/api/v1/coverage/hexagons/?resolution={resolution}{period}{only}"
        for resolution in (5, 7, 9)
        for period in periods
        for only in filters
    ]
    # The grain each read takes: a county's account reads the township and county rows (and the county-scope cells),
    # a township's the township rows and the village rows for the rest (its 9 digits are longer than a county's 6).
    county_wide = who in ("admin", "province")
    grains = {"level=village": "v", "level=township": "t", "level=county": "c" if county_wide else "v"}
    coarse_cells = {"admin": "c", "province": "p"}.get(who, "v")
    monthly = {}
    for url in urls:
        body, sql = _queries(client, url)
        table = (HexMonth if "hexagons" in url else DivisionMonth)._meta.db_table
        assert table in sql, url  # answered from the monthly tables
        # r5 and r7 have county and province rows (a coarse reader's r9 request is answered at r7).
        cells = coarse_cells if re.search(r'"resolution" = [57]\b', sql) else "v"
        grain = next((g for level, g in grains.items() if level in url), cells)
        assert f'"{table}"."grain" = \'{grain}\'' in sql, url
        monthly[url] = body
    monkeypatch.setattr(coverage, "whole_months", lambda only: False)
    counted = 0
    for url in urls:
        body, sql = _queries(client, url)
        assert DivisionMonth._meta.db_table not in sql and HexMonth._meta.db_table not in sql
        assert body == monthly[url], url
        counted += sum(f["properties"]["visits"] for f in body["features"])
    assert counted > 0
    # The random data reach every figure: households visited, people active, unassigned visits.
    villages = monthly["/api/v1/coverage/divisions/?level=village"]["features"]
    assert any(f["properties"]["households_visited"] for f in villages)
    assert any(f["properties"]["workers_active"] for f in villages)
    assert any(f["properties"]["commissioners_active"] for f in villages)
    if who != "township_viewer":
        county = monthly["/api/v1/coverage/divisions/?level=county"]["features"]
        active = {f["properties"]["code"]: f["properties"]["workers_active"] for f in county}
        assert active["500235000000"] == 2  # distinct over both townships
        assert sum(active.values()) == 2  # the province's other counties had no visit


def test_a_period_of_whole_months_is_told_from_others():
    from datetime import date

    f = coverage.CoverageFilter
    assert coverage.whole_months(f())
    assert coverage.whole_months(f(date(2025, 2, 1), date(2025, 2, 28)))
    assert coverage.whole_months(f(date(2024, 2, 1), date(2024, 2, 29)))
    assert coverage.whole_months(f(None, date(2025, 12, 31)))
    assert not coverage.whole_months(f(date(2024, 2, 1), date(2024, 2, 28)))
    assert not coverage.whole_months(f(date(2025, 2, 2), None))


@pytest.mark.parametrize(
    "prefix, inside, outside",
    [
        ("500235", ["500235000000", "500235999999"], ["500234999999", "500236000000", "50023"]),
        ("5009", ["500900000000", "500999999999"], ["501000000000", "500899999999"]),
        ("99", ["990000000000", "999999999999"], ["980000000000"]),
    ],
)
def test_a_jurisdiction_is_a_code_range(prefix, inside, outside):
    bounds = dict(coverage.code_range("code", prefix).children)
    low, high = bounds["code__gte"], bounds.get("code__lt")

    def within(code):
        return low <= code and (high is None or code < high)

    assert all(within(code) for code in inside)
    assert not any(within(code) for code in outside)


@pytest.fixture
def years_of_visits(mapped_world, clients):
    """About 100 visits over the last three years and a half by two workers, an expert and a commissioner, a fifth
    of them edited (moved across a year's end, to another village, kind or industry), a tenth deleted, then moved
    to new village boundaries (a reassignment)."""
    w = mapped_world
    rng = random.Random(23)
    authors = _authors(w)
    made = []
    for who, (lats, targets) in authors.items():
        items = [
            visit(
                w,
                **rng.choice(targets),
                kind=rng.choice(KINDS),
                industry=rng.choice(["citrus", "goats", None]),
                started_at=days_ago(rng.randint(1, 1300), rng.randint(7, 18)),
                lat=round(rng.uniform(*lats), 5),
                lon=round(rng.uniform(108.691, 108.729), 5),
                participants=rng.randint(1, 30),
            )
            for _ in range(25)
        ]
        push(clients[who], items)
        made += [(who, item["id"]) for item in items]
    today = timezone.localdate()
    for who, visit_id in rng.sample(made, 20):
        # Around the new year of one of the last three years, or anywhere in the three years and a half.
        new_year = today.replace(year=today.year - rng.randint(0, 2), month=1, day=1)
        day = new_year + timedelta(days=rng.randint(-20, 20))
        days = (today - day).days if rng.random() < 0.6 and day < today else rng.randint(1, 1300)
        change = rng.choice(
            [
                {"started_at": days_ago(days, 9)},
                {"started_at": days_ago(days, 9), "kind": rng.choice(("guidance", "diagnosis"))},
                {"lon": round(rng.uniform(108.691, 108.729), 5)},
                {"industry": rng.choice(["citrus", "goats"])},
            ]
        )
        _patch(clients[who], visit_id, change)
    for who, visit_id in rng.sample(made, 10):
        assert clients[who].delete(f"/api/v1/visits/{visit_id}/").status_code == 204
    division_upsert_many(
        [
            DivisionRow(
                "500235001001", "杏家湾社区", "village", "500235001000", shapely.box(108.69, 30.94, 108.7, 30.99)
            ),
            DivisionRow(
                "500235001003", "黄金包社区", "village", "500235001000", shapely.box(108.7, 30.94, 108.73, 30.96)
            ),
        ]
    )
    assert visits_reassign() > 0
    return made


def _periods_over_years() -> dict[str, str]:
    """Periods of whole months over the last three years and a half: whole years, one or several, periods across a
    year's end, parts of a year, and open ends."""
    this = timezone.localdate().year
    last, before, third = this - 1, this - 2, this - 3

    def period(first, end):
        return (f"&date_from={first}" if first else "") + (f"&date_to={end}" if end else "")

    return {
        "last year": period(f"{last}-01-01", f"{last}-12-31"),
        "two years": period(f"{before}-01-01", f"{last}-12-31"),
        "across a new year": period(f"{before}-11-01", date(last, 3, 1) - timedelta(days=1)),
        "a year and months either side": period(f"{third}-10-01", f"{last}-03-31"),
        "months, then a whole year": period(f"{third}-06-01", f"{before}-12-31"),
        "a whole year, then months": period(f"{before}-01-01", f"{last}-05-31"),
        "part of a year": period(f"{last}-03-01", f"{last}-08-31"),
        "a month": period(f"{last}-03-01", f"{last}-03-31"),
        "up to a year's end": period("", f"{before}-12-31"),
        "up to a month": period("", f"{last}-04-30"),
        "from a new year": period(f"{last}-01-01", ""),
        "from a month": period(f"{before}-07-01", ""),
        "all time": "",
    }


@pytest.mark.parametrize("who", ["admin", "township_viewer", "province"])
def test_people_active_over_years_equal_the_daily_path(years_of_visits, clients, monkeypatch, who):
    if who == "province":
        clients[who] = login(f.UserFactory(username="province", role=Role.BUREAU_VIEWER, jurisdiction="50"))
    client = clients[who]
    periods = _periods_over_years()
    urls = {
        (name, level, only): f"/api/v1/coverage/divisions/?level={level}{period}{only}"
        for name, period in periods.items()
        for level in ("village", "township", "county")
        for only in ("", "&industry=citrus", "&kind=diagnosis")
    }
    urls |= {
        (name, f"r{resolution}", only): f"/api/v1/coverage/hexagons/?resolution={resolution}{period}{only}"
        for name, period in periods.items()
        for resolution in (7, 9)
        for only in ("", "&kind=diagnosis")
    }
    monthly = {}
    for key, url in urls.items():
        body, sql = _queries(client, url)
        name, level, only = key
        table = (HexMonth if level.startswith("r") else DivisionMonth)._meta.db_table
        # Whole years are read from the year rows (of people, places and cells); a period without one from the
        # month rows only.
        whole_year = name not in ("across a new year", "part of a year", "a month")
        assert (f'"{table}"."span" = \'y\'' in sql) == whole_year, url
        monthly[url] = body
        if level.startswith("r"):
            continue
        assert PresenceMonth._meta.db_table in sql, url
        people = f"({PresenceMonth._meta.db_table}|{PresenceCount._meta.db_table})"
        spans = {span for _table, span in re.findall(rf'"{people}"."span" = \'(\w)\'', sql)}
        assert ("y" in spans) == whole_year, url
        # One year or one month of a township or county map, without a filter: the people counted already.
        counted = level == "township" or (level == "county" and who != "township_viewer")
        assert (PresenceCount._meta.db_table in sql) == (name in ("last year", "a month") and counted and not only)
    monkeypatch.setattr(coverage, "whole_months", lambda only: False)
    active = 0
    for (_name, level, _only), url in urls.items():
        body, sql = _queries(client, url)
        assert all(m._meta.db_table not in sql for m in (PresenceMonth, DivisionMonth, HexMonth)), url
        assert body == monthly[url], url
        if not level.startswith("r"):
            active += sum(f["properties"]["workers_active"] for f in body["features"])
    assert active > 0
    for resolution in (7, 9):  # the cells' year rows hold the visits of two years
        assert sum(f["properties"]["visits"] for f in monthly[urls[("two years", f"r{resolution}", "")]]["features"])
    # People active in many months and places of two years, counted once each.
    townships = monthly[urls[("two years", "township", "")]]["features"]
    assert any(f["properties"]["workers_active"] for f in townships)
    assert any(f["properties"]["commissioners_active"] for f in townships)
    if who != "township_viewer":  # both workers in the county
        counties = monthly[urls[("two years", "county", "")]]["features"]
        assert {f["properties"]["code"]: f["properties"]["workers_active"] for f in counties}["500235000000"] == 2


@pytest.mark.parametrize(
    ("date_from", "date_to", "parts"),
    [
        (None, None, [("y", None, None)]),
        ("2024-01-01", "2024-12-31", [("y", "2024-01-01", "2024-12-31")]),
        ("2024-03-01", "2024-08-31", [("m", "2024-03-01", "2024-08-31")]),
        ("2023-11-01", "2024-02-29", [("m", "2023-11-01", "2024-02-29")]),
        (
            "2022-10-01",
            "2024-03-31",
            [("m", "2022-10-01", "2022-12-31"), ("y", "2023-01-01", "2023-12-31"), ("m", "2024-01-01", "2024-03-31")],
        ),
        ("2022-01-01", "2024-05-31", [("y", "2022-01-01", "2023-12-31"), ("m", "2024-01-01", "2024-05-31")]),
        (None, "2024-04-30", [("y", None, "2023-12-31"), ("m", "2024-01-01", "2024-04-30")]),
        ("2023-07-01", None, [("m", "2023-07-01", "2023-12-31"), ("y", "2024-01-01", None)]),
        ("2024-01-01", None, [("y", "2024-01-01", None)]),
    ],
)
def test_a_period_is_read_as_its_whole_years_and_the_months_left_over(date_from, date_to, parts):
    def day(value):
        return None if value is None else date.fromisoformat(value)

    assert coverage.presence_spans(day(date_from), day(date_to)) == [(s, day(a), day(b)) for s, a, b in parts]


# Around the random visits (lat 30.921-30.968, lon 108.691-108.729): all of them; across them in three ways; none.
BBOXES = {
    "all": "108.0,30.0,109.5,31.5",
    "across": "108.700,30.930,108.720,30.960",
    "south-west": "108.691,30.921,108.705,30.945",
    "north-east": "108.710,30.950,108.750,31.000",
    "none": "108.8,31.1,108.9,31.2",
}


@pytest.mark.parametrize("who", ["admin", "township_viewer", "province"])
def test_hexagons_in_a_bbox_from_the_monthly_table_equal_the_visits_in_it(random_visits, clients, monkeypatch, who):
    """At r5 and r7 a bbox keeps the monthly rows of the cells wholly inside it and counts only the cells across its
    edge from their visits: the same figures as grouping the visits inside the bbox, cell by cell."""
    if who == "province":
        clients[who] = login(f.UserFactory(username="province", role=Role.BUREAU_VIEWER, jurisdiction="50"))
    client = clients[who]
    start, end = _months_back(3)
    urls = {
        (
            resolution,
            name,
            period,
            only,
        ): f"/api/v1/coverage/hexagons/?resolution={resolution}&bbox={bbox}{period}{only}"
        for resolution in (5, 7)
        for name, bbox in BBOXES.items()
        for period, only in (("", ""), (f"&date_from={start}&date_to={end}", "&kind=diagnosis"))
    }
    monthly = {}
    for key, url in urls.items():
        body, sql = _queries(client, url)
        assert HexMonth._meta.db_table in sql, url
        # Cells wholly inside or outside are not counted again; only the cells across the edge are, by their ids.
        counted_again = re.search(r'FROM "agri_visit".* "agri_visit"\."h3_r[57]" IN \(', sql)
        assert (counted_again is not None) == (key[1] in ("across", "south-west", "north-east")), (url, sql)
        monthly[key] = body
    monkeypatch.setattr(coverage, "whole_months", lambda only: False)
    for key, url in urls.items():
        body, sql = _queries(client, url)
        assert HexMonth._meta.db_table not in sql
        assert body == monthly[key], url
    visits = {key: sum(f["properties"]["visits"] for f in body["features"]) for key, body in monthly.items()}
    for resolution in (5, 7):
        every = visits[(resolution, "all", "", "")]
        assert every > 0 and visits[(resolution, "none", "", "")] == 0
        for part in ("across", "south-west", "north-east"):
            assert 0 < visits[(resolution, part, "", "")] < every, (resolution, part)
