"""Hostile input is a 4xx with a code, never a 500: nesting, tampered cursors, NUL bytes, control characters, names
at their length limit, and answers that keep to the schema."""

import base64
import io
import json
import uuid
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook
from PIL import ExifTags, Image
from rest_framework.test import APIClient

from agri.models import DemonstrationBase, FieldSchool, Industry, Photo, Role
from tests import factories as f
from tests.agri.map_support import HOME_LAT, HOME_LON, map_world, visit
from tests.agri.photo_support import new_visit, upload
from tests.support import login


@pytest.fixture
def clients(world) -> dict:
    """The world's accounts, and the installation-wide admin that alone writes industries (shared by every county)."""
    owner = f.UserFactory(username="installation-admin", role=Role.BUREAU_ADMIN, jurisdiction="")
    return {**{name: login(user) for name, user in world.users.items()}, "owner": login(owner)}


def writer(clients, path: str):
    """Who may write at ``path``: the installation admin for industries, the county's admin for the rest."""
    return clients["owner"] if path.startswith("/api/v1/industries/") else clients["admin"]


# --- nesting ----------------------------------------------------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/api/v1/auth/login/"),
        ("worker", "/api/v1/visits/"),
        ("worker", "/api/v1/sync/visits/"),
        ("worker", "/api/v1/model-households/"),
        ("owner", "/api/v1/industries/"),
    ],
)
@pytest.mark.parametrize("body", [DEEP, _nested(1000), json.dumps({"visits": [{"notes": json.loads(_nested(100))}]})])
def test_deeply_nested_json_is_a_400_parse_error(world, clients, who, path, body):
    client = clients[who] if who else APIClient()
    response = client.post(path, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"
    assert "nest" in response.json()["message"]


def test_json_nested_as_deep_as_a_multipolygon_parcel_is_accepted(world, clients):
    ring = [[108.70, 30.95], [108.701, 30.95], [108.701, 30.951], [108.70, 30.95]]
    body = {
        "name": "示范基地",
        "industry": "citrus",
        "lat": HOME_LAT,
        "lon": HOME_LON,
        "village_code": "500235001001",
        "parcel": {"type": "MultiPolygon", "coordinates": [[ring]]},
    }
    response = clients["admin"].post("/api/v1/demonstration-bases/", body, format="json")
    assert response.status_code == 201, response.content


# --- tampered pull cursors ----------------------------------------------------------------------------------------


def _cursor(position: str, offset: str = "0") -> str:
    query = urlencode({"o": offset, "p": position}, doseq=True)
    return base64.b64encode(query.encode()).decode()


TAMPERED_POSITIONS = [
    "2026-12-06T13:00:00+99:99",
    "2026-12-06T13:00:00\x00",
    "99999-12-31",
    "2026-12-06T13:00:00+00:00|not-a-uuid",
    "2026-02-30T00:00:00Z",
    "not a time",
    "0001-01-01T00:00:00+14:00",
]


@pytest.mark.parametrize("path", ["/api/v1/visits/", "/api/v1/farmers/", "/api/v1/model-households/"])
@pytest.mark.parametrize("position", TAMPERED_POSITIONS)
def test_a_tampered_pull_cursor_is_a_400_with_a_code(world, clients, path, position):
    query = {"updated_since": "2000-01-01T00:00:00Z", "cursor": _cursor(position)}
    response = clients["worker"].get(path, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"]["cursor"][0]["message"].startswith("Invalid cursor")


@pytest.mark.parametrize("cursor", ["not-base64!", base64.b64encode(b"o=x&p=1").decode(), "%00"])
def test_a_cursor_that_does_not_decode_is_a_400_too(world, clients, cursor):
    query = {"updated_since": "2000-01-01T00:00:00Z", "cursor": cursor}
    response = clients["worker"].get("/api/v1/visits/", query)
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "nul_character")


@pytest.mark.parametrize("path", ["/api/v1/visits/", "/api/v1/farmers/"])
def test_a_well_formed_pull_cursor_still_pages(world, clients, path):
    query = {"updated_since": "2000-01-01T00:00:00Z", "cursor": _cursor("2000-01-01T00:00:00+00:00")}
    response = clients["worker"].get(path, query)
    assert response.status_code == 200, response.content


# --- NUL bytes ----------------------------------------------------------------------------------------------------

NUL_GETS = [
    "/api/v1/coverage/divisions/?industry=%00",
    "/api/v1/coverage/hexagons/?industry=%00",
    "/api/v1/coverage/map.png?industry=%00",
    "/api/v1/exports/coverage/?industry=%00",
    "/api/v1/visits/?search=%00",
    "/api/v1/farmers/?updated_since=2000-01-01T00:00:00%00",
    "/api/v1/industries/?ordering=%00",
    "/api/v1/indicators/?year=2026&industry=%00",
    "/api/v1/model-households/?village=50023500100%00",
    "/api/v1/industries/citrus%00/",
    "/api/v1/divisions/500235001001%00/",
    "/api/v1/coverage/divisions/?%00=1",
]


@pytest.mark.parametrize("url", NUL_GETS)
def test_a_nul_byte_in_a_query_parameter_or_path_is_a_400(world, clients, url):
    response = clients["admin"].get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "nul_character"


def test_a_nul_byte_refused_for_anonymous_callers_too(db, client):
    response = client.get("/api/v1/health/?x=%00")
    assert response.status_code == 400
    assert response.json()["code"] == "nul_character"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/industries/", {"code": "tea", "name": "茶叶\x00"}),
        ("/api/v1/industries/", {"code": "tea\x00", "name": "茶叶"}),
        ("/api/v1/divisions/", {"code": "500235001009", "name": "x", "level": "village", "parent": "500235001000\x00"}),
        ("/api/v1/auth/login/", {"username": "admin\x00", "password": "x"}),
    ],
)
def test_a_nul_byte_in_a_json_string_is_a_400(world, clients, path, body):
    response = writer(clients, path).post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "nul_character")


