"""Schemathesis over every operation of /api/schema/, as an extension worker and as a bureau admin.

Each operation gets the examples, coverage and fuzzing phases (positive and negative data) with all of schemathesis'
default checks: no 5xx, status codes, content types, headers and bodies as documented, invalid data rejected, valid
data accepted, auth enforced, unsupported methods refused. The stateful test chains operations along the links
schemathesis infers from the schema (a created record's id into its reads, updates and deletes).

The app runs in-process (WSGI) against pytest-django's test database; see conftest.py for the world, the tokens
and the transactions, and fuzz_support.py for the knobs (FUZZ_MAX_EXAMPLES, FUZZ_STATEFUL_EXAMPLES,
FUZZ_COVERAGE_ROLES, FUZZ_SEED).
The schema is loaded when the module is collected and the tests come from ``schema.parametrize()``: schemathesis'
fixture-based loader (``schemathesis.pytest.from_fixture``) relies on a pytest attribute (``Node._nodeid``) that
pytest 9.2 no longer has.
"""

import contextlib

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from hypothesis import HealthCheck, Phase

from tests.fuzz.fuzz_support import (
    BASE_URL,
    COVERAGE_ROLES,
    FAILURES,
    ROLES,
    STATEFUL_EXAMPLES,
    STATUSES,
    config,
    count,
    filter_failure,
    hold_connection,
    refresh_login,
    use_existing_keys,
)

SCHEMA_URL = "/api/schema/?format=json"
# tus's PATCH (and creation-with-upload) body is raw bytes under its own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# Loaded at collection time (the schema view needs no database): the collected tests are the schema's operations.
# In process, from the app itself; for a deep run (tests/fuzz/deep.py), from the server every request then goes to.
if BASE_URL:
    schema = schemathesis.openapi.from_url(BASE_URL + SCHEMA_URL, config=config(coverage=False))
    coverage_schema = schemathesis.openapi.from_url(BASE_URL + SCHEMA_URL, config=config(coverage=True))
else:
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, WSGIHandler(), config=config(coverage=False))
    coverage_schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, WSGIHandler(), config=config(coverage=True))
schema.hook(filter_failure)
coverage_schema.hook(filter_failure)

# pytest-django's transaction (function-scoped `db`) is shared by a test's examples on purpose: each request is
# rolled back by its own savepoint. Requests through the whole stack are slow next to Hypothesis' expectations.
FUZZ_SETTINGS = hypothesis.settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    deadline=None,
    # Against a server nothing is rolled back: a failing example replayed to shrink it meets another state, and
    # Hypothesis calls that flaky. The failure is reported as found.
    **({"phases": [Phase.explicit, Phase.generate]} if BASE_URL else {}),
)


# --- the tests ------------------------------------------------------------------------------------------------


def call_headers(token: str | None) -> dict:
    """The in-process WSGI client does not decode ``Content-Encoding``: ask for none, so that every body can be
    checked against the schema (tests/agri/api/test_compression.py covers the encodings). No token: anonymous."""
    return {"Accept-Encoding": "identity", **({"Authorization": token} if token else {})}


def rolled_back():
    """In process, a request's writes are rolled back after its checks; a server keeps them."""
    return contextlib.nullcontext() if BASE_URL else transaction.atomic()


def validated(case, response, role: str, **kwargs) -> None:
    """Check ``response`` as ``call_and_validate`` does, counting its status and what failed."""
    STATUSES[role, f"{response.status_code // 100}xx"] += 1
    try:
        case.validate_response(response, **kwargs)
    except (AssertionError, BaseExceptionGroup) as exc:
        for failure in exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]:
            FAILURES[role, type(failure).__name__] += 1
        raise


def send(case, role: str, fuzz_world) -> None:
    use_existing_keys(case, fuzz_world.keys, role)
    count(case, role)
    headers = call_headers(fuzz_world.tokens.get(role))
    with rolled_back():
        try:
            response = case.call(headers=headers)
            validated(case, response, role, headers=headers, transport_kwargs={"headers": dict(headers)})
        finally:
            if not BASE_URL:
                transaction.set_rollback(True)
            refresh_login(fuzz_world, role, case)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@FUZZ_SETTINGS
def test_api(case, role, fuzz_world, db):
    send(case, role, fuzz_world)


@pytest.mark.parametrize("role", COVERAGE_ROLES)
@coverage_schema.parametrize()
@FUZZ_SETTINGS
def test_api_coverage(case, role, fuzz_world, db):
    send(case, role, fuzz_world)


