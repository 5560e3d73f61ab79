"""Authorization matrix: every role x every scoped endpoint x own, sibling, out-of-county and out-of-city objects.

The expected outcomes are the INTENDED rules, written out as explicit tables in ``matrix_support.py`` (``VISIBLE``,
``WRITABLE``, ``DELETABLE``, ``WRITE_ACTIONS``, shared with ``test_authorization_matrix_visits.py``); nothing is
derived from the app's querysets or ``write_roles``. A cell is one request checked against the table; every refused
write is also checked in the database (row still there, field unchanged) and must never be a 5xx.

The world is the shared two-county one with a district of Chongqing's other city (``add_other_city``: Wanzhou,
whose objects end in 8), and the roles are the eight county-level ones plus the province's bureau admin (``50``) and
the viewer of Chongqing's counties (``5002``), who reads Yunyang and Fengjie but not Wanzhou (``NETWORK_ROLES``).

Cells covered (10 roles, 8 endpoints, 35 world objects across those endpoints):

- reads: 10 roles x (8 list requests + 35 detail requests)                                = 430
- writes: 10 roles x (35 PATCH + 35 DELETE) + 62 refused POSTs (every role x endpoint
  without create permission, plus the admins' POSTs to field-schools, which has no create route) = 762
- writable foreign keys pointing out of scope (10 POSTs + 1 PATCH, each with an in-scope control) =  11
- list filters probing out-of-scope ids                                                   =   4
- divisions: 4 lists + 11 out-of-jurisdiction details                                     =  15
- network tree: 5 roles x 4 experts (own, sibling, out of county, out of city)            =  20

1,242 cells in all, reported as 160 role x endpoint tests plus 50 single-purpose tests (210).
"""

import uuid

import pytest

from tests.security.matrix_support import (
    API,
    DELETABLE,
    NETWORK_ENDPOINTS,
    NETWORK_ROLES,
    NO_ROUTE,
    VISIBLE,
    WRITABLE,
    WRITE_ACTIONS,
)
from tests.support import add_other_city, build_world, login

ENDPOINTS = NETWORK_ENDPOINTS
ROLES = NETWORK_ROLES


@pytest.fixture
def world(db):
    """The shared world with a district of Chongqing's other city and the province's and a city's accounts."""
    return add_other_city(build_world())


def _ids(world, names):
    return {str(world[name].pk): name for name in names}


def _field_value(model, pk, field):
    return model.objects.filter(pk=pk).values_list(field, flat=True).first()


def _refusal(role, endpoint, action):
    """The statuses a refused write may answer: 404 when the role may do this here at all, else 403."""
    permitted = action in WRITE_ACTIONS.get(role, {}).get(endpoint, set())
    if permitted and (endpoint, action) in NO_ROUTE:
        return {405}
    return {404} if permitted else {403, 404}


def _cells():
    return [pytest.param(role, endpoint, id=f"{role}-{endpoint}") for role in ROLES for endpoint in ENDPOINTS]


@pytest.mark.parametrize(("role", "endpoint"), _cells())
def test_reads(world, role, endpoint):
    """The list is exactly the visible set; detail is 200 inside it and 404 (never 403 or 200) outside it."""
    client = login(world.users[role])
    _model, _field, names = ENDPOINTS[endpoint]
    expected = VISIBLE[role].get(endpoint, set())
    by_id = _ids(world, names)
    failures = []

    response = client.get(f"{API}/{endpoint}/?page_size=500")
    assert response.status_code == 200, response.content
    body = response.json()
    got = [str(row["id"]) for row in body["results"]]
    got_names = sorted(by_id.get(pk, f"<unknown {pk}>") for pk in got)
    if len(got) != len(set(got)):
        failures.append(f"list has duplicate rows: {got_names}")
    if set(got_names) != expected:
        failures.append(f"list returned {got_names}, expected {sorted(expected)}")
    if body["count"] != len(expected):
        failures.append(f"list count {body['count']}, expected {len(expected)}")

    for pk, name in by_id.items():
        response = client.get(f"{API}/{endpoint}/{pk}/")
        if name in expected:
            if response.status_code != 200 or str(response.json().get("id")) != pk:
                failures.append(f"GET {name}: {response.status_code}, expected 200")
        elif response.status_code != 404:
            failures.append(f"GET {name} (out of scope): {response.status_code}, expected 404")

    assert not failures, f"{role} reading {endpoint}:\n  " + "\n  ".join(failures)


