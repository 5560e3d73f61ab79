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


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", method, operation


def texts(node, where=""):
    """(where, text) of every summary, description and title, outside examples and enum values (and the API's name,
    `info.title`, which generators make a package name of)."""
    if where == "" and "info" in node:
        node = node | {"info": {"description": node["info"].get("description", "")}}
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("example", "examples", "enum", "default"):
                continue
            if key in ("summary", "description", "title") and isinstance(value, str):
                yield f"{where}/{key}", value
            else:
                yield from texts(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from texts(value, f"{where}/{index}")


@pytest.fixture(scope="module", params=["en", "zh-hans"])
def schema_in(request, django_db_blocker):
    """(language, the schema as served in it)."""
    with django_db_blocker.unblock():
        response = APIClient().get(f"/api/schema/?format=json&lang={request.param}")
    assert response.status_code == 200
    return request.param, response.json()


def test_every_operation_documents_the_errors_it_can_answer(schema_in):
    """So that a generated client returns the typed Error for each, instead of raising on an unknown status."""
    _language, schema = schema_in
    missing = []
    for where, method, operation in operations(schema):
        responses = operation["responses"]
        expected = {"503"}  # a database or cache outage, on any request
        if "security" in operation:
            expected.add("401")
        if "requestBody" in operation:
            expected.add("413")
        if method != "get":
            expected.add("429")  # writes are throttled per account
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add("404")
        for code in sorted(expected - set(responses)):
            missing.append(f"{where}: {code}")
        for code, response in responses.items():
            if code[0] in "45" and "application/json" in response.get("content", {}):
                assert response["content"]["application/json"]["schema"] == ERROR_SCHEMA, f"{where} {code}"
    assert missing == []
    login = schema["paths"]["/api/v1/auth/login/"]["post"]["responses"]
    assert {"400", "413", "429", "503"} <= set(login)


def test_no_identifier_has_a_non_ascii_character(schema_in):
    """Client generators make names of these: `VisitsList类型` and `nongji_农技_api_client` are what they made of
    Chinese titles."""
    _language, schema = schema_in
    names = [("info/title", schema["info"]["title"])]
    for name, component in schema["components"]["schemas"].items():
        names.append((f"component {name}", name))
        names += [(f"component {name} title", component["title"])] if "title" in component else []
        names += [(f"{name}.{prop}", prop) for prop in component.get("properties", {})]
        names += [(f"{name} x-enum-varnames", v) for v in component.get("x-enum-varnames", [])]
    for where, _method, operation in operations(schema):
        names.append((f"{where} operationId", operation["operationId"]))
        for parameter in operation.get("parameters", []):
            names.append((f"{where} parameter", parameter["name"]))
            if "title" in parameter.get("schema", {}):
                names.append((f"{where} {parameter['name']} title", parameter["schema"]["title"]))
    assert [(where, name) for where, name in names if not name.isascii()] == []


def test_every_enum_names_its_values_for_generators(schema_in):
    _language, schema = schema_in
    enums = [c for c in schema["components"]["schemas"].values() if [v for v in c.get("enum", []) if v is not None]]
    assert len(enums) > 10
    for component in enums:
        values = [value for value in component["enum"] if value is not None]
        assert len(component["x-enum-varnames"]) == len(values)
        assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) for name in component["x-enum-varnames"])
    kind = schema["components"]["schemas"]["KindEnum"]
    assert dict(zip(kind["enum"], kind["x-enum-varnames"], strict=True))["new_variety"] == "NEW_VARIETY"


def test_every_parameter_has_a_description_in_the_schemas_language(schema_in):
    language, schema = schema_in
    undescribed, wrong_language = [], []
    for where, _method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            description = parameter.get("description", "")
            if not description.strip():
                undescribed.append(f"{where} {parameter['name']}")
            elif language == "en" and CJK.search(description):
                wrong_language.append(f"{where} {parameter['name']}: {description}")
    assert undescribed == []
    assert wrong_language == []
    updated_since = next(
        p for p in schema["paths"]["/api/v1/visits/"]["get"]["parameters"] if p["name"] == "updated_since"
    )
    assert bool(CJK.search(updated_since["description"])) == (language == "zh-hans")


def test_the_english_schema_has_no_chinese_text(db):
    """Chinese stays in examples and enum values (names of places, crops): no summary, description or title."""
    schema = APIClient().get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert [(where, text) for where, text in texts(schema) if CJK.search(text)] == []


def test_the_chinese_schema_is_written_in_chinese(db):
    """Each summary and description of the zh-hans schema is Chinese (code words and names aside)."""
    schema = APIClient().get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    found = list(texts(schema))
    assert len(found) > 1000
    assert [(where, text) for where, text in found if not CJK.search(text)] == []
    summaries = {op["operationId"]: op.get("summary") for _w, _m, op in operations(schema)}
    assert summaries["demonstration_bases_create"] == "新建农业科技试验示范基地"
