"""With CACHE_URL=redis://… every app process shares the login-lockout counters: a lock taken through one worker
holds in the others. The Redis server of the machine (127.0.0.1:6379) stands in for production's."""

import os
import threading
import uuid

import environ
import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import PASSWORD

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_cache():
    config = environ.Env().cache_url_config(REDIS_URL)
    config["KEY_PREFIX"] = f"nongji-test-{uuid.uuid4().hex}"  # nothing shared with other runs on the server
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    with override_settings(CACHES={"default": config}):
        yield caches["default"]
        caches["default"].clear()


def login(username, password):
    return APIClient().post("/api/v1/auth/login/", {"username": username, "password": password}, REMOTE_ADDR="10.0.0.9")


def in_another_worker(fn):
    """Run ``fn`` in a thread: Django gives each thread its own cache connection, as each worker process has."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", fn()))
    thread.start()
    thread.join()
    return result["value"]


def test_a_lock_taken_in_one_worker_holds_in_another(world, redis_cache):
    for n in range(10):
        assert login("worker", f"wrong-{n}").json()["code"] == "invalid_credentials"
    locked = in_another_worker(lambda: login("worker", PASSWORD))
    assert locked.status_code == 429 and locked.json()["code"] == "login_locked"
    keys = redis_cache._cache.get_client().keys(f"{redis_cache.key_prefix}:*")
    assert any(b"locked" in key for key in keys)  # the lock lives in Redis, not in a process
    assert login("worker2", PASSWORD).status_code == 200  # same network, another account: still in