@pytest.mark.parametrize("role", ROLES)
def test_stateful(role, fuzz_world, db):
    machine = schema.as_state_machine()

    class Scenario(machine):
        """One chain of requests; in process, its writes are rolled back before the next chain starts."""

        def setup(self):
            self.savepoint = None if BASE_URL else transaction.savepoint()

        def teardown(self):
            if self.savepoint is not None:
                transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            use_existing_keys(case, fuzz_world.keys, role)
            count(case, role)

        def get_call_kwargs(self, case):
            return {"headers": call_headers(fuzz_world.tokens.get(role))}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            refresh_login(fuzz_world, role, case)
            # As call_and_validate does: the checks must know which credentials were sent (ignored_auth).
            validated(
                case,
                response,
                role,
                additional_checks=additional_checks,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs,
                recorder=getattr(self, "recorder", None),
            )

    Scenario.run(
        settings=hypothesis.settings(
            FUZZ_SETTINGS,
            max_examples=STATEFUL_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )


# --- what the fuzzing found -----------------------------------------------------------------------------------
# Each request below was a 500 (or an accepted invalid payload) before its fix; kept so a small CI budget cannot
# miss them again. Every one is refused with a 4xx and the error shape, and stores nothing.
NUL = "\x00"
BIG = 99999999999999999999  # beyond 64 bits
VISIT = {"kind": "guidance", "started_at": "2025-03-14T09:30:00+08:00", "lat": 30.95, "lon": 108.7}
FOUND = [
    # (role, method, url, JSON body, status, field with the error or None)
    ("admin", "options", "/api/v1/auth/logout/", None, 200, None),
    ("admin", "options", "/api/v1/indicators/?format=csv", None, 200, None),
    ("admin", "get", "/api/v1/visits/null%2Cnull/history/", None, 404, None),
    ("admin", "patch", "/api/v1/divisions/500235001000/", {"rep_lat": 412}, 400, "rep_lat"),
    (
        "admin",
        "post",
        "/api/v1/experts/",
        {"name": "x", "industry": "goats", "county_code": "500235000000", "active": 0},
        400,
        "active",
    ),
    (
        "admin",
        "post",
        "/api/v1/tech-commissioners/",
        {
            "name": "x",
            "affiliation": "x",
            "affiliation_type": "company",
            "county_code": f"5002{NUL}",
            "service_start_year": 2020,
        },
        400,
        None,
    ),
    (
        "admin",
        "post",
        "/api/v1/divisions/",
        {"code": "500235001009", "name": "x", "level": "village", "parent": ""},
        400,
        "parent",
    ),
    ("admin", "get", "/api/v1/industries/a%00b/", None, 400, None),
    ("admin", "delete", "/api/v1/auth/devices/a%00b/", None, 400, None),
    ("admin", "get", "/api/v1/farmers/?updated_since=2020-01-01T00:00:00%2B16:21", None, 200, None),
    ("admin", "get", "/api/v1/experts/?active=null", None, 400, "active"),
    ("admin", "get", "/api/v1/divisions/500235001000/boundary/?detail=AAA", None, 400, "detail"),
    ("admin", "get", "/api/v1/model-households/?page_size=abc", None, 400, "page_size"),
    (
        "worker",
        "post",
        "/api/v1/model-households/",
        {"head_name": "x", "lat": 30.95, "lon": 108.7, "village_code": "500235001001", "industries": [f"a{NUL}"]},
        400,
        None,
    ),
    (
        "worker",
        "post",
        "/api/v1/visits/",
        {**VISIT, "id": "2f7052c0-6dc4-45ce-8f3b-07d0ada5553c", "village": f"5{NUL}"},
        400,
        None,
    ),
    (
        "worker",
        "post",
        "/api/v1/visits/",
        {**VISIT, "id": "2f7052c0-6dc4-45ce-8f3b-07d0ada5553c", "base": "²"},
        400,
        "base",
    ),
    (
        "worker",
        "post",
        "/api/v1/visits/",
        {**VISIT, "id": "2f7052c0-6dc4-45ce-8f3b-07d0ada5553c", "station": BIG},
        400,
        "station",
    ),
    ("worker", "get", "/api/v1/tech-commissioners/?stations=1&bases=-7736178749762347991040", None, 400, "bases"),
    # Rendered in Asia/Shanghai's local mean time (+08:05:43), which is no RFC 3339 offset.
    (
        "worker",
        "post",
        "/api/v1/visits/",
        {**VISIT, "id": "d4e33f73-cbca-4351-955d-99bb49ae73fa", "started_at": "1228-10-31T22:13:38-01:45"},
        400,
        "started_at",
    ),
    ("worker", "get", "/api/v1/visits/?updated_since=0001-01-01T00:00:00%2B01:00", None, 400, "updated_since"),
    ("admin", "get", "/api/v1/farmers/?updated_since=9999-12-31T23:59:59-12:00", None, 400, "updated_since"),
    # An empty updated_since made a pull, which ignores `page` (accepted invalid data).
    ("worker", "get", "/api/v1/farmers/?household=&updated_since=&division=&page=false", None, 404, None),
    # A pull ignored `page`, so an invalid one was accepted.
    ("worker", "get", "/api/v1/model-households/?page=null&updated_since=2025-03-15T15:35:00Z", None, 404, None),
]


@pytest.mark.parametrize(("role", "method", "url", "body", "status", "field"), FOUND)
@pytest.mark.skipif(bool(BASE_URL), reason="in process only: it counts the rows of the test database")
def test_found_inputs_are_refused(fuzz_world, db, role, method, url, body, status, field):
    from django.test import Client

    from agri.models import Visit

    client = Client(HTTP_AUTHORIZATION=fuzz_world.tokens[role], raise_request_exception=False)
    visits = Visit.objects.count()
    with transaction.atomic():  # PostgreSQL: a failed query must not poison the module's transaction
        kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
        try:
            response = getattr(client, method)(url, **kwargs)
        finally:
            hold_connection()
        transaction.set_rollback(True)
    assert response.status_code == status, response.content
    if status >= 400:
        error = response.json()
        assert set(error) == {"code", "message", "fields"}
        if field:
            assert field in error["fields"], error
    assert Visit.objects.count() == visits
