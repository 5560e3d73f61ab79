"""GET /api/v1/sync/: a phone that follows the token protocol holds exactly its slice (issue: field-grade sync).

The phone here is a dict keyed by (type, id): records are stored, tombstones delete. Writes go through the API
where a client makes them, and through the ORM where the point is that every write path reaches the feed (the
change log is filled by database triggers: an admin edit or a bulk UPDATE counts like an API call).
"""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from agri.models import Change, ChangeKind, Farmer, ModelHousehold, Visit
from tests import factories as f
from tests.agri.map_support import visit
from tests.support import build_world, login

# Every write commits, as a phone's requests do: a pull cannot see into a transaction that is still open (on
# PostgreSQL it sends that transaction's changes again on every pull until it ends, which a test that runs inside
# one transaction would be).
pytestmark = pytest.mark.django_db(transaction=True)

TOMBSTONE_KEYS = {"id", "type", "deleted", "updated_at"}


class Phone:
    """What a phone keeps: records by (type, id); a tombstone deletes (a visit's tombstone, its photos too)."""

    def __init__(self, client):
        self.client = client
        self.records: dict[tuple[str, str], dict] = {}
        self.token: str | None = None
        self.requests = 0

    def pull(self, page_size: int = 500) -> list[dict]:
        params = {"page_size": page_size}
        if self.token:
            params["sync_token"] = self.token
        response = self.client.get("/api/v1/sync/", params)
        items = []
        while True:
            self.requests += 1
            assert response.status_code == 200, response.content
            body = response.json()
            assert set(body) == {"results", "next", "sync_token"}
            items += body["results"]
            self.token = body["sync_token"]
            for item in body["results"]:
                key = (item["type"], str(item["id"]))
                if item.get("deleted") is True:
                    assert set(item) == TOMBSTONE_KEYS, item
                    self.records.pop(key, None)
                else:
                    self.records[key] = item
            if not body["next"]:
                return items
            response = self.client.get(body["next"])

    def ids(self, kind: str) -> set[str]:
        return {key for k, key in self.records if k == kind}


def server_ids(model, user) -> set[str]:
    return {str(pk) for pk in model.objects.visible_to(user).alive().values_list("pk", flat=True)}


def test_a_first_sync_holds_what_the_per_resource_pulls_hold(world, clients):
    for _ in range(3):
        assert clients["worker"].post("/api/v1/visits/", visit(world)).status_code == 201
    phone = Phone(clients["worker"])
    items = phone.pull(page_size=4)  # several pages: every kind, cut across pages
    assert phone.requests > 3
    epoch = {"updated_since": "1970-01-01T00:00:00Z", "page_size": 1000}
    for kind, path in (("household", "model-households"), ("farmer", "farmers"), ("visit", "visits")):
        pulled = clients["worker"].get(f"/api/v1/{path}/", epoch).json()["results"]
        assert phone.ids(kind) == {r["id"] for r in pulled if not r["deleted"]}, kind
        by_id = {r["id"]: r for r in pulled}
        for key in phone.ids(kind):  # the same representation, plus its type
            assert {k: v for k, v in phone.records[(kind, key)].items() if k != "type"} == by_id[key]
    assert phone.ids("household") == {str(world["H1"].pk)}
    farmer = phone.records[("farmer", str(world["F1"].pk))]
    assert (farmer["lat"], farmer["lon"]) == (world["H1"].lat, world["H1"].lon)  # the household's point
    assert {"industry", "division", "station", "base"} <= {item["type"] for item in items}
    township = phone.records[("division", world.divisions["t1"].code)]
    assert set(township) == {"type", "id", "code", "name", "level", "parent", "boundary"}
    assert ("division", world.divisions["t9"].code) not in phone.records  # another county's township


