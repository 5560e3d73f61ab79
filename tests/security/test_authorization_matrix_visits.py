"""Authorization matrix for field evidence (OWASP API1, API3, API5): every role x every operation on visits, photos,
resumable uploads, exports, coverage, indicators, the network summary, personal data, devices and reference data,
against own, sibling and out-of-county objects. ``test_authorization_matrix_network.py`` covers the network endpoints
(GET, POST, PATCH, DELETE); this module covers everything else, and ``test_every_operation_is_in_a_matrix``
fails when the OpenAPI schema gains an operation that no matrix classifies.

The expected outcomes are the INTENDED rules, written out as explicit tables in ``matrix_support.py``
(``VISIBLE_VISITS``, ``RECORDED``, ``PHOTOS``, the network's ``VISIBLE``) and below; nothing is derived from the app's
querysets. A cell is
one request checked three ways:

- the exact status (and, for 200s, the exact set of ids or codes in the body);
- the body (JSON, GeoJSON, KML, GeoPackage, Shapefile, ZIP manifest, XLSX, CSV) names nothing out of the role's
  scope: no id, marker name or notes of an object it may not see, and no code or name of the other county;
- a refused write changed nothing: every table involved and the photo storage are identical before and after.

The world (``matrix_support.build_evidence``, the fixture ``ev`` of tests/security/conftest.py): the shared
two-county world (``tests/support.py``) with a district of Chongqing's other city (``add_other_city``: Wanzhou, whose
objects end in 8), every object renamed to carry a marker (``[H2]``), village polygons, and eleven visits recorded
through the API by ten accounts, one of them deleted, with photos (and one resumable upload in progress). The roles
are the eight county-level ones, the province's bureau admin (``50``: all three counties) and the viewer of
Chongqing's counties (``5002``: Yunyang and Fengjie, not Wanzhou); a body a role gets must name no county outside
its jurisdiction (``matrix_support.other_county_patterns``). The actors' own visits only
ever target objects in their own scope, so a visible body never needs to name an invisible object; a marker in a body
is a leak. The world is built once per module and committed; each test runs in a transaction that is rolled back, so
every test starts from the same world.

Cells are counted as they run and must match the tables (``CELLS``), so no cell can be skipped silently;
``test_matrix_size`` prints them per test: 5,910 in all (``TOTAL_CELLS``), 5,775 for the ten roles, 26 for
the single-account tests (reference data owners, client ids already taken) and 109 for an anonymous client
(every operation of the schema).
"""

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import h3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from agri.models import (
    DeviceToken,
    Industry,
    Job,
    ModelHousehold,
    PersonalDataAccess,
    Photo,
    Role,
    User,
    Visit,
)
from tests import factories as f
from tests.agri.job_support import run_embedded_worker
from tests.agri.upload_support import metadata_header
from tests.security.matrix_support import (
    API,
    COARSE_READERS,
    COUNTIES,
    DELETED,
    DIVISION_ANCESTORS,
    ENDPOINTS,
    FAMILY_ADDRESS,
    ID_TAKEN,
    IMMUTABLE_CODE,
    INDUSTRY_WRITERS,
    JURISDICTION,
    LEVEL_COARSE_READERS,
    NETWORK_ROLES,
    NETWORK_VISIBLE,
    PHOTOS,
    RECORDED,
    RECORDERS,
    REFERENCE_OWNERS,
    TARGET_FIELD,
    TOMBSTONE_READERS,
    TOWNSHIPS,
    VILLAGES,
    VISIBLE_VISITS,
    VISITS,
    WRITABLE,
    WRITE_ACTIONS,
    Evidence,
    Matrix,
    defined_tests,
    fresh_jpeg,
    is_cell_centre,
    may_read,
    parse_csv,
    parse_gis,
    parse_image,
    parse_png,
    parse_xlsx,
    parse_zip,
    snapshot,
    visit_body,
)
from tests.support import login

# The eight county-level roles, the province's bureau admin (50) and the viewer of Chongqing's counties (5002).
ROLES = NETWORK_ROLES
COARSE_READERS = COARSE_READERS | LEVEL_COARSE_READERS
BUREAU = {"admin", "viewer", "township_viewer", "province", "city"}
ADMINS = {"admin", "province"}  # bureau admins
ACTORS = {"expert", "worker", "worker2", "commissioner"}  # roles linked to a person who records visits
VIEWERS = {"viewer", "township_viewer", "city"}  # their coverage positions are coarsened: only scope is asserted
# Coverage and indicators count each role's slice: for these roles it is exactly the visits it may read.
COVERAGE_ROLES = set(ROLES) - {"station"}

# Targets a visit may name: the world objects and villages. A role may name exactly those it may read.
TARGETS = [
    *("H1", "H2", "H3", "H9", "H8", "F1", "F2", "F3", "F9", "F8", "B1", "B2", "B9", "B8"),
    *("S1", "S2", "S9", "S8", "v1", "v1b", "v2", "v9", "v8"),
]
ACTOR_FIELD = {"W": "worker", "E": "expert", "C": "commissioner"}
INDUSTRY = {"E1": "citrus", "E2": "goats", "E9": "citrus", "E8": "citrus"}
EXPERT_OF = {"W1": "E1", "W2": "E1", "W3": "E2", "W9": "E9", "W8": "E8"}
HOUSEHOLD_VILLAGE = {"H1": "v1", "H2": "v2", "H3": "v1b", "H9": "v9", "H8": "v8"}


# --- the tables' consequences ---------------------------------------------------------------------------------


def actor_of(visit: str) -> str:
    return RECORDERS[VISITS[visit].recorder]


def visit_matches(visit: str, param: str, value: str) -> bool:
    v = VISITS[visit]
    if param == "division":
        return VILLAGES[v.village].startswith(value)
    if param in ("expert", "worker", "commissioner"):
        return ACTOR_FIELD[actor_of(visit)[0]] == param and actor_of(visit) == value
    return TARGET_FIELD[v.target[0]] == param and v.target == value


def slice_of(role: str) -> set[str]:
    return VISIBLE_VISITS[role]


def villages_in(role: str) -> list[str]:
    return [key for key, code in VILLAGES.items() if code.startswith(JURISDICTION[role])]


def townships_in(role: str) -> list[str]:
    return [key for key, code in TOWNSHIPS.items() if code.startswith(JURISDICTION[role][:9])]


def counties_in(role: str) -> list[str]:
    """The counties coverage shows the role: those inside its jurisdiction (none for a township's account)."""
    return [key for key, code in COUNTIES.items() if code.startswith(JURISDICTION[role])]


def indicator_counties(role: str) -> set[str]:
    """The counties of the indicators' ``by_county``: those of the role's jurisdiction, or of its township's county."""
    return {code for code in COUNTIES.values() if code.startswith(JURISDICTION[role][:6])}


def visible_households(role: str) -> set[str]:
    return NETWORK_VISIBLE[role].get("model-households", set())


def visited_households(role: str) -> set[str]:
    return {VISITS[v].target for v in slice_of(role) if VISITS[v].target.startswith("H")}


def photos_of(visits) -> set[str]:
    return {p for p, v in PHOTOS.items() if v in visits}


def township_of(village: str) -> str:
    return VILLAGES[village][:9] + "000"


# --- the world ------------------------------------------------------------------------------------------------
# --- the schema: every operation must be in a matrix ------------------------------------------------------------