@pytest.mark.parametrize(("role", "endpoint"), _cells())
def test_writes(world, role, endpoint):
    """PATCH, POST and DELETE: own scope succeeds as the rules say; everything else is refused and changes nothing."""
    client = login(world.users[role])
    model, field, names = ENDPOINTS[endpoint]
    writable = WRITABLE.get(role, set())
    deletable = DELETABLE.get(role, set())
    failures = []

    for name in names:
        pk = world[name].pk
        before = _field_value(model, pk, field)
        new = f"patched-{role}-{name}"
        response = client.patch(f"{API}/{endpoint}/{pk}/", {field: new}, format="json", HTTP_IF_MATCH="*")
        after = _field_value(model, pk, field)
        if name in writable:
            if response.status_code != 200 or after != new:
                failures.append(f"PATCH {name}: {response.status_code}, stored {after!r}; expected 200 and {new!r}")
        else:
            allowed = _refusal(role, endpoint, "update")
            if response.status_code not in allowed:
                failures.append(f"PATCH {name}: {response.status_code}, expected one of {sorted(allowed)}")
            if after != before:
                failures.append(f"PATCH {name} was refused but {field} changed {before!r} -> {after!r}")

    if "create" not in WRITE_ACTIONS.get(role, {}).get(endpoint, set()) or (endpoint, "create") in NO_ROUTE:
        # Writable foreign keys of permitted creates are covered by the out-of-scope FK tests below.
        count = model.objects.count()
        response = client.post(f"{API}/{endpoint}/", {}, format="json")
        allowed = _refusal(role, endpoint, "create") - {404}
        if response.status_code not in allowed:
            failures.append(f"POST: {response.status_code}, expected one of {sorted(allowed)}")
        if model.objects.count() != count:
            failures.append("POST was refused but a row was created")

    # Out-of-scope (and refused) deletes first, so the world is intact for them; own-scope deletes last.
    for name in sorted(names, key=lambda n: n in deletable):
        pk = world[name].pk
        before = _field_value(model, pk, field)
        response = client.delete(f"{API}/{endpoint}/{pk}/")
        # Households and farmers are soft-deleted: a tombstone row stays for phones pulling changes.
        alive = model.objects.filter(pk=pk)
        if any(f.name == "deleted_at" for f in model._meta.concrete_fields):
            alive = alive.filter(deleted_at__isnull=True)
        exists = alive.exists()
        if name in deletable:
            protected = response.status_code == 409 and response.json().get("code") == "protected"
            if not (response.status_code == 204 and not exists) and not (protected and exists):
                failures.append(f"DELETE {name}: {response.status_code}, exists={exists}; expected 204 or 409")
        else:
            allowed = _refusal(role, endpoint, "destroy")
            if response.status_code not in allowed:
                failures.append(f"DELETE {name}: {response.status_code}, expected one of {sorted(allowed)}")
            if not exists or _field_value(model, pk, field) != before:
                failures.append(f"DELETE {name} was refused but the row was deleted or changed")

    assert not failures, f"{role} writing {endpoint}:\n  " + "\n  ".join(failures)


# --- writable foreign keys pointing out of scope ---------------------------------------------------------------


def _household(world, **overrides):
    body = {"id": str(uuid.uuid4()), "head_name": "陈大富", "lat": 30.95, "lon": 108.7, "village_code": "500235001001"}
    return {**body, **overrides}


def _admin_household(world, **overrides):
    return _household(world, **{"worker": world["W1"].pk, **overrides})


def _farmer(world, **overrides):
    return {"id": str(uuid.uuid4()), "name": "张三", "village_code": "500235001001", **overrides}


def _worker(world, **overrides):
    return {"name": "李农技", "expert": world["E1"].pk, "home_township_code": "500235001000", **overrides}


def _commissioner(world, **overrides):
    body = {"name": "王特派", "affiliation": "西南大学", "county_code": "500235000000", "service_start_year": 2022}
    return {**body, **overrides}


def _base(world, **overrides):
    body = {"name": "新示范基地", "industry": "citrus", "lat": 30.95, "lon": 108.7, "village_code": "500235001001"}
    return {**body, **overrides}


# (role, endpoint, payload builder, field, out-of-scope value, in-scope control value); values name a world object
# or are a literal division code.
FK_CASES = [
    ("worker", "model-households", _household, "worker", "W2", "W1"),
    ("worker", "model-households", _household, "village_code", "500235002001", "500235001003"),
    ("worker", "model-households", _household, "village_code", "500236001001", "500235001003"),
    ("worker", "farmers", _farmer, "household", "H2", "H1"),
    ("worker", "farmers", _farmer, "household", "H9", "H1"),
    ("admin", "model-households", _admin_household, "worker", "W9", "W2"),
    ("admin", "model-households", _admin_household, "village_code", "500236001001", "500235002001"),
    ("admin", "extension-workers", _worker, "expert", "E9", "E2"),
    ("admin", "tech-commissioners", _commissioner, "stations", ["S9"], ["S1"]),
    ("admin", "demonstration-bases", _base, "village_code", "500236001001", "500235002001"),
]


def _resolve(world, value):
    if isinstance(value, list):
        return [_resolve(world, item) for item in value]
    return value if value.isdigit() else world[value].pk