def test_a_nul_byte_in_a_json_key_or_free_form_value_is_a_400(world, clients):
    body = {"visits": [{**visit(world), "extra\x00": "x"}]}
    response = clients["worker"].post("/api/v1/sync/visits/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "nul_character"


def test_a_nul_byte_in_a_form_field_is_a_400(world, clients):
    response = clients["owner"].post("/api/v1/industries/", {"code": "tea", "name": "茶\x00叶"}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "nul_character")


# --- names at their length limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("length", [94, 95, 100])
def test_a_base_name_of_up_to_100_characters_gets_a_field_school_that_fits(world, clients, language, length):
    name = "示" * length
    body = {"name": name, "industry": "citrus", "lat": HOME_LAT, "lon": HOME_LON, "village_code": "500235001001"}
    response = clients["admin"].post("/api/v1/demonstration-bases/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 201, response.content
    base = DemonstrationBase.objects.get(pk=response.json()["id"])
    assert base.name == name
    school = FieldSchool.objects.get(base=base)
    assert len(school.name) <= FieldSchool._meta.get_field("name").max_length
    assert school.name.startswith("示" * 20)


def test_a_camera_named_at_its_exif_limits_fits_the_photo_row(world, clients, private_root):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "M" * 150
    exif[ExifTags.Base.Model] = "X" * 150
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 60)).save(buf, "JPEG", exif=exif)
    recorded = new_visit(clients["worker"], world)
    response = upload(clients["worker"], recorded["id"], buf.getvalue())
    assert response.status_code == 201, response.content
    camera = Photo.objects.get(pk=response.json()["id"]).camera
    assert camera.startswith("M" * 150 + " XXX")
    assert len(camera) <= Photo._meta.get_field("camera").max_length


