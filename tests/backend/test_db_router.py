"""The read-replica router (backend/db_router.py) in this process, on SQLite and PostgreSQL: which connection each
request's queries go through. Here ``replica`` is a second connection to the test database (a test mirror of
``default``), so routing is seen without a real standby; tests/backend/test_read_replica.py runs one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from agri.models import DeviceToken, Visit
from backend.db_router import REPLICA, PrimaryReplicaRouter, RequestReads, _reads, pin_key
from tests.agri.map_support import map_world, visit
from tests.support import build_world, login

ROOT = Path(__file__).resolve().parents[2]

# Outside a transaction (the router's only case that reads away), with the replica alias that is a test mirror.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup):
    """A ``replica`` alias for this module's tests: a second connection to the test database (a test mirror of
    ``default``, so that no test flushes it). It exists before each test's database set-up, which allows its use."""
    connections.settings[REPLICA] = {
        **connections["default"].settings_dict,
        "TEST": {**connections["default"].settings_dict["TEST"], "MIRROR": "default"},
    }
    yield
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def mirrored_replica():
    return connections[REPLICA]


@pytest.fixture
def visited(transactional_db):
    """The world with polygons, a viewer and a worker logged in, and one visit of the worker's."""
    world = map_world(build_world())
    viewer, worker = login(world.users["viewer"]), login(world.users["worker"])
    assert worker.post("/api/v1/visits/", visit(world), format="json").status_code == 201
    cache.delete(pin_key(world.users["worker"].pk))  # as if the worker's write were long past
    return world, viewer, worker


def tables(captured) -> str:
    return " ".join(q["sql"] for q in captured.captured_queries)


def test_without_a_replica_every_query_goes_to_the_primary(visited, monkeypatch):
    world, viewer, _worker = visited
    monkeypatch.delitem(connections.settings, REPLICA)
    token = _reads.set(RequestReads(request=None, replica_allowed=True))
    try:
        assert PrimaryReplicaRouter().db_for_read(Visit) is None
        assert router.db_for_read(Visit) == "default"
    finally:
        _reads.reset(token)
    assert viewer.get("/api/v1/coverage/divisions/", {"level": "village"}).status_code == 200
    assert connections[REPLICA].connection is None  # never opened


def test_bureau_reads_come_from_the_replica_and_sync_pulls_from_the_primary(visited, mirrored_replica):
    world, viewer, worker = visited
    with CaptureQueriesContext(mirrored_replica) as away, CaptureQueriesContext(connections["default"]) as home:
        coverage = viewer.get("/api/v1/coverage/divisions/", {"level": "village"})
    assert coverage.status_code == 200
    counts = {feature["id"]: feature["properties"]["visits"] for feature in coverage.json()["features"]}
    assert counts["500235001001"] == 1
    # The counts come from the rollups (no period: the monthly tables), read on the replica.
    assert any(table in tables(away) for table in ("agri_divisionmonth", "agri_visitrollup", "agri_visit"))
    assert "agri_divisionmonth" not in tables(home) and "agri_presencemonth" not in tables(home)
    assert "agri_devicetoken" in tables(home)  # the token is checked on the primary
    assert "agri_visit" not in tables(home)

    with CaptureQueriesContext(mirrored_replica) as away:
        pulled = worker.get("/api/v1/sync/")
    assert pulled.status_code == 200
    assert any(item["type"] == "visit" for item in pulled.json()["results"])
    assert away.captured_queries == []


def test_after_a_write_the_same_account_reads_from_the_primary_and_others_from_the_replica(visited, mirrored_replica):
    world, viewer, worker = visited
    with CaptureQueriesContext(mirrored_replica) as away:
        assert worker.get("/api/v1/visits/").json()["count"] == 1
    assert away.captured_queries  # nothing written lately: the replica

    assert worker.post("/api/v1/visits/", visit(world), format="json").status_code == 201
    assert cache.get(pin_key(world.users["worker"].pk))
    with CaptureQueriesContext(mirrored_replica) as away:
        assert worker.get("/api/v1/visits/").json()["count"] == 2
        assert worker.get("/api/v1/coverage/divisions/", {"level": "village"}).status_code == 200
    assert away.captured_queries == []
    with CaptureQueriesContext(mirrored_replica) as away:
        assert viewer.get("/api/v1/visits/").json()["count"] == 2
    assert away.captured_queries  # another account is not pinned


def test_a_streamed_export_reads_from_the_replica_while_it_streams(visited, mirrored_replica):
    _world, viewer, _worker = visited
    response = viewer.get("/api/v1/visits.geojson")
    assert response.streaming
    with CaptureQueriesContext(mirrored_replica) as away:
        body = json.loads(b"".join(response.streaming_content))
    assert len(body["features"]) == 1
    assert "agri_visit" in tables(away)


def test_inside_a_request_a_write_or_a_transaction_sends_the_rest_to_the_primary(mirrored_replica):
    routing = PrimaryReplicaRouter()
    reads = RequestReads(request=None, replica_allowed=True)
    token = _reads.set(reads)
    try:
        assert routing.db_for_read(Visit) == REPLICA
        assert routing.db_for_read(DeviceToken) is None  # tokens: always the primary
        with transaction.atomic():
            assert routing.db_for_read(Visit) is None
        assert routing.db_for_write(DeviceToken) == "default"
        assert routing.db_for_read(Visit) == REPLICA  # renewing a token is not a write that pins
        assert routing.db_for_write(Visit) == "default"
        assert routing.db_for_read(Visit) is None
    finally:
        _reads.reset(token)
    assert routing.db_for_read(Visit) is None  # outside a request
    assert routing.allow_migrate(REPLICA, "agri") is False


def test_replica_views_are_the_bureau_reads_and_exist():
    for name in settings.REPLICA_READ_VIEWS:
        assert resolve(reverse(name)).view_name == name
    phones_and_accounts = {"agri:sync", "agri:visit-sync", "agri:upload-list", "agri:login", "agri:me", "agri:health"}
    assert not phones_and_accounts & settings.REPLICA_READ_VIEWS


def test_database_replica_url_adds_a_replica_that_mirrors_the_primary_in_tests():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings.base",
        "DATABASE_URL": "postgres://nongji@db:5432/nongji",
        "DATABASE_REPLICA_URL": "postgres://nongji@db-replica:5433/nongji",
    }
    code = "from django.conf import settings as s; import json; print(json.dumps(s.DATABASES['replica']))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    replica = json.loads(out.stdout)
    assert (replica["HOST"], replica["PORT"], replica["NAME"]) == ("db-replica", 5433, "nongji")
    assert replica["TEST"] == {"MIRROR": "default"}
    assert replica["CONN_MAX_AGE"] == 60
