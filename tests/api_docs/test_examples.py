"""The OpenAPI examples (data files in api_docs/examples/), checked both ways against the rendered schema.

Stale: every example file names a component (``Industry.json``, ``IndustryRequest.json``) or an operation
(``operations/<operationId>.json``) of the schema, validates against that schema with no unknown field and no
required one missing, and is shown where that component is used.

Missing: the rule the examples met when they moved to files. Every ``application/json`` request body and every
``application/json`` success (2xx) response of every operation shows an example, from the file of its component (a
PATCH body: the full body's, a page of a list: the item's) or, with no component, of its operation. Multipart
uploads, GeoJSON and file downloads have none.
"""

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from api_docs.schema import EXAMPLES_DIR, load_examples

EXAMPLES = load_examples()
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def json_contents(schema):
    """(where, operation, method, content) of every JSON request body and JSON success response."""
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                yield f"{method.upper()} {path} request body", operation, method, body
            for code, response in operation.get("responses", {}).items():
                content = (response.get("content") or {}).get("application/json")
                if code.startswith("2") and content is not None:
                    yield f"{method.upper()} {path} {code} response", operation, method, content


def component_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def example_name(schema, operation, content) -> str:
    """The example file (name without .json) that should serve this body or response."""
    ref = content["schema"].get("$ref") or content["schema"].get("items", {}).get("$ref")
    if ref is None:
        return f"operations/{operation['operationId']}"
    name = component_name(ref)
    item = schema["components"]["schemas"][name].get("properties", {}).get("results", {}).get("items", {})
    if name.startswith("Paginated") and "$ref" in item:  # a page of a list: the item's example
        name = component_name(item["$ref"])
    return name.removeprefix("Patched")  # a PATCH body: the first fields of the full body's example


def strict_json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema (``nullable``), refusing fields the schema does not name."""
    if isinstance(node, list):
        return [strict_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        elif "enum" in node:
            node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


def validation_errors(schema, value, against) -> list[str]:
    """What is wrong with ``value`` for the schema ``against`` (with its $refs into the rendered schema)."""
    root = {**strict_json_schema(against), "components": strict_json_schema(schema["components"])}
    validator = jsonschema.Draft4Validator(root, format_checker=jsonschema.FormatChecker())
    errors = validator.iter_errors(value)
    return [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in errors]


def operation_by_id(schema, operation_id):
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method in HTTP_METHODS and operation["operationId"] == operation_id:
                return operation
    return None


def test_the_examples_are_found():
    assert EXAMPLES_DIR.is_dir()
    assert "IndustryRequest" in EXAMPLES and "Industry" in EXAMPLES


def test_every_example_file_names_a_component_or_an_operation(schema):
    stale = []
    for name in EXAMPLES:
        if name.startswith("operations/"):
            if operation_by_id(schema, name.removeprefix("operations/")) is None:
                stale.append(f"{name}.json: no operation {name.removeprefix('operations/')}")
        elif name not in schema["components"]["schemas"]:
            stale.append(f"{name}.json: no component {name}")
    assert stale == []


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_validates_against_its_schema(schema, name):
    if name.startswith("operations/"):
        operation = operation_by_id(schema, name.removeprefix("operations/"))
        assert operation is not None, f"{name}.json: no such operation"
        responses = operation["responses"]
        against = next(r["content"]["application/json"]["schema"] for c, r in responses.items() if c[0] == "2")
    else:
        assert name in schema["components"]["schemas"], f"{name}.json: no such component"
        against = {"$ref": f"#/components/schemas/{name}"}
    assert validation_errors(schema, EXAMPLES[name], against) == []


def test_every_example_file_is_shown(schema):
    """A file no JSON body or response of the schema would take is stale (its component lost its example's use)."""
    used = {example_name(schema, operation, content) for _where, operation, _method, content in json_contents(schema)}
    assert sorted(f"{name}.json" for name in set(EXAMPLES) - used) == []


def test_every_json_body_and_success_response_has_an_example_file(schema):
    missing = sorted(
        f"{where}: no {EXAMPLES_DIR.name}/{name}.json"
        for where, operation, _method, content in json_contents(schema)
        if (name := example_name(schema, operation, content)) not in EXAMPLES
    )
    assert missing == []


def test_every_json_body_and_success_response_shows_its_file_and_validates(schema):
    """The rendered examples are the files' (a page wraps the item; a PATCH body shows the first two fields)."""
    problems = []
    for where, operation, method, content in json_contents(schema):
        name = example_name(schema, operation, content)
        shown = [example["value"] for example in content.get("examples", {}).values()]
        if len(shown) != 1:
            problems.append(f"{where}: {len(shown)} examples shown, not 1")
            continue
        (value,) = shown
        problems += [f"{where}: {error}" for error in validation_errors(schema, value, content["schema"])]
        if name not in EXAMPLES:
            continue  # reported by the test above
        expected = EXAMPLES[name]
        if method == "patch" and where.endswith("request body"):
            expected = dict(list(expected.items())[:2])
        if isinstance(value, dict) and "results" in value and "count" in value:
            value = value["results"][0]
        elif isinstance(value, list) and content["schema"].get("type") == "array":
            value = value[0]
        if value != expected:
            problems.append(f"{where}: shows another example than {name}.json")
    assert problems == []