# --- control characters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/industries/", {"code": "tea", "name": "茶叶\x0b测试"}),
        ("/api/v1/industries/", {"code": "tea", "name": "茶叶", "name_en": "Tea\x1b[31m"}),
        # DRF trims whitespace before its validators: trailing, or only, control characters are still refused.
        ("/api/v1/industries/", {"code": "tea", "name": "茶叶\t"}),
        ("/api/v1/industries/", {"code": "tea", "name": "茶叶", "name_en": "\x1f"}),
        ("/api/v1/stations/", {"name": "站\x07", "host_org": "x", "lat": HOME_LAT, "lon": HOME_LON}),
        ("/api/v1/model-households/", {"head_name": "张\x0c三", "lat": HOME_LAT, "lon": HOME_LON}),
        (
            "/api/v1/divisions/",
            {"code": "500235001009", "name": "村\x7f", "level": "village", "parent": "500235001000"},
        ),
    ],
)
def test_a_control_character_in_a_name_is_a_400(world, clients, path, body):
    body = {**body, "village_code": "500235001001"} if "lat" in body else body
    response = writer(clients, path).post(path, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    fields = response.json()["fields"]
    name_field = next(name for name in ("name", "name_en", "head_name") if name in fields)
    assert fields[name_field][0]["code"] == "control_character"


def test_line_breaks_and_tabs_stay_allowed_in_notes(world, clients):
    map_world(world)
    body = visit(world, notes="第一行\n第二行\t结束")
    response = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["notes"] == "第一行\n第二行\t结束"


def test_the_excel_export_survives_a_control_character_already_stored(world, clients):
    Industry.objects.filter(code="citrus").update(name="柑\x0b橘\x1f")
    response = clients["admin"].get("/api/v1/indicators/", {"format": "xlsx"})
    assert response.status_code == 200, response.content
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    names = {cell for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row if cell}
    assert "柑橘" in names


# --- answers the schema lists -------------------------------------------------------------------------------------


def test_a_division_below_the_province_needs_its_parent(world, clients):
    body = {"code": "500235009000", "name": "新镇", "level": "township", "parent": None}
    response = clients["admin"].post("/api/v1/divisions/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["parent"][0]["code"] == "required"
    body.pop("parent")
    response = clients["admin"].post("/api/v1/divisions/", body, format="json")
    assert response.status_code == 400
    body["parent"] = "500235000000"
    assert clients["admin"].post("/api/v1/divisions/", body, format="json").status_code == 201


def _post_operation(schema: dict, path: str) -> dict:
    return schema["paths"][path]["post"]["responses"]


@pytest.mark.parametrize("resource", ["model-households", "farmers", "visits"])
def test_every_replayable_create_documents_its_200(db, client, resource):
    schema = client.get("/api/schema/?format=json").json()
    responses = _post_operation(schema, f"/api/v1/{resource}/")
    assert {"200", "201"} <= set(responses)
    assert (
        responses["200"]["content"]["application/json"]["schema"]
        == (responses["201"]["content"]["application/json"]["schema"])
    )


def test_a_replayed_household_create_answers_200_with_the_record(world, clients):
    body = {"id": str(uuid.uuid4()), "head_name": "张三", "lat": HOME_LAT, "lon": HOME_LON}
    body["village_code"] = "500235001001"
    first = clients["worker"].post("/api/v1/model-households/", body, format="json")
    again = clients["worker"].post("/api/v1/model-households/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


@pytest.mark.parametrize("area", ["-", ".", "-.", "1.2.", "+"])
def test_a_decimal_the_schema_allows_is_one_the_server_takes(world, clients, area):
    import re

    schema = clients["admin"].get("/api/schema/?format=json").json()["components"]["schemas"]
    pattern = schema["DemonstrationBaseRequest"]["properties"]["area_mu"]["pattern"]
    body = {"name": "基地", "industry": "citrus", "lat": HOME_LAT, "lon": HOME_LON, "village_code": "500235001001"}
    response = clients["admin"].post("/api/v1/demonstration-bases/", {**body, "area_mu": area}, format="json")
    assert response.status_code == 400
    assert re.fullmatch(pattern.strip("^$"), area) is None, (pattern, area)


# --- integers beyond 64 bits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["base", "station"])
def test_an_id_beyond_64_bits_is_an_id_that_does_not_exist_not_a_float(world, clients, field):
    """JSON has no integer limit and the schema sets none on ids: a 28-digit id is a well-formed integer that names
    no row (``does_not_exist``), as a 3-digit unknown one is, not a float of the wrong type (found by make fuzz)."""
    body = json.dumps({**visit(world), field: 0}).replace(f'"{field}": 0', f'"{field}": 1548951895499174921302441984')
    response = clients["worker"].post("/api/v1/visits/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"][field][0]["code"] == "does_not_exist", response.content


def test_a_huge_integer_in_a_number_field_is_its_range_error(world, clients):
    body = json.dumps({**visit(world), "participants": 0}).replace('"participants": 0', '"participants": ' + "9" * 30)
    response = clients["worker"].post("/api/v1/visits/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["participants"][0]["code"] == "max_value"
