"""The visit list at a province's size: jurisdictions as prefix ranges an index serves, and a count that stops at
``COUNT_CAP`` (null past it) while ``next`` and ``previous`` keep paging."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agri.api.pagination import COUNT_CAP, CappedCountPagination, CappedPaginator
from agri.models import Role, Visit
from geo.codes import Level
from geo.lookups import prefix_end
from geo.models import AdminDivision
from tests import factories as f
from tests.agri.map_support import visit
from tests.support import login, query_plan, stored_visit

# Codes at the edges of each level's range, and just outside them.
EDGE_CODES = [
    "499999999999",
    "500000000000",
    "500099999999",
    "500100000000",
    "500200000000",
    "500234999999",
    "500235000000",
    "500235001000",
    "500235001001",
    "500235001009",
    "500235001999",
    "500235002000",
    "500235999999",
    "500236000000",
    "500299999999",
    "509999999999",
    "510000000000",
    "590000000000",
]
PREFIXES = [
    "5",
    "50",
    "59",
    "5002",
    "5009",
    "500235",
    "500239",
    "500235001",
    "500235999",
    "500235001001",
    "500235001999",
    "499",
    "9",
    "0",
]


def test_prefix_end_is_the_least_string_after_every_string_with_the_prefix():
    assert prefix_end("500235") == "500236"
    assert prefix_end("5009") == "500:"
    assert prefix_end("500235001009") == "50023500100:"
    assert prefix_end("") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") is None


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_prefix_lookup_selects_what_startswith_does(prefix):
    for code in EDGE_CODES:
        AdminDivision.objects.create(code=code, name=code, level=Level.VILLAGE)
    by_prefix = set(AdminDivision.objects.filter(code__prefix=prefix).values_list("code", flat=True))
    by_like = set(AdminDivision.objects.filter(code__startswith=prefix).values_list("code", flat=True))
    assert by_prefix == by_like == {c for c in EDGE_CODES if c.startswith(prefix)}


def _plan(queryset) -> tuple[str, tuple, str]:
    sql, params = queryset.query.sql_with_params()
    if connection.vendor != "sqlite":
        return sql, params, ""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return sql, params, " / ".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["500235001", "500235001001"])
def test_a_township_or_village_prefix_is_looked_up_in_the_scope_index(prefix):
    sql, params, plan = _plan(Visit.objects.filter(scope_code__prefix=prefix).values("id"))
    if connection.vendor == "postgresql":  # the varchar_pattern_ops index serves LIKE 'p%'
        assert "LIKE" in sql and params == (prefix + "%",)
        return
    assert "LIKE" not in sql and params == (prefix, prefix_end(prefix))
    assert "USING INDEX visit_scope_date (scope_code>? AND scope_code<?)" in plan, plan


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["50", "5002", "500235"])
def test_a_county_or_wider_prefix_walks_the_lists_order_on_sqlite(prefix):
    """SQLite holds one county: a county's prefix is (nearly) every row, and the list's first page walks
    visit_started rather than reading the whole scope range to sort it."""
    queryset = Visit.objects.filter(scope_code__prefix=prefix).values("id").order_by("-started_at", "id")[:100]
    sql, params, plan = _plan(queryset)
    if connection.vendor == "postgresql":
        assert "LIKE" in sql and params[0] == prefix + "%"
        return
    assert "visit_scope_date" not in plan and "USING INDEX visit_started" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def _fields_of(visit: Visit, but: set[str]) -> dict:
    """The stored columns of ``visit`` (by attribute name) except ``but``: a template for many more like it."""
    return {f.attname: getattr(visit, f.attname) for f in Visit._meta.concrete_fields if f.attname not in but}


# The scope codes visits carry: a village's code, or the actor's home (a township or county prefix) for a point in
# no village; and the edges of each range.
SCOPES = [
    "499999999999",
    "500000000000",
    "500101001001",
    "500234999999",
    "500235",
    "500235001",
    "500235001000",
    "500235001001",
    "500235001003",
    "500235001999",
    "500235002001",
    "500235999999",
    "500236000000",
    "500236001001",
    "509999999999",
    "510000000000",
]


@pytest.mark.parametrize(
    "jurisdiction", ["50", "5001", "5002", "500235", "500236", "500235001", "500235001001", "500235999999", "51"]
)
def test_a_bureau_account_lists_exactly_the_visits_under_its_jurisdiction(world, jurisdiction):
    ids = {scope: str(stored_visit(world, scope).id) for scope in SCOPES}
    account = f.UserFactory(username=f"bureau-{jurisdiction}", role=Role.BUREAU_VIEWER, jurisdiction=jurisdiction)
    response = login(account).get("/api/v1/visits/", {"page_size": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    expected = {ids[s] for s in SCOPES if s.startswith(jurisdiction)}
    assert {row["id"] for row in body["results"]} == expected
    assert body["count"] == len(expected)


def _post(world, client, n: int) -> None:
    response = client.post("/api/v1/sync/visits/", {"visits": [visit(world) for _ in range(n)]}, format="json")
    assert response.status_code == 200, response.content
    assert [r["status"] for r in response.json()["results"]] == ["created"] * n


def _pages(client, url: str) -> list[dict]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        url = pages[-1]["next"]
    return pages


def test_the_count_is_exact_up_to_the_cap(mapped_world, clients, monkeypatch):
    monkeypatch.setattr(CappedCountPagination, "count_cap", 7)
    _post(mapped_world, clients["worker"], 7)
    pages = _pages(clients["worker"], "/api/v1/visits/?page_size=3")
    assert [p["count"] for p in pages] == [7, 7, 7]
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    last = clients["worker"].get("/api/v1/visits/", {"page_size": 3, "page": "last"})
    assert last.status_code == 200 and last.json()["results"] == pages[-1]["results"]
    assert clients["worker"].get("/api/v1/visits/", {"page_size": 3, "page": 4}).status_code == 404


def test_past_the_cap_the_count_is_null_and_next_and_previous_page_through_every_visit(
    mapped_world, clients, monkeypatch
):
    monkeypatch.setattr(CappedCountPagination, "count_cap", 6)
    _post(mapped_world, clients["worker"], 7)
    pages = _pages(clients["worker"], "/api/v1/visits/?page_size=3")
    assert [p["count"] for p in pages] == [None, None, None]
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    listed = [row["id"] for p in pages for row in p["results"]]
    assert sorted(listed) == sorted(str(v) for v in Visit.objects.values_list("id", flat=True))
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    back = clients["worker"].get(pages[-1]["previous"]).json()
    assert back["results"] == pages[1]["results"] and back["count"] is None
    # Exactly a page's worth on the last page: no next link to an empty page.
    full = clients["worker"].get("/api/v1/visits/", {"page_size": 7}).json()
    assert (full["count"], full["next"], len(full["results"])) == (None, None, 7)
    # A page past the end, and "last" (whose number a capped count does not know): 404, as any invalid page.
    for page in (4, "last", 0, "x"):
        response = clients["worker"].get("/api/v1/visits/", {"page_size": 3, "page": page})
        assert response.status_code == 404, (page, response.content)
        assert response.json()["code"] == "not_found"
    # Another account's list is counted on its own slice: under the cap, exact.
    assert clients["worker2"].get("/api/v1/visits/").json()["count"] == 0


@pytest.mark.parametrize("cap", [100, 3])
def test_the_list_query_count_is_the_same_with_or_without_an_exact_count(
    mapped_world, clients, monkeypatch, django_assert_num_queries, cap
):
    monkeypatch.setattr(CappedCountPagination, "count_cap", cap)
    _post(mapped_world, clients["worker"], 5)
    # token with user and linked worker (1), the capped count (1), the page's keys (1), its visits (1)
    with django_assert_num_queries(4):
        response = clients["worker"].get("/api/v1/visits/?page_size=2")
    assert response.json()["count"] == (5 if cap == 100 else None)


def test_the_count_reads_at_most_cap_plus_one_rows(mapped_world, clients):
    _post(mapped_world, clients["worker"], 2)
    with CaptureQueriesContext(connection) as queries:
        assert clients["worker"].get("/api/v1/visits/").json()["count"] == 2
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and f"LIMIT {COUNT_CAP + 1}" in counts[0], counts


def test_the_schema_says_the_visit_count_may_be_null(db, client):
    schema = client.get("/api/schema/?format=json").json()
    pages = schema["components"]["schemas"]
    visits = pages["PaginatedVisitList"]["properties"]["count"]
    assert visits["nullable"] is True and "null" in visits["description"]
    assert "nullable" not in pages["PaginatedModelHouseholdList"]["properties"]["count"]


def test_a_pull_still_has_no_count(mapped_world, clients):
    _post(mapped_world, clients["worker"], 2)
    pulled = clients["worker"].get("/api/v1/visits/", {"updated_since": "1970-01-01T00:00:00Z"}).json()
    assert "count" not in pulled and len(pulled["results"]) == 2


@pytest.mark.parametrize(
    ("division", "listed"),
    [("50", 2), ("5002", 2), ("500235", 2), ("500235001", 2), ("500235001001", 2)]
    + [("500235002", 0), ("500236", 0), ("500235001003", 0), ("5001", 0)],
)
def test_the_division_filter_matches_the_prefix_at_every_level(mapped_world, clients, division, listed):
    _post(mapped_world, clients["worker"], 2)  # both in village 500235001001
    response = clients["worker"].get("/api/v1/visits/", {"division": division})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == listed


@pytest.mark.parametrize(
    ("role", "index"), [("worker", "visit_worker_started"), ("commissioner", "visit_commissioner_started")]
)
def test_a_workers_or_commissioners_first_page_and_count_read_their_own_index(world, role, index):
    """The list a phone's account opens: its page walks the person's own live visits in the list's order (no sort,
    no filter over other people's visits) and its capped count reads that index alone."""
    # A table where the account's visits are a small share, some of them deleted, with the planner's statistics.
    stored = stored_visit(world, "500235001001")
    template = _fields_of(stored, but={"id", "worker_id", "commissioner_id", "started_at", "deleted_at"})
    actors = [{"worker": world["W2"]}] * 2000 + [{"worker": world["W1"]}] * 40 + [{"commissioner": world["C1"]}] * 40
    Visit.objects.bulk_create(
        Visit(**template, **actor, started_at=stored.started_at - timedelta(hours=i), deleted_at=deleted)
        for i, actor in enumerate(actors)
        for deleted in [stored.started_at if i % 10 == 3 else None]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    listed = Visit.objects.visible_to(world.users[role]).alive().values("id", "updated_at")
    page = query_plan(listed[:101])
    assert index in page and "TEMP B-TREE" not in page and "Sort" not in page, page
    count = query_plan(CappedPaginator(listed, 100, COUNT_CAP).counted())
    if connection.vendor == "sqlite":
        assert f"USING INDEX {index} ({role}_id=?)" in count, count
    else:
        # Either index of the person (which, depends on the visibility map: the partial one's index-only scan
        # needs a VACUUM, which a test's transaction cannot run), never a scan of other people's visits.
        assert f"Index Cond: ({role}_id = " in count and "visit_started" not in count, count


@pytest.mark.django_db(transaction=True)  # PostgreSQL's VACUUM runs outside a transaction
@pytest.mark.parametrize("who", ["viewer", "township_viewer"])
def test_a_jurisdictions_capped_count_reads_its_live_visits_index_alone(world, who):
    """A bureau account's count reads at most ``COUNT_CAP + 1`` entries of the jurisdiction's live visits from
    ``visit_scope_live`` (scope, id; live visits only), never the table: a bitmap over ``visit_scope_date`` read
    every visit of a county's 250,000 at a province's size, to count 10,001 of them."""
    stored = stored_visit(world, "500235001001")
    template = _fields_of(stored, but={"id", "scope_code", "deleted_at"})
    # The jurisdiction's visits a small share of the table (other counties'), some of them deleted.
    scopes = ["500235001001"] * 200 + ["500235002001"] * 200 + ["500236001001"] * 4000
    Visit.objects.bulk_create(
        Visit(**template, scope_code=scope, deleted_at=stored.started_at if i % 10 == 3 else None)
        for i, scope in enumerate(scopes)
    )
    listed = Visit.objects.visible_to(world.users[who]).alive().values("id", "updated_at")
    counted = CappedPaginator(listed, 100, COUNT_CAP).counted()
    jurisdiction = world.users[who].jurisdiction
    live = [scope for i, scope in enumerate(scopes) if i % 10 != 3] + [stored.scope_code]
    assert counted.count() == sum(scope.startswith(jurisdiction) for scope in live)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # As autovacuum leaves a live table: statistics, and the visibility map that index-only scans need.
            cursor.execute("VACUUM ANALYZE agri_visit")
        plan = query_plan(counted)
    else:
        with transaction.atomic():  # SQLite's statistics (sqlite_stat1) go with the rollback, not to later tests
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            plan = query_plan(counted)
            transaction.set_rollback(True)
    if connection.vendor == "sqlite":
        # SQLite holds one county, whose count walks the table up to the cap (nearly every row is the county's);
        # a township's reads its range of the index (SQLite reads the row too, for deleted_at).
        county = len(jurisdiction) <= 6
        assert ("SCAN agri_visit" if county else "USING INDEX visit_scope_live (scope_code>? AND scope_code<?)") in plan
    else:
        assert "Index Only Scan using visit_scope_live" in plan, plan
