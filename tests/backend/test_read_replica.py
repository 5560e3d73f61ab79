"""A real PostgreSQL streaming replica behind a real app server: gunicorn with ``DATABASE_URL`` at the primary and
``DATABASE_REPLICA_URL`` at a hot standby of it (tests/replica_support.py starts one on 55432 with
``pg_basebackup``). Replay is paused on the standby to make its lag visible: what the bureau reads then shows what
the standby holds, what a phone pulls or reads right after its own write shows the primary.

PostgreSQL only; skipped with the reason when no replica can be made, unless ``REQUIRE_REPLICA=1`` (CI), which
makes that a failure."""

import os
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from agri.models import Visit
from tests.agri.map_support import map_world, visit
from tests.agri.upload_support import AppServer, call, database_url, token_of
from tests.factories import PASSWORD
from tests.replica_support import ReplicaUnavailable, start_replica, wait_for_replay
from tests.support import build_world, login

pytestmark = pytest.mark.django_db(transaction=True)  # the servers and the standby see only what is committed
PIN_SECONDS = 3
VILLAGE = "500235001001"


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("a streaming replica needs PostgreSQL: run with DATABASE_URL=postgres://…")
    db = connection.settings_dict
    primary = {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"]}
    try:
        standby = start_replica(primary)
    except (ReplicaUnavailable, OSError, psycopg.Error) as error:
        if os.environ.get("REQUIRE_REPLICA") == "1":
            pytest.fail(f"REQUIRE_REPLICA=1 and no replica could be made: {error}")
        pytest.skip(f"no PostgreSQL replica could be made: {error}")
    yield standby
    standby.stop()


@pytest.fixture
def links(replica):
    """Connections to the test database on the primary and on the standby (autocommit), replay resumed after."""
    name = connection.settings_dict["NAME"]
    db = connection.settings_dict
    with (
        psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=name) as p,
        replica.connect(name) as r,
    ):
        p.autocommit = True
        yield p, r
        r.execute("SELECT pg_wal_replay_resume()")


@contextmanager
def replay_paused(primary, standby):
    """The standby, caught up, then holding still: what is committed meanwhile reaches only the primary."""
    wait_for_replay(primary, standby)
    standby.execute("SELECT pg_wal_replay_pause()")
    while standby.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
        time.sleep(0.05)
    try:
        yield
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture
def server(replica, tmp_path):
    app = AppServer(
        {
            "DATABASE_URL": database_url(),
            "DATABASE_REPLICA_URL": database_url(port=replica.port),
            "REPLICA_PIN_SECONDS": str(PIN_SECONDS),
        },
        tmp_path / "gunicorn.log",
        gunicorn=True,
    )
    yield app
    app.stop()


@pytest.fixture
def bureau_and_phone(transactional_db):
    world = map_world(build_world())
    return world, token_of(login(world.users["viewer"])), token_of(login(world.users["worker"]))


def village_visits(server, token) -> int:
    status, body = call(server, "GET", "/api/v1/coverage/divisions/?level=village", token=token)
    assert status == 200, body
    return next(f["properties"]["visits"] for f in body["features"] if f["id"] == VILLAGE)


def listed(server, token) -> set[str]:
    status, body = call(server, "GET", "/api/v1/visits/", token=token)
    assert status == 200, body
    return {item["id"] for item in body["results"]}


def push(server, token, body) -> None:
    status, answer = call(server, "POST", "/api/v1/visits/", body, token=token)
    assert status == 201, answer


def test_the_standby_serves_the_bureau_and_the_primary_serves_sync_pulls(bureau_and_phone, links, server):
    world, viewer, worker = bureau_and_phone
    primary, standby = links
    first = visit(world)
    push(server, worker, first)
    wait_for_replay(primary, standby)
    assert standby.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    assert village_visits(server, viewer) == 1

    with replay_paused(primary, standby):
        second = visit(world, notes="第二次")
        phone = login(world.users["worker"], device="second phone")  # in this process: no pin on the server
        assert phone.post("/api/v1/visits/", second, format="json").status_code == 201
        assert Visit.objects.count() == 2  # on the primary
        assert village_visits(server, viewer) == 1  # the standby has not replayed it
        assert listed(server, viewer) == {first["id"]}
        status, pulled = call(server, "GET", "/api/v1/sync/", token=worker)
        assert status == 200
        assert {item["id"] for item in pulled["results"] if item["type"] == "visit"} == {first["id"], second["id"]}

    wait_for_replay(primary, standby)
    assert village_visits(server, viewer) == 2
    assert listed(server, viewer) == {first["id"], second["id"]}


def test_an_account_reads_its_own_writes_while_the_standby_lags(bureau_and_phone, links, server):
    world, viewer, worker = bureau_and_phone
    with replay_paused(*links):
        mine = visit(world)
        push(server, worker, mine)
        assert listed(server, worker) == {mine["id"]}  # right after its write: the primary
        assert village_visits(server, worker) == 1
        assert listed(server, viewer) == set()  # another account reads the lagging standby
        time.sleep(PIN_SECONDS + 0.5)
        assert listed(server, worker) == set()  # the pin is over: the standby again, still paused


def test_a_token_works_and_stops_at_once_whatever_the_lag(bureau_and_phone, links, server):
    with replay_paused(*links):
        status, body = call(server, "POST", "/api/v1/auth/login/", {"username": "viewer", "password": PASSWORD})
        assert status == 200, body
        token = body["token"]
        assert village_visits(server, token) == 0  # the new token is read on the primary
        assert call(server, "POST", "/api/v1/auth/logout/", token=token)[0] == 204
        status, refused = call(server, "GET", "/api/v1/coverage/divisions/?level=village", token=token)
        assert (status, refused["code"]) == (401, "token_revoked")
