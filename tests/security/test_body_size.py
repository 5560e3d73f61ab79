"""Request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get 413 ``too_large`` in the error shape, never a 400 or a 500."""

import json
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from agri.models import ModelHousehold, Visit
from api_docs.schema import EXAMPLES
from tests.factories import PASSWORD
from tests.support import login

VISIT_REQUEST = EXAMPLES["VisitWriteRequest"]
LIMIT = 4096


@pytest.fixture
def small_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


def household(world, **extra):
    return {
        "id": str(uuid.uuid4()),
        "head_name": "陈大富",
        "lat": 30.95,
        "lon": 108.76,
        "village_code": world.divisions["v1"].code,
        **extra,
    }


def assert_too_large(response):
    assert response.status_code == 413, response.content
    assert response.json() == {
        "code": "too_large",
        "message": "The request body is too large. Send fewer items per request.",
        "fields": {},
    }


def test_oversize_json_is_413_and_nothing_is_stored(world, small_limit):
    client = login(world.users["worker"])
    payload = household(world, address="三组" * LIMIT)
    assert len(json.dumps(payload).encode()) > LIMIT
    assert_too_large(client.post("/api/v1/model-households/", payload, HTTP_ACCEPT_LANGUAGE="en"))
    assert not ModelHousehold.objects.filter(pk=payload["id"]).exists()


def test_json_just_under_the_limit_is_parsed(world, small_limit):
    client = login(world.users["worker"])
    payload = household(world, address="三组")
    response = client.post("/api/v1/model-households/", payload)
    assert response.status_code == 201, response.content
    assert response.json()["address"] == "三组"


def test_oversize_sync_batch_is_413_in_chinese_by_default(world, small_limit):
    client = login(world.users["worker"])
    batch = {"visits": [{**VISIT_REQUEST, "id": str(uuid.uuid4())} for _ in range(20)]}
    response = client.post("/api/v1/sync/visits/", batch)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert response.json()["message"] == "请求内容过大，请减少每次提交的条目数。"
    assert Visit.objects.count() == 0


def test_oversize_form_body_is_413(world, small_limit):
    client = login(world.users["worker"])
    response = client.post(
        "/api/v1/model-households/",
        f"head_name={'x' * LIMIT}",
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert_too_large(response)


def test_oversize_multipart_fields_are_413(world, small_limit):
    client = login(world.users["worker"])
    response = client.post(
        "/api/v1/model-households/",
        household(world, address="x" * LIMIT),
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert_too_large(response)


def test_oversize_login_body_is_413_before_any_password_check(world, small_limit):
    response = APIClient().post(
        "/api/v1/auth/login/",
        {"username": "worker", "password": PASSWORD, "device": "x" * LIMIT},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert_too_large(response)


def test_default_limit_holds_a_full_sync_batch_with_long_notes():
    """500 visits (the batch maximum), each with 1,000 characters of Chinese notes and 50 attendees."""
    visit = {**VISIT_REQUEST, "notes": "叶片出现溃疡斑" * 143, "attendees": [str(uuid.uuid4()) for _ in range(50)]}
    body = json.dumps({"visits": [visit] * 500}, ensure_ascii=False).encode()
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