def _assert_does_not_exist(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == "invalid", body
    assert isinstance(body["message"], str) and body["message"], body
    assert set(body["fields"]) == {field}, body  # the out-of-scope reference is the only problem
    assert body["fields"][field] and all(item["code"] == "does_not_exist" for item in body["fields"][field]), body


@pytest.mark.parametrize(
    ("role", "endpoint", "build", "field", "outside", "inside"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[3]}={case[4]}") for case in FK_CASES],
)
def test_out_of_scope_foreign_key_is_400_does_not_exist(world, role, endpoint, build, field, outside, inside):
    client = login(world.users[role])
    model = ENDPOINTS[endpoint][0]
    count = model.objects.count()
    response = client.post(f"{API}/{endpoint}/", build(world, **{field: _resolve(world, outside)}), format="json")
    _assert_does_not_exist(response, field)
    assert model.objects.count() == count, "a refused create stored a row"
    # Control: the same payload with an in-scope value is accepted, so the refusal above is about scope alone.
    response = client.post(f"{API}/{endpoint}/", build(world, **{field: _resolve(world, inside)}), format="json")
    assert response.status_code == 201, response.content
    assert model.objects.count() == count + 1


def test_admin_cannot_move_a_household_to_an_out_of_county_worker(world):
    client = login(world.users["admin"])
    h1 = world["H1"]
    response = client.patch(
        f"{API}/model-households/{h1.pk}/", {"worker": world["W9"].pk}, format="json", HTTP_IF_MATCH="*"
    )
    _assert_does_not_exist(response, "worker")
    h1.refresh_from_db()
    assert h1.worker_id == world["W1"].pk
    response = client.patch(
        f"{API}/model-households/{h1.pk}/", {"worker": world["W2"].pk}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200, response.content
    h1.refresh_from_db()
    assert h1.worker_id == world["W2"].pk


# --- list filters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "endpoint", "param", "target"),
    [
        ("worker", "model-households", "worker", "W2"),
        ("worker", "model-households", "worker", "W9"),
        ("expert", "farmers", "household", "H9"),
        ("expert", "farmers", "household", "H3"),
    ],
)
def test_list_filter_on_out_of_scope_id_leaks_nothing(world, role, endpoint, param, target):
    client = login(world.users[role])
    response = client.get(f"{API}/{endpoint}/?page_size=500&{param}={world[target].pk}")
    if response.status_code == 400:
        assert response.json()["code"] == "invalid"
        return
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 0 and body["results"] == [], body


# --- divisions ------------------------------------------------------------------------------------------------

_COUNTIES = {"500235000000", "500235001000", "500235001001", "500235001003", "500235002000", "500235002001"}
_FENGJIE = {"500236000000", "500236001000", "500236001001"}
_WANZHOU = {"500100000000", "500101000000", "500101001000", "500101001001"}
DIVISIONS_VISIBLE = {
    # jurisdiction 50: everything
    "province": {"500000000000", "500200000000", *_COUNTIES, *_FENGJIE, *_WANZHOU},
    # jurisdiction 5002: Chongqing's counties (Yunyang, Fengjie) and the province, not the other city (5001)
    "city": {"500000000000", "500200000000", *_COUNTIES, *_FENGJIE},
    # jurisdiction 500235001: township T1 and its villages, plus its ancestors
    "worker": {"500000000000", "500200000000", "500235000000", "500235001000", "500235001001", "500235001003"},
    # jurisdiction 500235: the county and everything in it, plus its ancestors
    "admin": {
        "500000000000",
        "500200000000",
        "500235000000",
        "500235001000",
        "500235001001",
        "500235001003",
        "500235002000",
        "500235002001",
    },
}


@pytest.mark.parametrize("role", ["worker", "admin", "city", "province"])
def test_divisions_list_only_the_jurisdiction_and_its_ancestors(world, role):
    client = login(world.users[role])
    response = client.get(f"{API}/divisions/?page_size=500")
    assert response.status_code == 200, response.content
    assert {row["code"] for row in response.json()["results"]} == DIVISIONS_VISIBLE[role]


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("worker", "500235002001"),  # sibling township's village
        ("worker", "500236000000"),  # the neighbouring county
        ("worker", "500236001001"),
        ("admin", "500236000000"),
        ("admin", "500236001000"),
        ("admin", "500236001001"),
        ("admin", "500101000000"),
        ("city", "500100000000"),  # the other city
        ("city", "500101000000"),
        ("city", "500101001000"),
        ("city", "500101001001"),
    ],
)
def test_division_detail_outside_jurisdiction_is_404(world, role, code):
    response = login(world.users[role]).get(f"{API}/divisions/{code}/")
    assert response.status_code == 404, response.content


# --- the network tree -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "expert", "worker", "city", "province"])
@pytest.mark.parametrize("expert", ["E1", "E2", "E9", "E8"])
def test_network_tree_follows_expert_visibility(world, role, expert):
    response = login(world.users[role]).get(f"{API}/experts/{world[expert].pk}/network/")
    expected = 200 if expert in VISIBLE[role]["experts"] else 404
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["id"] == world[expert].pk
