"""A visit's team expert (``Visit.team_expert``), kept by database triggers (``agri.changelog.team_sql``): its own
expert when an expert wrote it, else its worker's expert, NULL for a commissioner's; it follows a change of the
visit's worker and a worker's move to another expert, whatever the write path (the API, the ORM, raw SQL). An
expert's list reads it (``for_expert``) through ``visit_team_started``; keeping it logs no sync change."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from agri.api.pagination import COUNT_CAP, CappedPaginator
from agri.models import Change, Role, Visit
from tests import factories as f
from tests.agri.map_support import visit
from tests.support import build_world, login, query_plan, stored_visit

pytestmark = pytest.mark.django_db


def _team(visit_id) -> int | None:
    return Visit.objects.values_list("team_expert_id", flat=True).get(pk=visit_id)


def _changes(visit_id=None) -> int:
    """The visit change rows (of one visit: its id as the trigger writes it, hex on SQLite)."""
    changes = Change.objects.filter(kind="visit")
    if visit_id is None:
        return changes.count()
    key = uuid.UUID(str(visit_id))
    return changes.filter(record_id=key.hex if connection.vendor == "sqlite" else str(key)).count()


def _columns_of(stored: Visit, but: set[str]) -> dict:
    """The stored columns of a visit (by attribute name) but ``but``: a template for more visits like it."""
    return {f.attname: getattr(stored, f.attname) for f in Visit._meta.concrete_fields if f.attname not in but}


@pytest.mark.parametrize(
    ("role", "team"), [("worker", "E1"), ("worker2", "E1"), ("expert", "E1"), ("commissioner", None)]
)
def test_a_visit_posted_through_the_api_carries_its_team_expert(world, clients, role, team):
    targets = {"worker2": {"household": str(world["H2"].pk)}}
    targets["commissioner"] = {"household": None, "station": world["S1"].pk, "industry": None}
    body = visit(world, **targets.get(role, {}))
    response = clients[role].post("/api/v1/visits/", body)
    assert response.status_code == 201, response.content
    assert _team(body["id"]) == (world[team].pk if team else None)
    assert "team_expert" not in response.json() and "team_expert_id" not in response.json()
    # One change row: the insert's (keeping the team logged nothing more).
    assert _changes(body["id"]) == 1


def test_a_batch_sync_stores_the_team_of_every_visit(world, clients):
    bodies = [visit(world) for _ in range(3)]
    response = clients["worker"].post("/api/v1/sync/visits/", {"visits": bodies}, format="json")
    assert response.status_code == 200, response.content
    assert {_team(b["id"]) for b in bodies} == {world["E1"].pk}
    assert [_changes(b["id"]) for b in bodies] == [1, 1, 1]


def test_bulk_create_and_raw_sql_inserts_get_their_team_whatever_they_say(world):
    stored = stored_visit(world)
    template = _columns_of(stored, but={"id", "worker_id", "team_expert_id"})
    made = Visit.objects.bulk_create(
        [
            Visit(**template, worker=world["W3"]),  # E2's worker
            Visit(**template, worker=world["W1"], team_expert=world["E2"]),  # a wrong team is corrected
            Visit(**{**template, "worker_id": None, "commissioner_id": world["C1"].pk}),
        ]
    )
    assert [_team(v.pk) for v in made] == [world["E2"].pk, world["E1"].pk, None]
    # Raw SQL, as a bulk load writes: every column named, the team NULL or wrong.
    fields = Visit._meta.concrete_fields
    columns = [f.column for f in fields]
    for team in (None, world["E2"].pk):
        new_id = uuid.uuid4()
        values = {f.column: f.get_db_prep_save(getattr(stored, f.attname), connection) for f in fields}
        values.update(id=Visit._meta.pk.get_db_prep_save(new_id, connection), team_expert_id=team)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO agri_visit ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                [values[c] for c in columns],
            )
        assert _team(new_id) == world["E1"].pk
        assert _changes(new_id) == 1


def test_a_visits_new_worker_or_expert_changes_its_team(world):
    stored = stored_visit(world)
    assert _team(stored.pk) == world["E1"].pk
    before = _changes(stored.pk)
    Visit.objects.filter(pk=stored.pk).update(worker=world["W3"])
    assert _team(stored.pk) == world["E2"].pk
    assert _changes(stored.pk) == before + 1  # the worker's change, once
    Visit.objects.filter(pk=stored.pk).update(worker=None, expert=world["E1"])
    assert _team(stored.pk) == world["E1"].pk
    Visit.objects.filter(pk=stored.pk).update(expert=None, commissioner=world["C1"])
    assert _team(stored.pk) is None
    assert _changes(stored.pk) == before + 3
    # A save of the whole row (the admin's) from an instance that never read the team keeps it right too.
    stored.refresh_from_db()
    stored.commissioner, stored.worker = None, world["W2"]
    stored.save()
    assert _team(stored.pk) == world["E1"].pk
    # An edit that names neither the expert nor the worker keeps the team.
    Visit.objects.filter(pk=stored.pk).update(notes="复查")
    assert _team(stored.pk) == world["E1"].pk


def test_a_worker_moved_to_another_expert_takes_its_visits_and_logs_each_once(world):
    by_w1 = [stored_visit(world) for _ in range(3)]
    by_w2 = stored_visit(world, worker=world["W2"])
    by_e1 = stored_visit(world, expert=world["E1"])
    by_c1 = stored_visit(world, commissioner=world["C1"])
    before = _changes()
    world["W1"].expert = world["E2"]
    world["W1"].save(update_fields=["expert"])
    assert [_team(v.pk) for v in by_w1] == [world["E2"].pk] * 3
    assert (_team(by_w2.pk), _team(by_e1.pk), _team(by_c1.pk)) == (world["E1"].pk, world["E1"].pk, None)
    # The worker_visits cascade logs each of the worker's visits once; the team's update logs nothing.
    assert _changes() == before + 3
    assert [_changes(v.pk) for v in by_w1] == [2, 2, 2]  # the insert, the move
    # A save that does not change the expert moves nothing and logs nothing.
    world["W1"].save()
    assert _changes() == before + 3 and [_team(v.pk) for v in by_w1] == [world["E2"].pk] * 3


@pytest.mark.django_db(transaction=True)  # two connections, each committing
def test_a_visit_written_while_its_worker_moves_joins_the_new_team():
    """A phone's visit inserted while a move of its worker is not yet committed: the move's UPDATE of the worker's
    visits cannot see it, so the insert waits for the move (PostgreSQL: the trigger reads the worker FOR SHARE;
    SQLite: one writer at a time) and takes the new expert, not the one a snapshot of before the move shows."""
    world = build_world()
    moved, release, done = threading.Event(), threading.Event(), threading.Event()
    written: dict = {}

    def mover():
        try:
            with transaction.atomic():
                world["W1"].expert = world["E2"]
                world["W1"].save(update_fields=["expert"])
                moved.set()
                release.wait(30)
        finally:
            connection.close()

    def writer():
        try:
            written["visit"] = stored_visit(world)
        finally:
            connection.close()
            done.set()

    threads = [threading.Thread(target=mover), threading.Thread(target=writer)]
    threads[0].start()
    assert moved.wait(30)
    threads[1].start()
    done.wait(1)  # the insert waits for the move to end (it would be done by now if it did not)
    release.set()
    for thread in threads:
        thread.join(30)
    assert done.is_set() and "visit" in written
    assert _team(written["visit"].pk) == world["E2"].pk
    # Its change row, written after the wait, names the new expert too: the new expert's phone gets it.
    key = written["visit"].pk.hex if connection.vendor == "sqlite" else str(written["visit"].pk)
    people = Change.objects.get(kind="visit", record_id=key).people.split()
    assert f"e{world['E2'].pk}" in people and f"e{world['E1'].pk}" not in people


def test_updating_any_visit_column_but_the_team_logs_one_change(world):
    """The visit's change-log trigger fires on an UPDATE of each of its columns (the list is the table's), but the
    team's alone."""
    stored = stored_visit(world)
    quote = connection.ops.quote_name
    key = Visit._meta.pk.get_db_prep_value(stored.pk, connection)
    columns = [f.column for f in Visit._meta.concrete_fields if f.column not in {"id", "team_expert_id"}]
    for column in columns:
        before = _changes(stored.pk)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE agri_visit SET {quote(column)} = {quote(column)} WHERE id = %s", [key])
        assert _changes(stored.pk) == before + 1, column
    before = _changes()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE agri_visit SET team_expert_id = NULL")
    assert _changes() == before


