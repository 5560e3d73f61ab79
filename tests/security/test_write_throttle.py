"""Writes are throttled per account, never per IP; reads are not throttled."""

import uuid

import pytest

from agri.models import ModelHousehold
from tests.support import login

LOW_RATES = {"login": "1000000/min", "write": "3/min"}


def household(world, n):
    return {
        "id": str(uuid.uuid4()),
        "head_name": f"户主{n}",
        "lat": 30.95,
        "lon": 108.76,
        "village_code": world.divisions["v1"].code,
    }


@pytest.fixture
def low_write_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": LOW_RATES}


def test_fourth_write_in_a_minute_is_429_throttled(world, low_write_rate):
    client = login(world.users["worker"])
    for n in range(3):
        assert client.post("/api/v1/model-households/", household(world, n)).status_code == 201
    response = client.post("/api/v1/model-households/", household(world, 3), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert body["message"].startswith("Request was throttled.")
    assert body["fields"] == {}
    assert 0 < int(response["Retry-After"]) <= 60
    assert ModelHousehold.objects.filter(head_name="户主3").count() == 0


def test_throttle_is_per_account_so_a_neighbour_on_the_same_ip_still_writes(world, low_write_rate):
    worker = login(world.users["worker"])
    admin = login(world.users["admin"])
    for n in range(3):
        assert worker.post("/api/v1/model-households/", household(world, n)).status_code == 201
    assert worker.post("/api/v1/model-households/", household(world, 3)).status_code == 429
    response = admin.post("/api/v1/model-households/", {**household(world, 4), "worker": world["W1"].pk})
    assert response.status_code == 201, response.content
    assert response.json()["head_name"] == "户主4"


def test_every_unsafe_method_counts_and_reads_do_not(world, low_write_rate):
    client = login(world.users["worker"])
    created = client.post("/api/v1/model-households/", household(world, 0)).json()
    url = f"/api/v1/model-households/{created['id']}/"
    for _ in range(20):
        assert client.get(url).status_code == 200
    assert client.patch(url, {"address": "三组"}, HTTP_IF_MATCH="*").status_code == 200
    assert client.delete(url).status_code == 204
    response = client.post("/api/v1/auth/logout/")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


def test_zh_hans_throttle_message_is_chinese(world, low_write_rate):
    client = login(world.users["worker"])
    for n in range(3):
        client.post("/api/v1/model-households/", household(world, n))
    response = client.post("/api/v1/model-households/", household(world, 3), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 429
    assert response.json()["message"].startswith("请求已被限流。")
    assert response.json()["message"].endswith("秒后可用。")
