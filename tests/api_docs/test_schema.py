"""The OpenAPI schema that mobile developers build from: valid, complete, and served without any CDN."""

import re

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_validates_with_no_warnings(db, tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["info"]["title"] == "Nongji API"


def test_every_operation_has_summary_tag_and_examples(schema):
    problems = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {path}"
            if not op.get("summary"):
                problems.append(f"{where}: no summary")
            if not op.get("tags"):
                problems.append(f"{where}: no tag")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and not body.get("examples"):
                problems.append(f"{where}: no request example")
            for code, response in op.get("responses", {}).items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None and not content.get("examples"):
                    problems.append(f"{where}: no {code} response example")
    assert problems == []


def test_every_required_path_is_in_the_schema(schema):
    for name in [
        "industries",
        "stations",
        "demonstration-bases",
        "field-schools",
        "experts",
        "extension-workers",
        "tech-commissioners",
        "model-households",
        "farmers",
        "divisions",
    ]:
        assert f"/api/v1/{name}/" in schema["paths"]
    for path in ["/api/v1/auth/login/", "/api/v1/auth/logout/", "/api/v1/auth/logout-all/", "/api/v1/me/"]:
        assert path in schema["paths"]
    assert "/api/v1/experts/{id}/network/" in schema["paths"]
    assert "/api/v1/network/summary/" in schema["paths"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_no_outside_host(db, page):
    response = APIClient().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls, "the page should reference its scripts"
    outside = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert outside == []
    assert "drf_spectacular_sidecar" in html


def test_sidecar_assets_are_served_locally(db, client):
    html = APIClient().get("/api/docs/").content.decode()
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html).group(1)
    assert client.get(script).status_code == 200


def test_no_schema_description_is_a_note_about_the_code(schema):
    """Descriptions are for client developers: no docstring about the implementation leaks into the schema."""
    internal = re.compile(r"``|\bDRF\b|agri\.|drf-spectacular|Documentation only|\bqueryset\b", re.IGNORECASE)
    leaks = [name for name, component in schema["components"]["schemas"].items()
             if internal.search(component.get("description", ""))]  # fmt: skip
    assert leaks == []
