"""With CACHE_URL=redis://… every app process shares the login-lockout counters: a lock taken through one worker
holds in the others. The Redis server of the machine (127.0.0.1:6379) stands in for production's."""

import os
import threading
import uuid

import environ
import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.factories import PASSWORD
from tests.support import attempt_login

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_cache():
    config = environ.Env().cache_url_config(REDIS_URL)
    config["KEY_PREFIX"] = f"nongji-test-{uuid.uuid4().hex}"  # nothing shared with other runs on the server
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    with override_settings(CACHES={"default": config}):
        yield caches["default"]
        caches["default"].clear()


def attempt(username, password):
    """A login attempt from the village network every attempt of this module comes from."""
    return attempt_login(username, password, REMOTE_ADDR="10.0.0.9")


def in_another_worker(fn):
    """Run ``fn`` in a thread: Django gives each thread its own cache connection, as each worker process has."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", fn()))
    thread.start()
    thread.join()
    return result["value"]


def test_a_lock_taken_in_one_worker_holds_in_another(world, redis_cache):
    for n in range(10):
        assert attempt("worker", f"wrong-{n}").json()["code"] == "invalid_credentials"
    locked = in_another_worker(lambda: attempt("worker", PASSWORD))
    assert locked.status_code == 429 and locked.json()["code"] == "login_locked"
    keys = redis_cache._cache.get_client().keys(f"{redis_cache.key_prefix}:*")
    assert any(b"locked" in key for key in keys)  # the lock lives in Redis, not in a process
    assert attempt("worker2", PASSWORD).status_code == 200  # same network, another account: still in


@pytest.fixture
def dead_cache():
    """CACHE_URL pointing at a Redis that does not answer (nothing listens on the port)."""
    config = environ.Env().cache_url_config("redis://127.0.0.1:1/15")
    with override_settings(CACHES={"default": config}):
        yield caches["default"]


def test_without_its_cache_the_api_refuses_logins_and_writes_with_503_and_still_reads(world, clients, dead_cache):
    """Lockouts and throttles cannot hold without the shared cache, so logins and writes wait for it (503
    ``retry_later`` with Retry-After, like a database outage); reads, which use no counter, go on."""
    from agri.models import DeviceToken, ModelHousehold

    tokens, households = DeviceToken.objects.count(), ModelHousehold.objects.count()
    refused = [
        attempt_login("worker", PASSWORD, HTTP_ACCEPT_LANGUAGE="en"),
        clients["worker"].post(
            "/api/v1/model-households/",
            {"head_name": "x", "lat": 30.95, "lon": 108.7, "village_code": "500235001001"},
            format="json",
            HTTP_ACCEPT_LANGUAGE="en",
        ),
    ]
    for response in refused:
        assert response.status_code == 503
        assert response.json() == {
            "code": "retry_later",
            "message": "The server's shared cache is unavailable just now. Send the request again later.",
            "fields": {},
        }
        assert response["Retry-After"] == "30"
    assert (DeviceToken.objects.count(), ModelHousehold.objects.count()) == (tokens, households)
    listed = clients["worker"].get("/api/v1/model-households/")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    chinese = attempt_login("worker", PASSWORD)
    assert chinese.status_code == 503
    assert chinese.json()["message"] == "服务器的共享缓存暂时不可用，请稍后重新发送请求。"


def test_without_its_cache_the_admin_login_page_is_a_503_page_not_a_500(world, dead_cache):
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.content.decode() == "The service is unavailable just now. Try again in a minute."