def _listed(client) -> tuple[set[str], int]:
    response = client.get("/api/v1/visits/", {"page_size": 100})
    assert response.status_code == 200, response.content
    body = response.json()
    return {row["id"] for row in body["results"]}, body["count"]


def test_an_experts_list_follows_its_team_before_and_after_a_worker_moves(world, clients):
    world["E2"].user = f.UserFactory(username="expert-goats", role=Role.EXPERT, jurisdiction="500235")
    world["E2"].save(update_fields=["user"])
    goats = login(world["E2"].user)
    posted = {}
    for role, household in (("worker", "H1"), ("worker2", "H2"), ("expert", "H1")):
        posted[role] = [visit(world, household=str(world[household].pk)) for _ in range(2)]
        for body in posted[role]:
            assert clients[role].post("/api/v1/visits/", body).status_code == 201
    by_w3 = stored_visit(world, worker=world["W3"])  # E2's team
    c1 = visit(world, household=None, station=world["S1"].pk, industry=None)
    assert clients["commissioner"].post("/api/v1/visits/", c1).status_code == 201
    ids = {role: {b["id"] for b in bodies} for role, bodies in posted.items()}
    team_e1 = ids["worker"] | ids["worker2"] | ids["expert"]
    assert _listed(clients["expert"]) == (team_e1, 6)
    assert _listed(goats) == ({str(by_w3.pk)}, 1)
    # A deleted visit leaves the list (and its count).
    gone = posted["worker2"][0]["id"]
    response = clients["worker2"].delete(f"/api/v1/visits/{gone}/")
    assert response.status_code == 204, response.content
    assert _listed(clients["expert"]) == (team_e1 - {gone}, 5)
    # W1 moves to the goats expert: its visits go with it; E1's own visits and W2's stay.
    world["W1"].expert = world["E2"]
    world["W1"].save(update_fields=["expert"])
    assert _listed(clients["expert"]) == ((ids["worker2"] | ids["expert"]) - {gone}, 3)
    assert _listed(goats) == (ids["worker"] | {str(by_w3.pk)}, 3)
    # Every visit seen by an expert is one of its team's, as the worker's expert says now.
    for visible in Visit.objects.visible_to(world.users["expert"]):
        assert visible.expert_id == world["E1"].pk or visible.worker.expert_id == world["E1"].pk