def test_changes_after_a_token_arrive_and_deletes_are_tombstones(world, clients):
    phone = Phone(clients["worker"])
    phone.pull()
    assert phone.pull() == []  # nothing changed
    body = visit(world)
    assert clients["worker"].post("/api/v1/visits/", body).status_code == 201
    household = (
        clients["worker"]
        .post(
            "/api/v1/model-households/",
            {"head_name": "陈大富", "lat": 30.95, "lon": 108.76, "village_code": world.divisions["v1"].code},
        )
        .json()
    )
    items = phone.pull()
    assert {(i["type"], i["id"]) for i in items} == {("visit", body["id"]), ("household", household["id"])}
    Visit.objects.filter(pk=body["id"]).update(deleted_at=timezone.now())  # any write path
    (tombstone,) = phone.pull()
    assert tombstone["id"] == body["id"] and tombstone["deleted"] is True and set(tombstone) == TOMBSTONE_KEYS
    assert ("visit", body["id"]) not in phone.records


def test_a_reassigned_household_leaves_the_old_workers_phone_with_no_personal_field(world, clients):
    old, new = Phone(clients["worker"]), Phone(clients["worker2"])
    old.pull(), new.pull()
    h1, f1 = world["H1"], world["F1"]
    assert ("household", str(h1.pk)) in old.records and ("farmer", str(f1.pk)) in old.records
    ModelHousehold.objects.filter(pk=h1.pk).update(worker=world["W2"], updated_at=timezone.now())
    items = old.pull()
    # The household and its farmer (logged with the household's write: a farmer is seen through its household).
    assert {(i["type"], i["id"]) for i in items} == {("household", str(h1.pk)), ("farmer", str(f1.pk))}
    assert all(set(i) == TOMBSTONE_KEYS for i in items)  # no head name, phone, address or ID number
    assert old.ids("household") == server_ids(ModelHousehold, world.users["worker"]) == set()
    assert old.ids("farmer") == server_ids(Farmer, world.users["worker"]) == set()
    new.pull()
    assert new.records[("household", str(h1.pk))]["head_name"] == h1.head_name
    assert new.ids("farmer") == server_ids(Farmer, world.users["worker2"])
    assert ("farmer", str(f1.pk)) in new.records


def test_a_visit_moved_out_of_a_township_leaves_the_township_viewers_phone(world, clients):
    body = visit(world)
    assert clients["worker"].post("/api/v1/visits/", body).status_code == 201
    viewer = Phone(clients["township_viewer"])
    viewer.pull()
    assert ("visit", body["id"]) in viewer.records
    Visit.objects.filter(pk=body["id"]).update(scope_code="500235002001", updated_at=timezone.now())
    (tombstone,) = viewer.pull()
    assert (tombstone["type"], tombstone["id"], set(tombstone)) == ("visit", body["id"], TOMBSTONE_KEYS)


