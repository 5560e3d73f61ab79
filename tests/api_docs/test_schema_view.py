"""GET /api/schema/: built once per process and language, then served as is, with an ETag."""

from unittest import mock

import orjson
import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from api_docs.views import SchemaView

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def unbuilt():
    SchemaView.built.clear()
    yield
    SchemaView.built.clear()


def test_the_schema_is_built_once_and_then_served_as_built():
    client = APIClient()
    with mock.patch.object(
        SchemaGenerator, "get_schema", autospec=True, side_effect=SchemaGenerator.get_schema
    ) as build:
        first = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en")
        again = [client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en") for _ in range(3)]
    assert first.status_code == 200
    assert build.call_count == 1
    assert all(r.status_code == 200 and r.content == first.content for r in again)
    assert first.json()["info"]["title"] == "Nongji API"


def test_each_language_has_its_own_schema():
    client = APIClient()
    english = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    by_lang = client.get("/api/schema/?format=json&lang=en", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english != chinese
    assert by_lang == english
    assert {key[:2] for key in SchemaView.built} == {(None, "en"), (None, "zh-hans")}


def test_an_unknown_language_gets_the_default_schema_and_builds_nothing_new():
    client = APIClient()
    default = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    unknown = client.get("/api/schema/?format=json&lang=xx-unknown")
    assert unknown.status_code == 200
    assert unknown.content == default.content
    assert {key[:2] for key in SchemaView.built} == {(None, "zh-hans")}


def test_a_client_holding_the_schema_gets_a_304():
    client = APIClient()
    first = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en")
    assert first.has_header("ETag")
    again = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""


def test_yaml_and_json_are_the_same_schema_and_a_media_type_parameter_is_not_kept():
    client = APIClient()
    as_json = client.get("/api/schema/?format=json").json()
    as_yaml = yaml.safe_load(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi").content)
    assert as_json == as_yaml
    indented = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json; indent=3")
    assert indented.status_code == 200
    assert orjson.loads(indented.content) == as_json
    assert len(SchemaView.built) == 3  # one schema, two renderings: the indented one was not kept