N = "network:"  # a test of test_authorization_matrix_network.py
NETWORK_TESTS = Path(__file__).with_name("test_authorization_matrix_network.py")
OPERATIONS = {
    "POST /api/v1/auth/login/": ["test_accounts_and_devices"],  # anonymous; see also tests/agri/api/test_auth.py
    "POST /api/v1/auth/logout/": ["test_accounts_and_devices"],
    "POST /api/v1/auth/logout-all/": ["test_accounts_and_devices"],
    "POST /api/v1/auth/password/": ["test_accounts_and_devices"],
    "GET /api/v1/auth/devices/": ["test_accounts_and_devices"],
    "DELETE /api/v1/auth/devices/{token_key}/": ["test_accounts_and_devices"],
    "GET /api/v1/me/": ["test_accounts_and_devices"],
    "GET /api/v1/health/": ["test_anonymous_is_refused_everywhere"],  # public: 200 to anyone, nothing revealed
    "GET /api/v1/coverage/divisions/": ["test_coverage_and_indicators"],
    "GET /api/v1/coverage/hexagons/": ["test_coverage_and_indicators"],
    "GET /api/v1/coverage/gaps/": ["test_coverage_and_indicators"],
    "GET /api/v1/coverage/map.png": ["test_coverage_and_indicators"],
    "GET /api/v1/stations/{id}/service-area/": ["test_coverage_and_indicators"],
    "GET /api/v1/indicators/": ["test_coverage_and_indicators"],
    "GET /api/v1/indicators/monthly/": ["test_coverage_and_indicators"],
    "GET /api/v1/network/summary/": ["test_coverage_and_indicators"],
    "GET /api/v1/exports/coverage/": ["test_exports"],
    "GET /api/v1/exports/demonstration-bases/": ["test_exports"],
    "GET /api/v1/exports/model-households/": ["test_exports"],
    "GET /api/v1/exports/visits/": ["test_exports", "test_visit_filters"],
    "GET /api/v1/exports/photos/": ["test_photo_reads", "test_visit_filters"],
    "POST /api/v1/exports/coverage/": ["test_export_jobs"],
    "POST /api/v1/exports/demonstration-bases/": ["test_export_jobs"],
    "POST /api/v1/exports/model-households/": ["test_export_jobs"],
    "POST /api/v1/exports/visits/": ["test_export_jobs"],
    "POST /api/v1/exports/photos/": ["test_export_jobs"],
    "GET /api/v1/jobs/": ["test_export_jobs"],
    "GET /api/v1/jobs/{id}/": ["test_export_jobs"],
    "GET /api/v1/jobs/{id}/file/": ["test_export_jobs"],
    "GET /api/v1/visits/": ["test_visit_reads", "test_visit_filters"],
    "POST /api/v1/visits/": ["test_visit_creates", "test_taken_ids_answer_alike"],
    "GET /api/v1/visits.geojson": ["test_visit_reads", "test_visit_filters"],
    "GET /api/v1/visits/{id}/": ["test_visit_reads"],
    "PATCH /api/v1/visits/{id}/": ["test_visit_edits"],
    "DELETE /api/v1/visits/{id}/": ["test_visit_edits"],
    "GET /api/v1/visits/{id}/history/": ["test_visit_reads"],
    "POST /api/v1/sync/visits/": ["test_visit_creates", "test_taken_ids_answer_alike"],
    "GET /api/v1/sync/": ["test_sync_reads", "test_family_locations"],
    "GET /api/v1/visits/{visit_id}/photos/": ["test_photo_reads"],
    "POST /api/v1/visits/{visit_id}/photos/": ["test_photo_uploads"],
    "GET /api/v1/photos/{id}/": ["test_photo_reads"],
    "PUT /api/v1/photos/{id}/": ["test_photo_uploads", "test_taken_ids_answer_alike"],
    "POST /api/v1/uploads/": ["test_resumable_uploads"],
    "PATCH /api/v1/uploads/{id}/": ["test_resumable_uploads"],
    "DELETE /api/v1/uploads/{id}/": ["test_resumable_uploads"],
    "GET /api/v1/photos/{id}/original/": ["test_photo_reads"],
    "GET /api/v1/photos/{id}/display/": ["test_photo_reads"],
    "GET /api/v1/photos/{id}/thumbnail/": ["test_photo_reads"],
    "POST /api/v1/farmers/{id}/reveal/": ["test_farmer_reveal"],
    "GET /api/v1/experts/{id}/network/": [
        "test_expert_network_tree",
        N + "test_network_tree_follows_expert_visibility",
    ],
    "GET /api/v1/industries/": ["test_reference_data"],
    "POST /api/v1/industries/": ["test_reference_data", "test_reference_data_owners"],
    "GET /api/v1/industries/{code}/": ["test_reference_data"],
    "PUT /api/v1/industries/{code}/": ["test_reference_data", "test_reference_data_owners"],
    "PATCH /api/v1/industries/{code}/": ["test_reference_data", "test_reference_data_owners"],
    "DELETE /api/v1/industries/{code}/": ["test_reference_data", "test_reference_data_owners"],
    "GET /api/v1/divisions/": [
        "test_reference_data",
        N + "test_divisions_list_only_the_jurisdiction_and_its_ancestors",
    ],
    "POST /api/v1/divisions/": ["test_reference_data"],
    "GET /api/v1/divisions/{code}/": ["test_reference_data", N + "test_division_detail_outside_jurisdiction_is_404"],
    "PUT /api/v1/divisions/{code}/": ["test_reference_data"],
    "PATCH /api/v1/divisions/{code}/": ["test_reference_data", "test_reference_data_owners"],
    "DELETE /api/v1/divisions/{code}/": ["test_reference_data"],
    "GET /api/v1/divisions/{code}/boundary/": ["test_reference_data"],
}
for _endpoint in ENDPOINTS:
    OPERATIONS[f"GET /api/v1/{_endpoint}/"] = [
        N + "test_reads",
        N + "test_list_filter_on_out_of_scope_id_leaks_nothing",
    ]
    OPERATIONS[f"GET /api/v1/{_endpoint}/{{id}}/"] = [N + "test_reads"]
    OPERATIONS[f"PATCH /api/v1/{_endpoint}/{{id}}/"] = [N + "test_writes"]
    OPERATIONS[f"PUT /api/v1/{_endpoint}/{{id}}/"] = ["test_network_put"]
    if _endpoint != "field-schools":  # created and deleted with their base
        OPERATIONS[f"POST /api/v1/{_endpoint}/"] = [
            N + "test_writes",
            N + "test_out_of_scope_foreign_key_is_400_does_not_exist",
        ]
        OPERATIONS[f"DELETE /api/v1/{_endpoint}/{{id}}/"] = [N + "test_writes"]