def test_a_visit_names_one_actor_at_most(world):
    stored = stored_visit(world)
    for second in ({"expert": world["E1"]}, {"commissioner": world["C1"]}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Visit.objects.filter(pk=stored.pk).update(**second)
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=stored.pk).update(worker=None, expert=world["E1"], commissioner=world["C1"])
    assert Visit.objects.filter(pk=stored.pk, worker=world["W1"], expert=None, commissioner=None).exists()


@pytest.mark.django_db(transaction=True)  # PostgreSQL's VACUUM runs outside a transaction
@pytest.mark.parametrize("who", ["expert", "empty"])
def test_an_experts_first_page_and_capped_count_read_the_team_index_alone(world, who):
    """An expert's list walks its team's live visits in ``visit_team_started`` (no sort, no filter over other
    teams' visits), and its capped count is an index-only scan of it, for an expert with many visits or none: the
    OR across the join to the workers read the whole table in the worst case."""
    if who == "empty":  # an expert with no team and no visit (another industry's)
        person = f.ExpertFactory(industry=world.industries["goats"], county=world["E1"].county, active=False)
        person.user = f.UserFactory(username="expert-empty", role=Role.EXPERT, jurisdiction="500235")
        person.save(update_fields=["user"])
        user = person.user
    else:
        user = world.users["expert"]
    stored = stored_visit(world)
    template = _columns_of(stored, but={"id", "worker_id", "started_at", "deleted_at", "team_expert_id"})
    # E1's team a small share of the table (the goats expert's worker W3 wrote the rest), some of it deleted.
    w1, w2, w3, e1 = (world[name].pk for name in ("W1", "W2", "W3", "E1"))
    actors = [{"worker_id": w3}] * 4000 + [{"worker_id": w1}] * 40 + [{"worker_id": w2}] * 40
    actors += [{"worker_id": None, "expert_id": e1}] * 40
    Visit.objects.bulk_create(
        Visit(**{**template, **actor}, started_at=stored.started_at - timedelta(hours=i), deleted_at=deleted)
        for i, actor in enumerate(actors)
        for deleted in [stored.started_at if i % 10 == 3 else None]
    )
    listed = Visit.objects.visible_to(user).alive().values("id", "updated_at")
    live = 1 + sum(1 for i, actor in enumerate(actors) if i % 10 != 3 and actor != {"worker_id": w3})
    assert listed.count() == (live if who == "expert" else 0)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # As autovacuum leaves a live table: statistics, and the visibility map that index-only scans need.
            cursor.execute("VACUUM ANALYZE agri_visit")
        page = query_plan(listed[:101])
        count = query_plan(CappedPaginator(listed, 100, COUNT_CAP).counted())
    else:
        with transaction.atomic():  # SQLite's statistics (sqlite_stat1) go with the rollback, not to later tests
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            page = query_plan(listed[:101])
            count = query_plan(CappedPaginator(listed, 100, COUNT_CAP).counted())
            transaction.set_rollback(True)
    assert "visit_team_started" in page and "TEMP B-TREE" not in page and "Sort" not in page, page
    assert "visit_started" not in page.replace("visit_team_started", ""), page
    if connection.vendor == "sqlite":
        assert "USING COVERING INDEX visit_team_started (team_expert_id=?)" in count or (
            "USING INDEX visit_team_started (team_expert_id=?)" in count
        ), count
    else:
        assert "Index Only Scan using visit_team_started" in count, count