def test_a_narrowed_jurisdiction_sends_tombstones_for_what_left_it(world, clients):
    phone = Phone(clients["viewer"])
    phone.pull()
    user = world.users["viewer"]
    before = {kind: set(phone.ids(kind)) for kind in ("household", "farmer", "station", "base")}
    assert str(world["H1"].pk) in before["household"] and str(world["H2"].pk) in before["household"]
    user.jurisdiction = "500235002"
    user.save(update_fields=["jurisdiction"])
    items = phone.pull()
    gone = {(i["type"], i["id"]) for i in items if i.get("deleted") is True}
    assert ("household", str(world["H1"].pk)) in gone and ("farmer", str(world["F1"].pk)) in gone
    assert ("household", str(world["H2"].pk)) not in gone
    assert phone.ids("household") == server_ids(ModelHousehold, user)
    assert phone.ids("farmer") == server_ids(Farmer, user)


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), lambda t: t[: len(t) // 2], str.upper]
)
def test_a_tampered_or_truncated_token_is_a_400_with_a_code(world, clients, tamper):
    phone = Phone(clients["worker"])
    phone.pull()
    response = clients["worker"].get("/api/v1/sync/", {"sync_token": tamper(phone.token)}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"]["sync_token"][0]["code"] == "sync_token_invalid"
    assert "sync token" in response.json()["fields"]["sync_token"][0]["message"]


def test_another_accounts_token_is_refused(world, clients):
    phone = Phone(clients["worker"])
    phone.pull()
    response = clients["worker2"].get("/api/v1/sync/", {"sync_token": phone.token})
    assert response.status_code == 400
    assert response.json()["fields"]["sync_token"][0]["code"] == "sync_token_invalid"


def test_the_sync_page_reads_a_fixed_number_of_queries(world, clients, django_assert_max_num_queries):
    for _ in range(5):
        clients["worker"].post("/api/v1/visits/", visit(world))
    phone = Phone(clients["worker"])
    with django_assert_max_num_queries(40):
        phone.pull(page_size=1000)
    few = phone.requests
    for _ in range(20):
        clients["worker"].post("/api/v1/visits/", visit(world))
    with django_assert_max_num_queries(12):  # one page of changes: constant in the number of visits
        phone.pull(page_size=1000)
    assert phone.requests == few + 1


# --- commit order ------------------------------------------------------------------------------------------


def orm_household(worker, village) -> ModelHousehold:
    return ModelHousehold.objects.create(worker=worker, village=village, head_name="迟到户", lat=30.95, lon=108.76)


def test_a_transaction_left_open_across_a_pull_is_not_missed():
    """A write that began before a pull and commits after it (a slow sync chunk) comes with the next pull, even
    when a later write committed first (PostgreSQL; SQLite serialises writers, so there only the first part)."""
    world = build_world()
    phone = Phone(login(world.users["worker"]))
    phone.pull()
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    slow: dict = {}

    def slow_writer():
        try:
            with transaction.atomic():
                slow["household"] = orm_household(world["W1"], world.divisions["v1"])
                written.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(30)
    if connection.vendor == "postgresql":
        fast = orm_household(world["W1"], world.divisions["v1"])  # commits while the slow one is open
        assert {i["id"] for i in phone.pull()} == {str(fast.pk)}
    else:
        assert phone.pull() == []
    release.set()
    assert done.wait(30)
    thread.join()
    assert {i["id"] for i in phone.pull()} == {str(slow["household"].pk)}
    assert phone.ids("household") == server_ids(ModelHousehold, world.users["worker"])


@pytest.mark.parametrize("seed", range(4))
def test_random_interleavings_of_writers_and_a_puller_end_exactly_on_the_scope(seed):
    """Writers create, edit, reassign and delete households, farmers and visits, some of them inside
    transactions left open across pulls (threads); the worker's phone pulls in between. At the end it holds
    exactly what the server says the worker may see: nothing missed, nothing extra."""
    rng = random.Random(seed)
    world = build_world()
    user = world.users["worker"]
    client = login(user)
    phone = Phone(client)
    workers = [world["W1"], world["W2"]]
    village = world.divisions["v1"]
    open_writes: list[tuple[threading.Thread, threading.Event]] = []

    def write():
        choice = rng.random()
        households = list(ModelHousehold.objects.alive())
        if choice < 0.3 or not households:
            orm_household(rng.choice(workers), village)
        elif choice < 0.5:
            ModelHousehold.objects.filter(pk=rng.choice(households).pk).update(
                worker=rng.choice(workers), updated_at=timezone.now()
            )
        elif choice < 0.6:
            target = rng.choice(households)
            ModelHousehold.objects.filter(pk=target.pk).update(deleted_at=timezone.now())
        elif choice < 0.75:
            f.FarmerFactory(household=rng.choice(households))
        elif choice < 0.85:
            farmers = list(Farmer.objects.alive())
            if farmers:
                Farmer.objects.filter(pk=rng.choice(farmers).pk).update(deleted_at=timezone.now())
        else:
            mine = [h for h in households if h.worker_id == world["W1"].pk]
            if mine:
                client.post("/api/v1/visits/", visit(world, household=str(rng.choice(mine).pk)))

    def open_write():
        """A write in a transaction left open across the next pulls (PostgreSQL: writers do not block there)."""
        started, release = threading.Event(), threading.Event()

        def run():
            try:
                with transaction.atomic():
                    orm_household(rng_local.choice(workers), village)
                    started.set()
                    release.wait(30)
            finally:
                connection.close()

        rng_local = random.Random(rng.random())
        thread = threading.Thread(target=run)
        thread.start()
        assert started.wait(30)
        open_writes.append((thread, release))

    for _step in range(40):
        roll = rng.random()
        if roll < 0.55:
            write()
        elif roll < 0.65 and connection.vendor == "postgresql" and len(open_writes) < 2:
            open_write()
        elif roll < 0.75 and open_writes:
            thread, release = open_writes.pop(rng.randrange(len(open_writes)))
            release.set()
            thread.join()
        else:
            phone.pull(page_size=rng.choice([2, 5, 500]))
    for thread, release in open_writes:
        release.set()
        thread.join()
    phone.pull(page_size=rng.choice([3, 500]))
    for kind, model in (("household", ModelHousehold), ("farmer", Farmer), ("visit", Visit)):
        assert phone.ids(kind) == server_ids(model, user), (seed, kind)


def test_a_worker_moved_to_another_expert_leaves_the_first_experts_phone(world, clients):
    body = visit(world)
    assert clients["worker"].post("/api/v1/visits/", body).status_code == 201
    phone = Phone(clients["expert"])  # E1, the citrus expert of W1
    phone.pull()
    assert {str(world["H1"].pk), str(world["H2"].pk)} <= phone.ids("household")
    assert ("visit", body["id"]) in phone.records
    world["W1"].expert = world["E2"]
    world["W1"].save(update_fields=["expert"])
    gone = {(i["type"], i["id"]) for i in phone.pull() if i.get("deleted") is True}
    assert gone == {("household", str(world["H1"].pk)), ("farmer", str(world["F1"].pk)), ("visit", body["id"])}
    user = world.users["expert"]
    for kind, model in (("household", ModelHousehold), ("farmer", Farmer), ("visit", Visit)):
        assert phone.ids(kind) == server_ids(model, user), kind


def test_a_token_from_before_a_restore_or_past_the_retention_starts_a_first_sync(world, clients, settings):
    settings.SYNC_RETENTION_DAYS = 10  # within the device token's lifetime
    phone = Phone(clients["worker"])
    phone.pull()
    token = phone.token
    import time_machine

    with time_machine.travel(timezone.now() + timedelta(days=settings.SYNC_RETENTION_DAYS), tick=False):
        old = clients["worker"].get("/api/v1/sync/", {"sync_token": token}, HTTP_ACCEPT_LANGUAGE="en")
    assert old.status_code == 400 and old.json()["fields"]["sync_token"][0]["code"] == "sync_token_expired"
    assert clients["worker"].get("/api/v1/sync/", {"sync_token": token}).status_code == 200
    Change.objects.create(kind=ChangeKind.EPOCH, record_id="restore")  # what manage.py restore writes last
    restored = clients["worker"].get("/api/v1/sync/", {"sync_token": token})
    assert restored.status_code == 400 and restored.json()["fields"]["sync_token"][0]["code"] == "sync_token_expired"
    fresh = Phone(clients["worker"])
    fresh.pull()
    assert fresh.ids("household") == server_ids(ModelHousehold, world.users["worker"])


def test_prune_changes_keeps_the_retention(world, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    Change.objects.update(at=timezone.now() - timedelta(days=settings.SYNC_RETENTION_DAYS + 1))
    ModelHousehold.objects.filter(pk=world["H1"].pk).update(updated_at=timezone.now())  # a fresh row
    out = StringIO()
    call_command("prune_changes", stdout=out)
    assert list(Change.objects.values_list("kind", flat=True)) == ["household"]
    assert "change rows older than" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("prune_changes", "--days", "1")