def schema_operations() -> set[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = {"get", "post", "put", "patch", "delete"}
    return {
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item if method in methods
    }


def test_every_operation_is_in_a_matrix(db):
    """A new endpoint (or method) without a matrix entry fails here; so does an entry for a removed one."""
    operations = schema_operations()
    missing = sorted(operations - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - operations)
    assert not missing, f"operations in no authorization matrix: {missing}"
    assert not stale, f"matrix entries for operations the schema no longer has: {stale}"
    here = globals()
    network = defined_tests(NETWORK_TESTS)
    for operation, tests in OPERATIONS.items():
        for name in tests:
            defined = name[len(N) :] in network if name.startswith(N) else callable(here.get(name))
            assert defined, (operation, name)


# --- visits: reads --------------------------------------------------------------------------------------------


def etag(ev: Evidence, name: str) -> dict:
    version = Visit.objects.filter(pk=ev.visits[name]).values_list("version", flat=True).get()
    return {"HTTP_IF_MATCH": f'"{ev.visits[name]}-{version}"'}


def feature_ids(body) -> list:
    return [feature["id"] for feature in body["features"]]


@pytest.mark.parametrize("role", ROLES)
def test_visit_reads(ev, role, tmp_path):
    """List, pull (with tombstones), detail, history and visits.geojson: exactly the visits the role may read."""
    m = Matrix(ev, role, tmp_path)
    visible = VISIBLE_VISITS[role]
    body = m.request("GET /visits/", "get", f"{API}/visits/?page_size=500", 200)
    if body is not None:
        m.ids("GET /visits/", [row["id"] for row in body["results"]], visible, ev.pk)
        if body["count"] != len(visible):
            m.fail("GET /visits/", f"count {body['count']}, expected {len(visible)}")
    tombstones = {"V_GONE"} if role in TOMBSTONE_READERS else set()
    body = m.request("pull", "get", f"{API}/visits/?updated_since=2000-01-01T00:00:00Z&page_size=500", 200)
    if body is not None:
        m.ids("pull", [row["id"] for row in body["results"]], visible | tombstones, ev.pk)
        m.ids("pull tombstones", [row["id"] for row in body["results"] if row["deleted"]], tombstones, ev.pk)
    for name in VISITS:
        url = f"{API}/visits/{ev.visits[name]}/"
        body = m.request(f"GET {name}", "get", url, 200 if name in visible else 404)
        if name in visible and body is not None and body["id"] != ev.visits[name]:
            m.fail(f"GET {name}", f"answered with visit {body['id']}")
        # The audit history is for bureau admins, of every visit in the jurisdiction (deleted ones too).
        if role in ADMINS:
            expected = 200 if name in visible | {"V_GONE"} else 404
        else:
            expected = 403
        body = m.request(f"history {name}", "get", f"{url}history/", expected)
        if expected == 200 and body is not None and [e["action"] for e in body][:1] != ["create"]:
            m.fail(f"history {name}", f"not this visit's history: {body}")
    body = m.request("visits.geojson", "get", f"{API}/visits.geojson", 200)
    if body is not None:
        m.ids("visits.geojson", feature_ids(body), visible, ev.pk)
    m.done(CELLS["test_visit_reads"](role))


@pytest.mark.parametrize("role", ROLES)
def test_sync_reads(ev, role, tmp_path):
    """A first sync holds exactly the households, farmers, stations, bases and live visits the role may read."""
    m = Matrix(ev, role, tmp_path)
    body = m.request("GET /sync/", "get", f"{API}/sync/?page_size=1000", 200)
    if body is not None:
        if body["next"] is not None:
            m.fail("GET /sync/", "one page of 1000 expected")
        by_type: dict[str, list] = {}
        for item in body["results"]:
            by_type.setdefault(item["type"], []).append(item["id"])
        visible = NETWORK_VISIBLE.get(role, {})
        for kind, endpoint in (
            ("household", "model-households"),
            ("farmer", "farmers"),
            ("station", "stations"),
            ("base", "demonstration-bases"),
        ):
            m.ids(f"sync {kind}", by_type.get(kind, []), visible.get(endpoint, set()), ev.pk)
        m.ids("sync visit", by_type.get("visit", []), VISIBLE_VISITS[role], ev.pk)
    m.done(CELLS["test_sync_reads"](role))


def family_outputs(ev: Evidence, role: str) -> list[tuple[str, str, int]]:
    """(label, url, expected status): every output that carries households, farmers or visits."""
    bureau = role in BUREAU
    return [
        ("household H1", f"{API}/model-households/{ev.pk('H1')}/", 200 if may_read(role, "H1") else 404),
        ("households", f"{API}/model-households/?page_size=500", 200),
        ("farmer F1", f"{API}/farmers/{ev.pk('F1')}/", 200 if may_read(role, "F1") else 404),
        ("farmers", f"{API}/farmers/?page_size=500", 200),
        ("visit V_W1", f"{API}/visits/{ev.visits['V_W1']}/", 200 if "V_W1" in VISIBLE_VISITS[role] else 404),
        ("visits", f"{API}/visits/?page_size=500", 200),
        ("visits.geojson", f"{API}/visits.geojson", 200),
        ("sync", f"{API}/sync/?page_size=1000", 200),
        ("export households", f"{API}/exports/model-households/?format=geojson", 200 if bureau else 403),
        ("export visits", f"{API}/exports/visits/?format=geojson", 200 if bureau else 403),
        ("gaps", f"{API}/coverage/gaps/", 200 if role in COVERAGE_ROLES else 403),
        ("network tree", f"{API}/experts/{ev.pk('E1')}/network/", 200 if may_read(role, "E1") else 404),
    ]


def family_facts(node, facts: list, parent_key: str = "") -> list:
    """(kind, value) of everything in a body that says where a family lives or who it is: points of households and
    visits (``lat``/``lon``, GeoJSON points), head names, farmers' names and addresses. Stations and bases (in the
    sync feed) are not homes."""
    if isinstance(node, list):
        for item in node:
            family_facts(item, facts, parent_key)
    elif isinstance(node, dict):
        if node.get("type") in ("station", "base", "division", "industry"):
            return facts
        geometry = node.get("geometry") if node.get("type") == "Feature" else None
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            facts.append(("point", (geometry["coordinates"][1], geometry["coordinates"][0])))
        if isinstance(node.get("lat"), float) and isinstance(node.get("lon"), float):
            facts.append(("point", (node["lat"], node["lon"])))
        if "head_name" in node:
            facts.append(("name", node["head_name"]))
        if "household" in node and "name" in node and parent_key != "results" or node.get("type") == "farmer":
            facts.append(("name", node["name"]))
        if "address" in node:
            facts.append(("address", node["address"]))
        for key, value in node.items():
            if key != "geometry":
                family_facts(value, facts, key)
    return facts


def parse_json_or_geojson(raw: bytes, _tmp=None):
    data = json.loads(raw) if raw else None
    return json.dumps(data, ensure_ascii=False), data


@pytest.mark.parametrize("role", ROLES)
def test_family_locations(ev, role, tmp_path):
    """One rule for where families live, in every output: bureau viewers get cell centres, first characters of
    names and no address; every other role gets what is stored."""
    ModelHousehold.objects.filter(pk=ev.pk("H1")).update(address=FAMILY_ADDRESS)
    m = Matrix(ev, role, tmp_path)
    coarse = role in COARSE_READERS
    for label, url, expected in family_outputs(ev, role):
        body = m.request(label, "get", url, expected, parse=parse_json_or_geojson)
        if body is None or expected != 200:
            continue
        for kind, value in family_facts(body, []):
            if kind == "point" and is_cell_centre(*value) != coarse:
                m.fail(label, f"{'an exact' if coarse else 'a coarsened'} position {value}")
            if kind == "name" and value and (re.fullmatch(r".\*+", value) is None) == coarse:
                m.fail(label, f"{'an unmasked' if coarse else 'a masked'} name {value!r}")
            if kind == "address" and value and (value != FAMILY_ADDRESS or coarse):
                m.fail(label, f"address {value!r}")
    if may_read(role, "H1"):
        body = m.client.get(f"{API}/model-households/{ev.pk('H1')}/").json()
        if (body["address"] == FAMILY_ADDRESS) == coarse:
            m.fail("household H1", f"address {body['address']!r}")
    m.done(CELLS["test_family_locations"](role))


# Every filter of the visit list that takes an id or a code, with own, sibling and out-of-county values.
FILTER_CASES = (
    [("expert", k) for k in ("E1", "E2", "E9", "E8")]
    + [("worker", k) for k in ("W1", "W2", "W3", "W9", "W8")]
    + [("commissioner", k) for k in ("C1", "C2", "C9", "C8")]
    + [("household", k) for k in ("H1", "H2", "H3", "H9", "H8")]
    + [("farmer", k) for k in ("F1", "F2", "F3", "F9", "F8")]
    + [("base", k) for k in ("B1", "B2", "B9", "B8")]
    + [("station", k) for k in ("S1", "S2", "S9", "S8")]
    + [("village", k) for k in ("v1", "v1b", "v2", "v9", "v8")]
    + [("division", k) for k in ("500235001", "500235002", "500236", "5002", "500101")]
)


@pytest.mark.parametrize("role", ROLES)
def test_visit_filters(ev, role, tmp_path):
    """The visit filters on the list, visits.geojson and both visit exports: an id the role may not read is refused
    like an unknown one (400); any other value narrows the role's own visits, never widens them."""
    m = Matrix(ev, role, tmp_path)
    for param, value in FILTER_CASES:
        accepted = param == "division" or may_read(role, value)
        query = f"{param}={value if param == 'division' else ev.pk(value)}"
        expected = {v for v in VISIBLE_VISITS[role] if visit_matches(v, param, value)}
        label = f"{param}={value}"
        status = 200 if accepted else 400
        export_status = status if role in BUREAU else 403
        for what, url, code, parse, ids_of in (
            ("list", f"{API}/visits/?page_size=500&{query}", status, None, lambda b: [r["id"] for r in b["results"]]),
            ("geojson", f"{API}/visits.geojson?{query}", status, None, feature_ids),
            ("export", f"{API}/exports/visits/?format=geojson&{query}", export_status, None, feature_ids_props),
            ("photo zip", f"{API}/exports/photos/?{query}", export_status, parse_zip, None),
        ):
            body = m.request(f"{what} {label}", "get", url, code, parse=parse if code == 200 else None)
            if body is None:
                continue
            if code == 400 and set(body["fields"]) != {param}:
                m.fail(f"{what} {label}", f"refused for the wrong field: {body}")
            elif code == 200 and ids_of is not None:
                m.ids(f"{what} {label}", ids_of(body), expected, ev.pk)
            elif code == 200:
                m.ids(f"{what} {label}", [row["photo"] for row in body], photos_of(expected), ev.pk)
    m.done(CELLS["test_visit_filters"](role))


def feature_ids_props(body) -> list:
    return [feature["properties"]["id"] for feature in body["features"]]


# --- visits: writes -------------------------------------------------------------------------------------------

ATTENDEES = ["F1", "F2", "F3", "F9", "F8"]


def target_body(ev: Evidence, role: str, target: str, **overrides) -> dict:
    """A valid visit of ``role`` to ``target``; nothing but the target can make it fail."""
    started = timezone.localtime() - timedelta(hours=2)
    return {
        "id": str(uuid.uuid4()),
        "kind": "guidance",
        "started_at": started.isoformat(),
        "lat": 30.95,
        "lon": 108.70,
        "notes": f"记录[{role}]",
        TARGET_FIELD[target[0]]: ev.pk(target),
        **overrides,
    }


def stored_target(visit_id: str) -> tuple:
    return Visit.objects.filter(pk=visit_id).values_list("user__username", *TARGET_FIELD.values()).first()


def expected_target(ev: Evidence, target: str) -> tuple:
    values = {name: None for name in TARGET_FIELD.values()}
    pk = ev.world[target].pk if target in ev.world.objects else VILLAGES[target]
    values[TARGET_FIELD[target[0]]] = pk
    return tuple(values.values())


@pytest.mark.parametrize("role", ROLES)
def test_visit_creates(ev, role, tmp_path):
    """POST /visits/ and the batch push: every target and attendee the role may not read is refused like an unknown
    one, and nothing is stored; a client id already used by any other visit is a conflict that changes nothing."""
    m = Matrix(ev, role, tmp_path)
    username = ev.world.users[role].username
    # Single pushes, one per target.
    for target in TARGETS:
        field_name = TARGET_FIELD[target[0]]
        expected = 403 if role not in ACTORS else 201 if may_read(role, target) else 400
        body = target_body(ev, role, target)
        answer = m.request(f"POST target {target}", "post", f"{API}/visits/", expected, data=body)
        if answer is None:
            continue
        if expected == 201 and stored_target(body["id"]) != (username, *expected_target(ev, target)):
            m.fail(f"POST target {target}", f"stored {stored_target(body['id'])}")
        if expected == 400 and (
            set(answer["fields"]) != {field_name} or answer["fields"][field_name][0]["code"] != "does_not_exist"
        ):
            m.fail(f"POST target {target}", f"refused for another reason: {answer}")
    # Attendance of a training (at a village of the role's own jurisdiction).
    for farmer in ATTENDEES:
        expected = 403 if role not in ACTORS else 201 if may_read(role, farmer) else 400
        body = target_body(ev, role, villages_in(role)[0], kind="training", attendees=[ev.pk(farmer)])
        answer = m.request(f"POST attendee {farmer}", "post", f"{API}/visits/", expected, data=body)
        if answer is None:
            continue
        if expected == 201 and answer["attendees"] != [ev.pk(farmer)]:
            m.fail(f"POST attendee {farmer}", f"stored attendees {answer['attendees']}")
        if expected == 400 and set(answer["fields"]) != {"attendees.0"}:
            m.fail(f"POST attendee {farmer}", f"refused for another reason: {answer}")
    # One batch with every target: each item answered on its own.
    items = [target_body(ev, role, target) for target in TARGETS]
    answer = m.request(
        "sync targets", "post", f"{API}/sync/visits/", 200 if role in ACTORS else 403, data={"visits": items}
    )
    m.cells += len(items) - 1  # one cell per item
    if answer is not None and role in ACTORS:
        for target, item, result in zip(TARGETS, items, answer["results"], strict=True):
            allowed = may_read(role, target)
            field_name = TARGET_FIELD[target[0]]
            if allowed and (result["status"] != "created" or stored_target(item["id"]) is None):
                m.fail(f"sync target {target}", f"{result}, expected created")
            if not allowed and (
                result["status"] != "invalid"
                or set(result["errors"]) != {field_name}
                or Visit.objects.filter(pk=item["id"]).exists()
            ):
                m.fail(f"sync target {target}", f"{result}, expected invalid {field_name}")
    # Client ids already used by other visits (and by the role's own, with another payload): 409, nothing changes.
    for name in VISITS:
        body = target_body(ev, role, villages_in(role)[0], id=ev.visits[name])
        answer = m.request(f"POST id of {name}", "post", f"{API}/visits/", 409 if role in ACTORS else 403, data=body)
        if answer is not None and role in ACTORS and answer["code"] != "conflict":
            m.fail(f"POST id of {name}", f"{answer}")
    items = [target_body(ev, role, villages_in(role)[0], id=ev.visits[name]) for name in VISITS]
    before = snapshot(ev.root)
    answer = m.request(
        "sync ids", "post", f"{API}/sync/visits/", 200 if role in ACTORS else 403, data={"visits": items}
    )
    m.cells += len(items) - 1
    if answer is not None and role in ACTORS:
        if [r["status"] for r in answer["results"]] != ["conflict"] * len(items):
            m.fail("sync ids", f"{answer['results']}")
        if snapshot(ev.root) != before:
            m.fail("sync ids", "a batch of conflicts changed the database")
    m.done(CELLS["test_visit_creates"](role))


def edit_status(role: str, name: str, success: int) -> int:
    """PATCH or DELETE of visit ``name``: bureau admins edit what they see, recorders what they recorded."""
    if role not in ADMINS and role not in ACTORS:
        return 403
    if name not in VISIBLE_VISITS[role]:
        return 404
    return success if role in ADMINS or name in RECORDED[role] else 403


def own_visit(role: str) -> str:
    if role in ACTORS:
        return sorted(RECORDED[role] - DELETED)[0]
    return "V_W1"


@pytest.mark.parametrize("role", ROLES)
def test_visit_edits(ev, role, tmp_path):
    """PATCH (moving the target in and out of scope, and editing notes) and DELETE, with the visit's ETag."""
    m = Matrix(ev, role, tmp_path)
    mine = own_visit(role)
    for target in TARGETS:
        field_name = TARGET_FIELD[target[0]]
        expected = edit_status(role, mine, 200)
        if expected == 200 and not may_read(role, target):
            expected = 400
        url = f"{API}/visits/{ev.visits[mine]}/"
        data = {field_name: ev.pk(target)}
        answer = m.request(
            f"PATCH {mine} {field_name}={target}", "patch", url, expected, data=data, headers=etag(ev, mine)
        )
        if answer is None:
            continue
        if expected == 200 and stored_target(ev.visits[mine])[1:] != expected_target(ev, target):
            m.fail(f"PATCH {mine} {field_name}={target}", f"stored {stored_target(ev.visits[mine])}")
        if expected == 400 and set(answer["fields"]) != {field_name}:
            m.fail(f"PATCH {mine} {field_name}={target}", f"refused for another reason: {answer}")
    for farmer in ATTENDEES:
        expected = edit_status(role, mine, 200)
        if expected == 200 and not may_read(role, farmer):
            expected = 400
        url = f"{API}/visits/{ev.visits[mine]}/"
        data = {"attendees": [ev.pk(farmer)]}
        answer = m.request(f"PATCH {mine} attendee {farmer}", "patch", url, expected, data=data, headers=etag(ev, mine))
        if answer is not None and expected == 200 and answer["attendees"] != [ev.pk(farmer)]:
            m.fail(f"PATCH {mine} attendee {farmer}", f"stored attendees {answer['attendees']}")
        if answer is not None and expected == 400 and set(answer["fields"]) != {"attendees.0"}:
            m.fail(f"PATCH {mine} attendee {farmer}", f"refused for another reason: {answer}")
    # Moving the point: within the county, into the other county, and back. A recorder's visit stays its own wherever
    # it was made; a bureau admin may not move one out of its jurisdiction.
    url = f"{API}/visits/{ev.visits[mine]}/"
    start = {"lat": VISITS[mine].lat, "lon": VISITS[mine].lon}
    for where, point, village in (
        ("in T2", {"lat": 30.93, "lon": 108.70}, "v2"),
        ("in Fengjie", {"lat": 31.05, "lon": 109.45}, "v9"),
        ("back", start, VISITS[mine].village),
    ):
        expected = edit_status(role, mine, 200)
        if role in ADMINS:  # not out of its own jurisdiction
            expected = 200 if VILLAGES[village].startswith(JURISDICTION[role]) else 400
        label = f"PATCH {mine} point {where}"
        fengjie = VILLAGES["v9"] + TOWNSHIPS["T9"]  # the recorder's own visit, now made there
        answer = m.request(label, "patch", url, expected, data=point, headers=etag(ev, mine), allow=fengjie)
        if answer is None:
            continue
        stored = Visit.objects.filter(pk=ev.visits[mine]).values_list("lat", "lon").get()
        if expected == 200 and stored != (point["lat"], point["lon"]):
            m.fail(label, f"stored {stored}")
        if expected == 400 and {f: e[0]["code"] for f, e in answer["fields"].items()} != {
            "lat": "outside_jurisdiction",
            "lon": "outside_jurisdiction",
        }:
            m.fail(label, f"refused for another reason: {answer}")
    for name in VISITS:
        expected = edit_status(role, name, 200)
        notes = f"改[{role}]"
        answer = m.request(
            f"PATCH {name}",
            "patch",
            f"{API}/visits/{ev.visits[name]}/",
            expected,
            data={"notes": notes},
            headers=etag(ev, name),
        )
        if answer is not None and expected == 200 and Visit.objects.get(pk=ev.visits[name]).notes != notes:
            m.fail(f"PATCH {name}", "answered 200 but the notes are unchanged")
    # Refused deletes first, so that every refusal meets the world intact.
    for name in sorted(VISITS, key=lambda n: edit_status(role, n, 204) == 204):
        expected = edit_status(role, name, 204)
        m.request(f"DELETE {name}", "delete", f"{API}/visits/{ev.visits[name]}/", expected, headers=etag(ev, name))
        deleted = Visit.objects.filter(pk=ev.visits[name], deleted_at__isnull=False).exists()
        if expected == 204 and not deleted:
            m.fail(f"DELETE {name}", "answered 204 but the visit is alive")
    m.done(CELLS["test_visit_edits"](role))


# --- photos ---------------------------------------------------------------------------------------------------


def upload_status(role: str, visit: str, success: int) -> int:
    """Adding a photo: only the recorder, to a live visit it can see."""
    if role not in ACTORS:
        return 403
    if visit not in VISIBLE_VISITS[role]:
        return 404
    return success if visit in RECORDED[role] else 403


@pytest.mark.parametrize("role", ROLES)
def test_photo_reads(ev, role, tmp_path):
    """A visit's photo list, each photo's metadata and three files, and the bureau's ZIP: scoped like the visit."""
    m = Matrix(ev, role, tmp_path)
    visible = VISIBLE_VISITS[role]
    for name in VISITS:
        body = m.request(
            f"photos of {name}", "get", f"{API}/visits/{ev.visits[name]}/photos/", 200 if name in visible else 404
        )
        if name in visible and body is not None:
            m.ids(f"photos of {name}", [p["id"] for p in body], photos_of({name}), ev.pk)
    for photo, visit in PHOTOS.items():
        expected = 200 if visit in visible else 404
        url = f"{API}/photos/{ev.photos[photo]}/"
        body = m.request(f"GET {photo}", "get", url, expected)
        if expected == 200 and body is not None and (body["id"], body["visit"]) != (ev.photos[photo], ev.visits[visit]):
            m.fail(f"GET {photo}", f"answered with {body}")
        for variant in ("original", "display", "thumbnail"):
            # An original carries the phone's EXIF GPS: not for readers of coarsened positions.
            status = 403 if expected == 200 and variant == "original" and role in COARSE_READERS else expected
            m.request(f"{variant} {photo}", "get", f"{url}{variant}/", status, parse=parse_image("image/jpeg"))
    for variant in ("original", "display"):
        expected = 200 if role in BUREAU and not (variant == "original" and role in COARSE_READERS) else 403
        rows = m.request(
            f"photo zip {variant}", "get", f"{API}/exports/photos/?variant={variant}", expected, parse=parse_zip
        )
        if expected == 200 and rows is not None:
            m.ids(f"photo zip {variant}", [row["photo"] for row in rows], photos_of(visible), ev.pk)
    m.done(CELLS["test_photo_reads"](role))


@pytest.mark.parametrize("role", ROLES)
def test_photo_uploads(ev, role, tmp_path):
    """POST to a visit and PUT by photo id, to own, sibling, out-of-county and deleted visits; and PUT of photo ids
    already stored on other visits (with their very bytes), which must never hand back or move another's photo."""
    m = Matrix(ev, role, tmp_path)
    username = ev.world.users[role].username
    for name in VISITS:
        for how in ("POST", "PUT"):
            expected = upload_status(role, name, 201)
            photo_id = str(uuid.uuid4())
            file = SimpleUploadedFile("IMG.jpg", fresh_jpeg(), content_type="image/jpeg")
            if how == "POST":
                url, data = f"{API}/visits/{ev.visits[name]}/photos/", {"id": photo_id, "file": file}
            else:
                url, data = f"{API}/photos/{photo_id}/", {"visit": ev.visits[name], "file": file}
            body = m.request(f"{how} photo to {name}", how.lower(), url, expected, data=data, fmt="multipart")
            stored = Photo.objects.filter(pk=photo_id).values_list("visit_id", "user__username").first()
            if expected == 201 and body is not None and stored != (uuid.UUID(ev.visits[name]), username):
                m.fail(f"{how} photo to {name}", f"stored {stored}")
    mine = own_visit(role)
    for photo, visit in PHOTOS.items():
        expected = 403 if role not in ACTORS else 200 if visit == mine else 409
        file = SimpleUploadedFile("IMG.jpg", ev.photo_bytes[photo], content_type="image/jpeg")
        data = {"visit": ev.visits[mine], "file": file}
        body = m.request(
            f"PUT id of {photo}", "put", f"{API}/photos/{ev.photos[photo]}/", expected, data=data, fmt="multipart"
        )
        if body is not None and expected == 200 and body["id"] != ev.photos[photo]:
            m.fail(f"PUT id of {photo}", f"answered with {body}")
        if body is not None and expected == 409 and body["code"] != "conflict":
            m.fail(f"PUT id of {photo}", f"{body}")
    m.done(CELLS["test_photo_uploads"](role))


TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def tus_patch_headers(offset: int) -> dict:
    return {**TUS, "HTTP_UPLOAD_OFFSET": str(offset), "content_type": "application/offset+octet-stream"}


@pytest.mark.parametrize("role", ROLES)
def test_resumable_uploads(ev, role, tmp_path):
    """tus creation naming own, sibling, out-of-county and deleted visits, then the bytes of each upload allowed; and
    HEAD, PATCH and DELETE of the worker's upload in progress, which only the worker may touch."""
    m = Matrix(ev, role, tmp_path)
    username = ev.world.users[role].username
    for name in VISITS:
        expected = upload_status(role, name, 201)
        data, photo_id = fresh_jpeg(), str(uuid.uuid4())
        headers = {
            **TUS,
            "HTTP_UPLOAD_LENGTH": str(len(data)),
            "HTTP_UPLOAD_METADATA": metadata_header(visit=ev.visits[name], id=photo_id),
        }
        if expected != 201:
            m.request(f"tus creation for {name}", "post", f"{API}/uploads/", expected, headers=headers)
            continue
        created = m.client.post(f"{API}/uploads/", **headers)
        m.cells += 1
        if created.status_code != 201:
            m.fail(f"tus creation for {name}", f"{created.status_code}: {created.content[:300]!r}")
            continue
        url = created["Location"].removeprefix("http://testserver")
        m.request(f"tus bytes for {name}", "patch", url, 204, data=data, fmt=None, headers=tus_patch_headers(0))
        stored = Photo.objects.filter(pk=photo_id).values_list("visit_id", "user__username").first()
        if stored != (uuid.UUID(ev.visits[name]), username):
            m.fail(f"tus bytes for {name}", f"stored {stored}")
    url = f"{API}/uploads/{ev.uploads['U_W1']}/"
    owner = role == "worker"
    head = m.client.head(url, **TUS)  # a HEAD answer has no body: its status and headers are the cell
    m.cells += 1
    if head.status_code != (200 if owner else 404) or head.has_header("Upload-Offset") != owner:
        m.fail("HEAD the worker's upload", f"{head.status_code}, Upload-Offset {head.get('Upload-Offset')}")
    writes = 204 if owner else 404 if role in ACTORS else 403
    piece = b"\xff\xd8\xff\xe0"
    m.request("PATCH the worker's upload", "patch", url, writes, data=piece, fmt=None, headers=tus_patch_headers(0))
    m.request("DELETE the worker's upload", "delete", url, writes, headers=TUS)
    m.done(CELLS["test_resumable_uploads"](role))


TAKEN_IDS = {
    "own": ("V_W1", "H1", "F1", "P_W1"),
    "sibling": ("V_W2", "H2", "F2", "P_W2"),
    "other county": ("V_W9", "H9", "F9", "P_W9"),
}


def test_taken_ids_answer_alike(ev, tmp_path):
    """A worker creating under ids already stored (its own record with another payload, a sibling's, another
    county's) gets one answer in every create path, the same for each: the id is taken, and nothing about the
    record. In a batch, only a visit the worker may read carries its version."""
    m = Matrix(ev, "worker", tmp_path)
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    village = VILLAGES["v1"]
    for whose, (visit, household, farmer, photo) in TAKEN_IDS.items():
        cases = [
            ("visit", f"{API}/visits/", target_body(ev, "worker", "v1", id=ev.visits[visit]), "json"),
            (
                "household",
                f"{API}/model-households/",
                {"id": ev.pk(household), "head_name": "陈大富", "lat": 30.95, "lon": 108.7, "village_code": village},
                "json",
            ),
            (
                "farmer",
                f"{API}/farmers/",
                {"id": ev.pk(farmer), "household": ev.pk("H1"), "name": "张三", "village_code": village},
                "json",
            ),
        ]
        for kind, url, body, fmt in cases:
            answer = m.request(f"{whose} {kind} id", "post", url, 409, data=body, fmt=fmt, headers=english)
            if answer is not None and answer != ID_TAKEN:
                m.fail(f"{whose} {kind} id", f"{answer}")
        file = SimpleUploadedFile("IMG.jpg", fresh_jpeg(), content_type="image/jpeg")
        data = {"visit": ev.visits["V_W1"], "file": file}
        url = f"{API}/photos/{ev.photos[photo]}/"
        answer = m.request(f"{whose} photo id", "put", url, 409, data=data, fmt="multipart", headers=english)
        if answer is not None and answer != ID_TAKEN:
            m.fail(f"{whose} photo id", f"{answer}")
    names = [group[0] for group in TAKEN_IDS.values()]
    items = [target_body(ev, "worker", "v1", id=ev.visits[name]) for name in names]
    answer = m.request("sync taken ids", "post", f"{API}/sync/visits/", 200, data={"visits": items})
    if answer is not None:
        for name, result in zip(names, answer["results"], strict=True):
            mine = name in VISIBLE_VISITS["worker"]
            keys = {"id", "status", "code", "errors", "version", "etag"}
            if result["status"] != "conflict" or set(result) != keys or (result["version"] is None) == mine:
                m.fail(f"sync {name}", f"{result}")
    m.done(TAKEN_ID_CELLS)


# --- exports --------------------------------------------------------------------------------------------------

EXPORT_FORMATS = {"geojson": "geojson", "gpkg": "gpkg", "shp": "zip", "kml": "kml"}


@pytest.mark.parametrize("role", ROLES)
def test_exports(ev, role, tmp_path):
    """Every GIS export in every format: bureau staff get exactly their jurisdiction's rows, others 403."""
    m = Matrix(ev, role, tmp_path)
    expected = 200 if role in BUREAU else 403
    bases = NETWORK_VISIBLE[role].get("demonstration-bases", set())
    cases = []
    for fmt, suffix in EXPORT_FORMATS.items():
        cases += [
            ("visits", f"format={fmt}", suffix, VISIBLE_VISITS[role], ev.pk),
            ("model-households", f"format={fmt}", suffix, visible_households(role), ev.pk),
            ("demonstration-bases", f"format={fmt}", suffix, bases, ev.pk),
            ("coverage", f"format={fmt}", suffix, townships_in(role), TOWNSHIPS.get),
        ]
    cases += [
        ("demonstration-bases", "format=geojson&geometry=parcel", "geojson", bases, ev.pk),
        ("coverage", "format=geojson&level=village", "geojson", villages_in(role), VILLAGES.get),
        ("coverage", "format=geojson&level=county", "geojson", counties_in(role), COUNTIES.get),
    ]
    for resource, query, suffix, names, lookup in cases:
        label = f"export {resource} {query}"
        frame = m.request(label, "get", f"{API}/exports/{resource}/?{query}", expected, parse=parse_gis(suffix))
        if expected == 200 and frame is not None:
            column = "code" if resource == "coverage" else "id"
            got = [str(int(v)) if isinstance(v, float) else str(v) for v in frame[column]] if len(frame) else []
            m.ids(label, got, names, lookup)
    # The list filters of the household and base exports, with own, sibling and out-of-county values.
    for resource, param, value in EXPORT_FILTER_CASES:
        accepted = param == "division" or may_read(role, value)
        sent = value if param == "division" else ev.pk(value)
        rows = visible_households(role) if resource == "model-households" else bases
        matching = {name for name in rows if export_row_matches(name, param, value)}
        status = (200 if accepted else 400) if role in BUREAU else 403
        label = f"export {resource} {param}={value}"
        url = f"{API}/exports/{resource}/?format=geojson&{param}={sent}"
        body = m.request(label, "get", url, status)
        if body is not None and status == 200:
            m.ids(label, feature_ids_props(body), matching, ev.pk)
        elif body is not None and status == 400 and set(body["fields"]) != {param}:
            m.fail(label, f"refused for the wrong field: {body}")
    m.done(CELLS["test_exports"](role))


EXPORT_FILTER_CASES = (
    [("model-households", "worker", k) for k in ("W1", "W2", "W3", "W9", "W8")]
    + [(resource, "village", k) for resource in ("model-households", "demonstration-bases") for k in VILLAGES]
    + [
        (resource, "division", k)
        for resource in ("model-households", "demonstration-bases")
        for k in ("500235001", "500235002", "500236", "500101")
    ]
)
BASE_VILLAGE = {"B1": "v1", "B2": "v2", "B9": "v9", "B8": "v8"}


def export_row_matches(name: str, param: str, value: str) -> bool:
    village = HOUSEHOLD_VILLAGE[name] if name.startswith("H") else BASE_VILLAGE[name]
    if param == "worker":
        return f"W{name[1:]}" == value
    if param == "village":
        return village == value
    return VILLAGES[village].startswith(value)


# --- coverage, indicators and the network summary -------------------------------------------------------------


def cells_of(visits, resolution: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in visits:
        cell = h3.latlng_to_cell(VISITS[name].lat, VISITS[name].lon, resolution)
        out[cell] = out.get(cell, 0) + 1
    return out


def division_figures(role: str, level: str) -> dict[str, tuple]:
    """code -> (visits, households, households visited) of the role's slice, by where the visits happened and
    where the households are registered."""
    units = {"village": villages_in, "township": townships_in, "county": counties_in}[level](role)
    code_of = {"village": VILLAGES, "township": TOWNSHIPS, "county": COUNTIES}[level].get
    place = {
        "village": lambda village: village,
        "township": lambda village: TOWNSHIPS_BY_CODE[township_of(village)],
        "county": lambda village: COUNTIES_BY_CODE[VILLAGES[village][:6] + "000000"],
    }[level]
    out = {}
    for unit in units:
        visits = sum(1 for v in slice_of(role) if place(VISITS[v].village) == unit)
        homes = {h for h in visible_households(role) if place(HOUSEHOLD_VILLAGE[h]) == unit}
        out[code_of(unit)] = (visits, len(homes), len(homes & visited_households(role)))
    return out


TOWNSHIPS_BY_CODE = {code: key for key, code in TOWNSHIPS.items()}
COUNTIES_BY_CODE = {code: key for key, code in COUNTIES.items()}


def indicator_totals(role: str) -> dict[str, int]:
    visits = [VISITS[v] for v in slice_of(role)]
    trainings = [v for v in visits if v.kind == "training"]
    return {
        "village_visits": len(visits),
        "trainings": len(trainings),
        "training_attendance": sum(v.participants for v in trainings),
        "new_varieties": len({n for v in visits if v.kind == "new_variety" for n in v.introduced}),
    }


def indicator_townships(role: str) -> set[str]:
    return {TOWNSHIPS[t] for t in townships_in(role)}


def network_counts(role: str) -> dict:
    """industry -> (experts, workers, households, farmers) the role may read, and its bases and commissioners."""
    visible = NETWORK_VISIBLE[role]
    industry_of = {
        **INDUSTRY,
        **{w: INDUSTRY[e] for w, e in EXPERT_OF.items()},
        **{f"H{w[1]}": INDUSTRY[e] for w, e in EXPERT_OF.items()},
        **{f"F{w[1]}": INDUSTRY[e] for w, e in EXPERT_OF.items()},
    }
    counts = {}
    for industry in ("citrus", "goats"):
        counts[industry] = tuple(
            sum(1 for k in visible.get(endpoint, set()) if industry_of[k] == industry)
            for endpoint in ("experts", "extension-workers", "model-households", "farmers")
        )
    counts["bases"] = len(visible.get("demonstration-bases", set()))
    counts["commissioners"] = len(visible.get("tech-commissioners", set()))
    return counts


@pytest.mark.parametrize("role", ROLES)
def test_coverage_and_indicators(ev, role, tmp_path):
    """Coverage by division, hexagons, gaps, station service areas, the PNG map, the plan's indicators (JSON, XLSX,
    CSV) and the network summary: each counts the role's slice and names nothing outside it. Station managers have
    no slice (403). Bureau viewers' positions are coarsened: only their scope is asserted, never a position."""
    m = Matrix(ev, role, tmp_path)
    ok = 200 if role in COVERAGE_ROLES else 403
    for level in ("county", "township", "village"):
        expected = division_figures(role, level) if ok == 200 else {}
        for fmt in ("geojson", "json"):
            label = f"coverage {level} {fmt}"
            body = m.request(label, "get", f"{API}/coverage/divisions/?level={level}&format={fmt}", ok)
            if body is None or ok != 200:
                continue
            got = {
                ft["id"]: (
                    ft["properties"]["visits"],
                    ft["properties"]["households"],
                    ft["properties"]["households_visited"],
                )
                for ft in body["features"]
            }
            if got != expected:
                m.fail(label, f"{got}, expected {expected}")
    for resolution in (5, 7, 9):
        label = f"hexagons r{resolution}"
        body = m.request(label, "get", f"{API}/coverage/hexagons/?resolution={resolution}", ok)
        if body is None or ok != 200:
            continue
        answered = {ft["properties"]["resolution"] for ft in body["features"]} or {resolution}
        if len(answered) != 1 or (role not in VIEWERS and answered != {resolution}) or max(answered) > resolution:
            m.fail(label, f"answered at resolution {answered}")
            continue
        got = {ft["id"]: ft["properties"]["visits"] for ft in body["features"]}
        if got != cells_of(slice_of(role), answered.pop()):
            m.fail(label, f"{got}, expected the cells of {sorted(slice_of(role))}")
    gap_households = visible_households(role) - visited_households(role)
    visited_villages = {VISITS[v].village for v in slice_of(role)}
    gap_villages = {VILLAGES[v] for v in villages_in(role) if v not in visited_villages}
    body = m.request("gaps json", "get", f"{API}/coverage/gaps/?days=30", ok)
    if body is not None and ok == 200:
        m.ids("gaps households", [h["id"] for h in body["households"]], gap_households, ev.pk)
        if {v["code"] for v in body["villages"]} != gap_villages:
            m.fail("gaps villages", f"{[v['code'] for v in body['villages']]}, expected {sorted(gap_villages)}")
    body = m.request("gaps geojson", "get", f"{API}/coverage/gaps/?days=30&format=geojson", ok)
    if body is not None and ok == 200:
        kinds = {
            kind: [ft["id"] for ft in body["features"] if ft["properties"]["kind"] == kind]
            for kind in ("household", "village")
        }
        m.ids("gaps geojson households", kinds["household"], gap_households, ev.pk)
        if set(kinds["village"]) != gap_villages:
            m.fail("gaps geojson villages", f"{kinds['village']}, expected {sorted(gap_villages)}")
    for fmt, parse in (("xlsx", parse_xlsx), ("csv", parse_csv)):
        label = f"gaps {fmt}"
        rows = m.request(
            label, "get", f"{API}/coverage/gaps/?days=30&format={fmt}", ok, parse=parse if ok == 200 else None
        )
        if rows is None or ok != 200:
            continue
        m.ids(label, [row[1] for row in rows if row and row[0] == "示范户"], gap_households, ev.pk)
        if {str(row[1]) for row in rows if row and row[0] == "村"} != gap_villages:
            m.fail(
                label, f"villages {[row[1] for row in rows if row and row[0] == '村']}, expected {sorted(gap_villages)}"
            )
    for station in ("S1", "S2", "S9", "S8"):
        expected = 404 if not may_read(role, station) else ok
        label = f"service area {station}"
        body = m.request(label, "get", f"{API}/stations/{ev.pk(station)}/service-area/?radius_km=20", expected)
        if body is not None and expected == 200:
            # Every household (H9 too) is registered at the station's point: only scope keeps one out.
            m.ids(label, [h["id"] for h in body["items"]], visible_households(role), ev.pk)
            if body["station"]["id"] != ev.pk(station):
                m.fail(label, f"answered for station {body['station']}")
    for level in ("township", "village"):
        m.request(
            f"map.png {level}",
            "get",
            f"{API}/coverage/map.png?level={level}",
            ok,
            parse=parse_png if ok == 200 else None,
        )

    totals = indicator_totals(role)
    body = m.request("indicators json", "get", f"{API}/indicators/?year={ev.year}", ok)
    if body is not None and ok == 200:
        by_code = {ind["code"]: ind for ind in body["indicators"]}
        got = {code: by_code[code]["value"] for code in totals}
        if got != totals:
            m.fail("indicators json", f"{got}, expected {totals}")
        for code, ind in by_code.items():
            if {row["code"] for row in ind["by_township"]} != indicator_townships(role):
                m.fail("indicators json", f"{code} by township: {[row['code'] for row in ind['by_township']]}")
            if {row["code"] for row in ind["by_county"]} != indicator_counties(role):
                m.fail("indicators json", f"{code} by county: {[row['code'] for row in ind['by_county']]}")
        # The plan's targets are a county's: a wider slice's are scaled by its counties.
        n_counties = len(indicator_counties(role))
        if by_code["village_visits"]["target"] != 360 * n_counties:
            m.fail("indicators json", f"village visits target {by_code['village_visits']['target']}")
    for fmt, parse in (("xlsx", parse_xlsx), ("csv", parse_csv)):
        label = f"indicators {fmt}"
        rows = m.request(
            label, "get", f"{API}/indicators/?year={ev.year}&format={fmt}", ok, parse=parse if ok == 200 else None
        )
        if rows is None or ok != 200:
            continue
        # Trailing empty cells are not stored in a workbook: pad every row to the table's width.
        table = [[*row, *[None] * 12][:12] for row in rows if row and row[0] in INDICATOR_CODES]
        got = {row[0]: int(float(row[6])) for row in table if row[3] == "合计" and row[0] in totals}
        if got != totals:
            m.fail(label, f"{got}, expected {totals}")
        townships = {str(row[4]) for row in table if row[3] == "乡镇"}
        if townships != indicator_townships(role):
            m.fail(label, f"townships {sorted(townships)}, expected {sorted(indicator_townships(role))}")

    body = m.request("indicators monthly", "get", f"{API}/indicators/monthly/?year={ev.year}", ok)
    if body is not None and ok == 200:
        got = (body["total"]["visits"], sum(month["visits"] for month in body["months"]), body["total"]["trainings"])
        if got != (totals["village_visits"], totals["village_visits"], totals["trainings"]):
            m.fail("indicators monthly", f"{got}, expected the year's {totals}")
    rows = m.request(
        "indicators monthly csv",
        "get",
        f"{API}/indicators/monthly/?year={ev.year}&format=csv",
        ok,
        parse=parse_csv if ok == 200 else None,
    )
    if rows is not None and ok == 200 and rows[-1][1] != str(totals["village_visits"]):
        m.fail("indicators monthly csv", f"year row {rows[-1]}, expected {totals['village_visits']} visits")

    body = m.request("network summary", "get", f"{API}/network/summary/?year={ev.year}", 200)
    if body is not None:
        counts = network_counts(role)
        got = {
            row["industry"]["code"]: tuple(row[k]["value"] for k in ("experts", "workers", "households", "farmers"))
            for row in body["industries"]
        }
        got.update(bases=body["bases"]["value"], commissioners=body["commissioners_in_service"]["value"])
        if got != counts:
            m.fail("network summary", f"{got}, expected {counts}")
    m.done(CELLS["test_coverage_and_indicators"](role))


INDICATOR_CODES = (
    "commissioners_in_service",
    "experts_per_industry",
    "workers_per_expert",
    "township_worker_share",
    "households_per_worker",
    "farmers_per_household",
    "bases",
    "field_schools",
    "village_visits",
    "trainings",
    "training_attendance",
    "new_varieties",
    "new_techniques",
)


# --- personal data, accounts and devices ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_farmer_reveal(ev, role, tmp_path):
    """Unmasking a farmer's phone and ID number: bureau admins only, in their jurisdiction, and always audited."""
    m = Matrix(ev, role, tmp_path)
    for farmer in ("F1", "F2", "F3", "F9", "F8"):
        expected = 403 if role not in ADMINS else 200 if may_read(role, farmer) else 404
        before = PersonalDataAccess.objects.count()
        url = f"{API}/farmers/{ev.pk(farmer)}/reveal/"
        body = m.request(f"reveal {farmer}", "post", url, expected, data={"reason": "核实"})
        if body is not None and expected == 200:
            if body["id"] != ev.pk(farmer) or body["phone"] != ev[farmer].phone:
                m.fail(f"reveal {farmer}", f"answered {body}")
            audited = PersonalDataAccess.objects.filter(user=ev.world.users[role], farmer=ev[farmer]).count()
            if (PersonalDataAccess.objects.count(), audited) != (before + 1, 1):
                m.fail(f"reveal {farmer}", "not audited exactly once")
    m.done(CELLS["test_farmer_reveal"](role))


def token_keys(user) -> set[str]:
    return set(DeviceToken.objects.filter(user=user).values_list("token_key", flat=True))


def others(ev: Evidence, user):
    """Every other account's tokens and credentials: what no self-service call may touch."""
    tokens = tuple(DeviceToken.objects.exclude(user=user).order_by("digest").values_list("digest", "user_id"))
    accounts = tuple(User.objects.exclude(pk=user.pk).order_by("pk").values_list("pk", "password", "role"))
    return tokens, accounts


@pytest.mark.parametrize("role", ROLES)
def test_accounts_and_devices(ev, role, tmp_path):
    """/me/, the device list and revocation, password change, logout and login: each touches only the caller's own
    account; another account's token is 404 like an unknown one."""
    users = ev.world.users
    for name in ROLES:  # every account has a device of its own
        login(users[name], device=f"{name} phone")
    user = users[role]
    m = Matrix(ev, role, tmp_path)  # logs in once more: the current device
    spare = login(user, device="spare phone")  # a second device of the role, to revoke
    spare_key = DeviceToken.objects.filter(user=user, device="spare phone").values_list("token_key", flat=True).get()
    body = m.request("me", "get", f"{API}/me/", 200)
    if body is not None and (body["username"], body["role"], body["jurisdiction"]) != (
        user.username,
        user.role,
        JURISDICTION[role],
    ):
        m.fail("me", f"{body}")
    body = m.request("devices", "get", f"{API}/auth/devices/?page_size=100", 200)
    if body is not None and {d["token_key"] for d in body["results"]} != token_keys(user):
        m.fail("devices", f"lists {[d['token_key'] for d in body['results']]}, own {token_keys(user)}")
    foreign = sorted(DeviceToken.objects.exclude(user=user).values_list("token_key", flat=True))
    for key in foreign:
        m.request(f"revoke foreign {key}", "delete", f"{API}/auth/devices/{key}/", 404)
    before = others(ev, user)
    m.request("revoke own spare", "delete", f"{API}/auth/devices/{spare_key}/", 204)
    if spare_key in token_keys(user) or spare.get(f"{API}/me/").status_code != 401:
        m.fail("revoke own spare", "the spare device still works")
    new_password = "柑橘-溃疡病-防治-2026"
    data = {"old_password": f.PASSWORD, "new_password": new_password}
    m.request("password", "post", f"{API}/auth/password/", 204, data=data)
    m.request("logout-all", "post", f"{API}/auth/logout-all/", 204, data={})
    if token_keys(user):
        m.fail("logout-all", "own tokens remain")
    # Log in again with the new password (anonymously), then out: only this device's token comes and goes.
    anonymous = Matrix(ev, role, tmp_path, client=APIClient())
    credentials = {"username": user.username, "password": new_password, "device": "new phone"}
    body = anonymous.request("login", "post", f"{API}/auth/login/", 200, data=credentials)
    if body is not None:
        if body["user"]["username"] != user.username or DeviceToken.objects.filter(user=user).count() != 1:
            m.fail("login", f"{body['user']}")
        anonymous.client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
        anonymous.request("logout", "post", f"{API}/auth/logout/", 204, data={})
        if token_keys(user):
            m.fail("logout", "the token remains")
    m.cells += anonymous.cells
    m.failures += anonymous.failures
    if others(ev, user) != before:
        m.fail("self-service", "another account's token or password changed")
    assert len(foreign) == FOREIGN_TOKENS[role]
    m.done(CELLS["test_accounts_and_devices"](role))


# Tokens of other accounts when the role's device list is read: the eight recorders' (tests' fixture) and one per
# matrix account; two of them are the role's own when it records visits.
FOREIGN_TOKENS = {role: len(RECORDERS) + len(ROLES) - (2 if role in RECORDERS else 1) for role in ROLES}


# --- reference data and PUT on the network --------------------------------------------------------------------

DIVISION_CODES = {
    "500000000000",
    "500100000000",
    "500200000000",
    *COUNTIES.values(),
    *TOWNSHIPS.values(),
    *VILLAGES.values(),
}


def divisions_visible(role: str) -> set[str]:
    jurisdiction = JURISDICTION[role]
    ancestors = {(jurisdiction[:n] + "0" * 12)[:12] for n in (2, 4, 6, 9) if n < len(jurisdiction)}
    return {code for code in DIVISION_CODES if code.startswith(jurisdiction)} | ancestors


def immutable_refusal(m: Matrix, label: str, body, field_name: str = "code") -> None:
    """A write that changes a code phones store: 400, and the field's error says the code is immutable."""
    if body is None:
        return
    errors = body["fields"].get(field_name) or [{}]
    if body["code"] != "invalid" or errors[0].get("code") != IMMUTABLE_CODE:
        m.fail(label, f"refused for another reason: {body}")


@pytest.mark.parametrize("role", ROLES)
def test_reference_data(ev, role, tmp_path):
    """Industries are shared by every county: everyone reads them, only an installation-wide admin writes them (no
    matrix role is one: a county's bureau admin gets 403). Divisions: read within the jurisdiction (and its
    ancestors); bureau admins write inside it, the ancestors are another's (403), nothing outside answers but 404/400,
    and a division's code never changes."""
    m = Matrix(ev, role, tmp_path)
    admin = role in ADMINS
    writer = role in INDUSTRY_WRITERS
    Industry.objects.create(code="tea", name="茶叶", sort_order=9)
    body = m.request("industries", "get", f"{API}/industries/?page_size=100", 200)
    if body is not None and {i["code"] for i in body["results"]} != {"citrus", "goats", "tea"}:
        m.fail("industries", f"{body}")
    m.request("industry citrus", "get", f"{API}/industries/citrus/", 200)
    new = {"code": "pigs", "name": "生猪", "sort_order": 5}
    m.request("POST industry", "post", f"{API}/industries/", 201 if writer else 403, data=new)
    goats = {"code": "goats", "name": "黑山羊", "sort_order": 2}
    m.request("PUT industry", "put", f"{API}/industries/goats/", 200 if writer else 403, data=goats)
    m.request("PATCH industry", "patch", f"{API}/industries/citrus/", 200 if writer else 403, data={"name": "柑桔"})
    recode = {"code": "citrus-fj"}
    m.request("PATCH industry code", "patch", f"{API}/industries/citrus/", 400 if writer else 403, data=recode)
    m.request("DELETE industry", "delete", f"{API}/industries/tea/", 204 if writer else 403)

    body = m.request("divisions", "get", f"{API}/divisions/?page_size=100", 200)
    if body is not None and {d["code"] for d in body["results"]} != divisions_visible(role):
        m.fail("divisions", f"{sorted(d['code'] for d in body['results'])}")
    inside = VILLAGES["v1b"] if JURISDICTION[role] != "500235002" else VILLAGES["v2"]
    # A village outside the jurisdiction: Fengjie's, else Wanzhou's, else (the province's) one that no one has.
    outside = next((code for code in (VILLAGES["v9"], VILLAGES["v8"]) if not code.startswith(JURISDICTION[role])), None)
    outside = outside or "510101001001"
    for code in (inside, outside):
        expected = 200 if code.startswith(JURISDICTION[role]) else 404
        m.request(f"division {code}", "get", f"{API}/divisions/{code}/", expected)
        m.request(f"boundary {code}", "get", f"{API}/divisions/{code}/boundary/", expected)
    # Writes: bureau admins only; a code outside the jurisdiction is refused, an existing one there is not found.
    township = inside[:9] + "000"
    created = {"code": township[:9] + "009", "name": "新村", "level": "village", "parent": township}
    m.request("POST division inside", "post", f"{API}/divisions/", 201 if admin else 403, data=created)
    foreign = {"code": outside[:9] + "009", "name": "新村", "level": "village", "parent": outside[:9] + "000"}
    body = m.request("POST division outside", "post", f"{API}/divisions/", 400 if admin else 403, data=foreign)
    # Its parent is out of scope, so "does not exist", exactly as an unknown code would be.
    if admin and body is not None and [e["code"] for e in body["fields"].get("parent", [])] != ["does_not_exist"]:
        m.fail("POST division outside", f"{body}")
    for code in (inside, outside):
        expected = (200 if code == inside else 404) if admin else 403
        full = {"code": code, "name": "改名", "level": "village", "parent": code[:9] + "000"}
        m.request(f"PUT division {code}", "put", f"{API}/divisions/{code}/", expected, data=full)
        m.request(f"PATCH division {code}", "patch", f"{API}/divisions/{code}/", expected, data={"name": "再改"})
    recode = {"code": inside[:9] + "008"}
    body = m.request("PATCH division code", "patch", f"{API}/divisions/{inside}/", 400 if admin else 403, data=recode)
    if admin:
        immutable_refusal(m, "PATCH division code", body)
    # The city above the county is read by everyone in it and written by none of them; the province's admin owns it
    # (it cannot delete it while its counties are stored).
    city = DIVISION_ANCESTORS["city"]
    owner = admin and city.startswith(JURISDICTION[role])
    m.request("PATCH ancestor", "patch", f"{API}/divisions/{city}/", 200 if owner else 403, data={"name": "改名"})
    body = m.request("DELETE ancestor", "delete", f"{API}/divisions/{city}/", 409 if owner else 403)
    if owner and body is not None and body["code"] != "protected":
        m.fail("DELETE ancestor", f"{body}")
    target = created["code"] if admin else inside
    m.request("DELETE division inside", "delete", f"{API}/divisions/{target}/", 204 if admin else 403)
    m.request("DELETE division outside", "delete", f"{API}/divisions/{outside}/", 404 if admin else 403)
    m.done(CELLS["test_reference_data"](role))


def test_reference_data_owners(ev, tmp_path):
    """The owner of what every county shares. A county's bureau admin (Fengjie's) cannot recode the industry that
    another county's phones send, or rename it; the installation-wide admin writes industries and the ancestors, but
    never changes a code. Afterwards a Yunyang worker's push naming ``citrus`` is still stored."""
    cells = 0
    for name, (role, jurisdiction) in REFERENCE_OWNERS.items():
        user = f.UserFactory(username=name, role=role, jurisdiction=jurisdiction)
        m = Matrix(ev, "admin", tmp_path, client=login(user))  # its bodies hold industries and Chongqing's rows only
        writer = name in INDUSTRY_WRITERS
        Industry.objects.get_or_create(code="tea", defaults={"name": "茶叶", "sort_order": 9})
        recode = {"code": "citrus-fj"}
        url = f"{API}/industries/citrus/"
        body = m.request(f"{name} PATCH code", "patch", url, 400 if writer else 403, data=recode)
        if writer:
            immutable_refusal(m, f"{name} PATCH code", body)
        full = {"code": "citrus-fj", "name": "柑橘", "sort_order": 1}
        body = m.request(f"{name} PUT code", "put", url, 400 if writer else 403, data=full)
        if writer:
            immutable_refusal(m, f"{name} PUT code", body)
        m.request(f"{name} PATCH name", "patch", url, 200 if writer else 403, data={"name": "柑桔"})
        new = {"code": f"pigs-{name}", "name": f"生猪{name}", "sort_order": 5}
        m.request(f"{name} POST", "post", f"{API}/industries/", 201 if writer else 403, data=new)
        m.request(f"{name} DELETE", "delete", f"{API}/industries/tea/", 204 if writer else 403)
        province = DIVISION_ANCESTORS["province"]
        expected = 200 if writer else 403
        m.request(f"{name} PATCH province", "patch", f"{API}/divisions/{province}/", expected, data={"name": "重庆"})
        assert not m.failures, f"{name}: {len(m.failures)} failing cells:\n  " + "\n  ".join(m.failures)
        cells += m.cells
    assert Industry.objects.filter(code="citrus").exists()
    m = Matrix(ev, "worker", tmp_path)
    m.request("worker pushes citrus", "post", f"{API}/visits/", 201, data=visit_body(ev, "V_W1"))
    m.done(1)
    assert cells + m.cells == OWNER_CELLS


@pytest.mark.parametrize("role", ROLES)
def test_network_put(ev, role, tmp_path):
    """PUT (the network matrix covers PATCH) on every network object with its full representation: the same rules."""
    root = login(f.UserFactory(username="root", role=Role.BUREAU_ADMIN, jurisdiction="", is_superuser=True))
    m = Matrix(ev, role, tmp_path)
    permitted = WRITE_ACTIONS.get(role, {})
    for endpoint, (model, name_field, names) in ENDPOINTS.items():
        for name in names:
            url = f"{API}/{endpoint}/{ev.world[name].pk}/"
            body = root.get(url).json()
            body[name_field] = f"PUT[{name}]"
            if name in WRITABLE.get(role, set()):
                expected = 200
            else:
                expected = 404 if "update" in permitted.get(endpoint, set()) else 403
            m.request(f"PUT {name}", "put", url, expected, data=body, headers={"HTTP_IF_MATCH": "*"})
            stored = model.objects.filter(pk=ev.world[name].pk).values_list(name_field, flat=True).get()
            if expected == 200 and stored != f"PUT[{name}]":
                m.fail(f"PUT {name}", f"stored {stored!r}")
    m.done(CELLS["test_network_put"](role))


@pytest.mark.parametrize("role", ROLES)
def test_expert_network_tree(ev, role, tmp_path):
    """An expert's tree shows only the workers and households the caller may read (the network matrix checks the
    status codes of three roles; this checks every role and the body)."""
    m = Matrix(ev, role, tmp_path)
    for expert in ("E1", "E2", "E9", "E8"):
        expected = 200 if may_read(role, expert) else 404
        body = m.request(f"network {expert}", "get", f"{API}/experts/{ev.pk(expert)}/network/", expected)
        if body is None or expected != 200:
            continue
        team = {w for w, e in EXPERT_OF.items() if e == expert and may_read(role, w)}
        homes = {f"H{w[1:]}" for w in team} & visible_households(role)
        m.ids(f"network {expert} workers", [w["id"] for w in body["workers"]], team, ev.pk)
        nodes = [h["id"] for w in body["workers"] for h in w["household_nodes"]]
        m.ids(f"network {expert} households", nodes, homes, ev.pk)
        if (body["counts"]["workers"], body["counts"]["households"]) != (len(team), len(homes)):
            m.fail(f"network {expert}", f"counts {body['counts']}")
    m.done(CELLS["test_expert_network_tree"](role))


# --- anonymous ------------------------------------------------------------------------------------------------

# The world object each resource's path parameter names, so that a view answering without authentication would
# answer with real data.
PATH_OBJECTS = {
    "visits": "V_W1",
    "photos": "P_W1",
    "uploads": "U_W1",
    "experts": "E1",
    "extension-workers": "W1",
    "tech-commissioners": "C1",
    "model-households": "H1",
    "farmers": "F1",
    "stations": "S1",
    "demonstration-bases": "B1",
    "field-schools": "FS1",
    "divisions": "v1",
}


def filled(ev: Evidence, path: str) -> str:
    def value(match):
        resource = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if resource == "industries":
            return "citrus"
        if resource == "jobs":
            return str(uuid.uuid4())
        if resource == "devices":
            return DeviceToken.objects.filter(user=ev.world.users["worker"]).values_list("token_key", flat=True)[0]
        return str(ev.pk(PATH_OBJECTS[resource]))

    return re.sub(r"\{[a-z_]+\}", value, path)


def test_anonymous_is_refused_everywhere(ev, tmp_path):
    """Every operation of the schema without a token: 401 and nothing changed (logging in: 400 without a body; the
    health check: 200, with nothing in it but "ok")."""
    m = Matrix(ev, "anonymous", tmp_path, client=APIClient())
    for operation in sorted(OPERATIONS):
        method, path = operation.split(" ")
        expected = {f"{API}/auth/login/": 400, f"{API}/health/": 200}.get(path, 401)
        body = m.request(f"anonymous {operation}", method.lower(), filled(ev, path), expected, data={})
        if body is not None and expected == 401 and body["code"] != "not_authenticated":
            m.fail(f"anonymous {operation}", f"{body}")
        if body is not None and expected == 200 and body != {"status": "ok", "database": "ok"}:
            m.fail(f"anonymous {operation}", f"a public answer with more than its status: {body}")
    m.done(anonymous_cells())


# --- exports as jobs -------------------------------------------------------------------------------------------

JOB_EXPORTS = {
    "visits": "format=geojson",
    "model-households": "format=gpkg",
    "demonstration-bases": "format=kml",
    "coverage": "format=shp",
    "photos": "variant=display",
}


@pytest.mark.parametrize("role", ROLES)
def test_export_jobs(ev, role, tmp_path, job_root):
    """Every export started as a job: 202 for bureau staff (403 for others, and nothing kept); the job's file holds
    exactly the role's rows; another account's job and its file are 404; the list holds one's own jobs only."""
    m = Matrix(ev, role, tmp_path)
    bureau = role in BUREAU
    foreign = Job.objects.create(
        owner=ev.world.users["viewer" if role == "admin" else "admin"], kind="export-visits", parameters={}
    )
    started = {}
    for resource, query in JOB_EXPORTS.items():
        label = f"export job {resource}"
        body = m.request(label, "post", f"{API}/exports/{resource}/?{query}", 202 if bureau else 403, write=True)
        if bureau and body is not None:
            started[resource] = body["url"]
    run_embedded_worker()
    listed = m.request("job list", "get", f"{API}/jobs/", 200)
    if listed is not None and sorted(j["url"] for j in listed["results"]) != sorted(started.values()):
        m.fail("job list", f"{[j['url'] for j in listed['results']]} is not the role's own jobs")
    m.request("another account's job", "get", f"{API}/jobs/{foreign.pk}/", 404)
    m.request("another account's job file", "get", f"{API}/jobs/{foreign.pk}/file/", 404)
    if bureau and "visits" in started:
        job = m.client.get(started["visits"]).json()
        frame = m.request("visits job file", "get", job["file_url"] or "-", 200, parse=parse_gis("geojson"))
        if frame is not None:
            m.ids("visits job file", [str(v) for v in frame["id"]], VISIBLE_VISITS[role], ev.pk)
    m.done(CELLS["test_export_jobs"](role))


# --- the matrix's size ----------------------------------------------------------------------------------------

CELLS = {
    "test_visit_reads": lambda role: 3 + 2 * len(VISITS),
    "test_visit_filters": lambda role: 4 * len(FILTER_CASES),
    "test_visit_creates": lambda role: 2 * len(TARGETS) + len(ATTENDEES) + 2 * len(VISITS),
    "test_visit_edits": lambda role: len(TARGETS) + len(ATTENDEES) + 3 + 2 * len(VISITS),
    "test_photo_reads": lambda role: len(VISITS) + 4 * len(PHOTOS) + 2,
    "test_photo_uploads": lambda role: 2 * len(VISITS) + len(PHOTOS),
    "test_resumable_uploads": lambda role: len(VISITS) + sum(upload_status(role, n, 201) == 201 for n in VISITS) + 3,
    "test_exports": lambda role: 4 * len(EXPORT_FORMATS) + 3 + len(EXPORT_FILTER_CASES),
    "test_export_jobs": lambda role: len(JOB_EXPORTS) + 3 + (role in BUREAU),
    "test_coverage_and_indicators": lambda role: 6 + 3 + 4 + 4 + 2 + 3 + 2 + 1,
    "test_farmer_reveal": lambda role: 5,
    "test_accounts_and_devices": lambda role: FOREIGN_TOKENS[role] + 7,
    "test_reference_data": lambda role: 7 + 1 + 4 + 2 + 4 + 1 + 2 + 2,
    "test_expert_network_tree": lambda role: 4,
    "test_network_put": lambda role: sum(len(names) for _, _, names in ENDPOINTS.values()),
    "test_sync_reads": lambda role: 1,
    "test_family_locations": lambda role: 12,
}
# 8 roles' cells, the reference data owners' and the anonymous client's; test_matrix_size prints them per test
TOTAL_CELLS = 5910


# test_taken_ids_answer_alike: four creates for each of three owners, and one batch.
TAKEN_ID_CELLS = 4 * len(TAKEN_IDS) + 1
# test_reference_data_owners: six cells for each owner account, and the worker's push.
OWNER_CELLS = 6 * len(REFERENCE_OWNERS) + 1


def anonymous_cells() -> int:
    return len(OPERATIONS)


def test_matrix_size(capsys):
    per_test = {name: sum(count(role) for role in ROLES) for name, count in CELLS.items()}
    per_test["test_anonymous_is_refused_everywhere"] = anonymous_cells()
    per_test["test_reference_data_owners"] = OWNER_CELLS
    per_test["test_taken_ids_answer_alike"] = TAKEN_ID_CELLS
    total = sum(per_test.values())
    with capsys.disabled():
        print(f"\nauthorization matrix (visits, photos, exports, coverage, ...): {total} cells, {len(ROLES)} roles")
        for name, n in per_test.items():
            print(f"  {name}: {n}")
    assert total == TOTAL_CELLS
