"""Two gunicorn app servers on two ports, sharing only what production's share: the database, the Redis cache
(``CACHE_URL``) and the photo store. Requests alternate between them, as a load balancer sends them, and the pair
behaves as one server: login throttles and lockouts count on both, the write throttle counts an account's writes on
both, a push replayed on the other server is a replay, and a token issued or revoked on one is so on the other.

Behind a reverse proxy (``NUM_PROXIES=1``): each test's logins come from addresses of its own
(``X-Forwarded-For``) and accounts of their own, so that the tests' login counters stay apart on the servers the
module shares."""

import itertools
import time
import uuid

import pytest
import redis

from tests.agri.map_support import map_world, visit
from tests.agri.upload_support import AppServer, call, database_url, token_of
from tests.factories import PASSWORD
from tests.support import build_world, login

pytestmark = pytest.mark.django_db(transaction=True)  # the servers see only what the test commits
REDIS_URL = "redis://127.0.0.1:6379/7"
LOGIN_RATE, WRITE_RATE, ACCOUNT_FAILURES = 5, 6, 4
_addresses = (f"10.20.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def new_address() -> str:
    return next(_addresses)


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    """Two app servers (gunicorn, one sync worker each) on the test database, one Redis and one media directory."""
    prefix = f"nongji-two-servers-{uuid.uuid4().hex}"
    media = tmp_path_factory.mktemp("media")
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.app_server_settings",
        "DATABASE_URL": database_url(),
        "CACHE_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "THROTTLE_LOGIN": f"{LOGIN_RATE}/min",
        "THROTTLE_WRITE": f"{WRITE_RATE}/min",
        "LOGIN_LOCKOUT_ACCOUNT_FAILURES": str(ACCOUNT_FAILURES),
        "NUM_PROXIES": "1",
        "MEDIA_ROOT": str(media),
        "PHOTO_ROOT": str(media / "private" / "photos"),
    }
    logs = tmp_path_factory.mktemp("logs")
    first = AppServer(env, logs / "a.log", gunicorn=True)
    try:
        second = AppServer(env, logs / "b.log", gunicorn=True)
    except BaseException:
        first.stop()
        raise
    assert first.port != second.port
    yield first, second
    first.stop()
    second.stop()
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def world(transactional_db):
    return map_world(build_world())


def attempt_login(server, username, password, address, device="phone"):
    body = {"username": username, "password": password, "device": device}
    return call(server, "POST", "/api/v1/auth/login/", body, headers={"X-Forwarded-For": address})


def test_failed_logins_on_both_servers_lock_the_account_on_both(servers, world):
    a, b = servers
    # Each attempt from another address: only the account's counter can add them up, and only if it is shared.
    for n, server in zip(range(ACCOUNT_FAILURES), itertools.cycle(servers), strict=False):
        status, body = attempt_login(server, "worker", f"wrong-{n}", new_address())
        assert (status, body["code"]) == (400, "invalid_credentials"), body
    for server in (a, b):
        status, body = attempt_login(server, "worker", PASSWORD, new_address())
        assert (status, body["code"]) == (429, "login_locked"), body
    assert attempt_login(b, "worker2", PASSWORD, new_address())[0] == 200  # another account: still in


def within_one_minute(seconds: float = 15) -> None:
    """Wait, if need be, until the next ``seconds`` lie within one minute: the login rate is a sliding window made
    of fixed one-minute windows (``agri.lockout.login_attempt_throttle``), and a burst across a minute's end is
    counted as spread over the previous minute, so it may get one attempt more than the rate. The servers keep
    their own clocks, which a test cannot stop."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.1)


def test_the_login_throttle_counts_an_address_on_both_servers(servers, world):
    within_one_minute()
    address = new_address()
    for _n, server in zip(range(LOGIN_RATE), itertools.cycle(servers), strict=False):
        status, body = attempt_login(server, "commissioner", PASSWORD, address)
        assert status == 200, body
    for server in servers:
        status, body = attempt_login(server, "commissioner", PASSWORD, address)
        assert (status, body["code"]) == (429, "throttled"), body
    assert attempt_login(servers[1], "commissioner", PASSWORD, new_address())[0] == 200  # another address: in


def test_the_write_throttle_counts_an_account_on_both_servers(servers, world):
    token = token_of(login(world.users["worker"]))
    for _n, server in zip(range(WRITE_RATE), itertools.cycle(servers), strict=False):
        status, body = call(server, "POST", "/api/v1/visits/", visit(world), token=token)
        assert status == 201, body
    for server in servers:
        status, body = call(server, "POST", "/api/v1/visits/", visit(world), token=token)
        assert (status, body["code"]) == (429, "throttled"), body
    other = token_of(login(world.users["worker2"]))
    status, body = call(servers[0], "POST", "/api/v1/visits/", visit(world, household=str(world["H2"].pk)), token=other)
    assert status == 201, body  # another account has its own budget


def test_a_push_replayed_on_the_other_server_is_a_replay(servers, world):
    from agri.models import Visit

    a, b = servers
    token = token_of(login(world.users["worker"]))
    body = visit(world)
    status, stored = call(a, "POST", "/api/v1/visits/", body, token=token)
    assert status == 201, stored
    status, replayed = call(b, "POST", "/api/v1/visits/", body, token=token)
    assert (status, replayed) == (200, stored)
    status, conflict = call(b, "POST", "/api/v1/visits/", {**body, "notes": "另一次"}, token=token)
    assert (status, conflict["code"]) == (409, "conflict"), conflict
    batch = {"visits": [body, visit(world)]}
    status, results = call(a, "POST", "/api/v1/sync/visits/", batch, token=token)
    assert [r["status"] for r in results["results"]] == ["unchanged", "created"]
    status, results = call(b, "POST", "/api/v1/sync/visits/", batch, token=token)
    assert [r["status"] for r in results["results"]] == ["unchanged", "unchanged"]
    assert Visit.objects.count() == 2


def test_a_token_from_one_server_works_on_the_other_and_dies_on_both(servers, world):
    a, b = servers
    status, body = attempt_login(a, "viewer", PASSWORD, new_address())
    assert status == 200, body
    token = body["token"]
    status, me = call(b, "GET", "/api/v1/me/", token=token)
    assert (status, me["username"]) == (200, "viewer")
    assert call(b, "POST", "/api/v1/auth/logout/", token=token)[0] == 204
    for server in (a, b):
        status, refused = call(server, "GET", "/api/v1/me/", token=token)
        assert (status, refused["code"]) == (401, "token_revoked")
