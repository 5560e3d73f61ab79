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

import zlib

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from hypothesis import HealthCheck
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

from tests.fuzz.fuzz_support import CASES, COVERAGE_ROLES, MAX_EXAMPLES, ROLES, SEED, STATEFUL_EXAMPLES, hold_connection

SCHEMA_URL = "/api/schema/?format=json"
# tus's PATCH (and creation-with-upload) body is raw bytes under its own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def config(*, coverage: bool) -> schemathesis.Config:
    """The examples and fuzzing phases, or the coverage phase alone (run for FUZZ_COVERAGE_ROLES only)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": {
                "examples": {"enabled": not coverage, "fill-missing": True},
                "fuzzing": {"enabled": not coverage},
                "coverage": {"enabled": coverage},
            },
            "checks": {
                # 428 Precondition Required answers a missing If-Match (RFC 6585), besides the default 4xx; 412 a
                # missing Tus-Resumable on the resumable uploads (tus 1.0 answers an unsupported version so).
                "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 412, 415, 422, 428]},
                # Refusals besides schemathesis' list: a stale If-Match is refused before the body is read (412, as
                # RFC 9110 orders preconditions first), and an oversized body before it is parsed (413).
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, "5xx"]
                },
            },
        }
    )


# Loaded from the app itself at collection time (the schema view needs no database): the collected tests are the
# schema's operations.
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, WSGIHandler(), config=config(coverage=False))
coverage_schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, WSGIHandler(), config=config(coverage=True))

# pytest-django's transaction (function-scoped `db`) is shared by a test's examples on purpose: each request is
# rolled back by its own savepoint. Requests through the whole stack are slow next to Hypothesis' expectations.
FUZZ_SETTINGS = hypothesis.settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- real keys ------------------------------------------------------------------------------------------------
# Generated ids rarely name a stored row, so a request would stop at 404 or "does not exist" before the code that
# matters. Positive values of these parameters and body fields are swapped, most of the time, for keys of the
# world's rows (in and out of the caller's scope); negative values are left as generated.

RESOURCE_KINDS = {
    "industries": "industry",
    "divisions": "division",
    "stations": "station",
    "demonstration-bases": "base",
    "field-schools": "field_school",
    "experts": "expert",
    "extension-workers": "worker",
    "tech-commissioners": "commissioner",
    "model-households": "household",
    "farmers": "farmer",
    "devices": "token_key",
    "visits": "visit",
    "photos": "photo",
    "uploads": "upload",
}
FIELD_KINDS = {
    "industry": "industry",
    "industries": "industry",
    "division": "division",
    "parent": "division",
    "village": "village",
    "village_code": "village",
    "home_township_code": "township",
    "county": "county",
    "county_code": "county",
    "station": "station",
    "stations": "station",
    "base": "base",
    "bases": "base",
    "expert": "expert",
    "worker": "worker",
    "commissioner": "commissioner",
    "household": "household",
    "farmer": "farmer",
    "attendees": "farmer",
    "visit": "visit",
    "visit_id": "visit",
}


def _pick(keys: list, value):
    """A stored key for ``value``, or ``value`` itself one time in four: deterministic, so failures replay."""
    digest = zlib.crc32(repr(value).encode())
    return value if digest % 4 == 0 else keys[digest // 4 % len(keys)]


def _swap(container, kinds, keys):
    if isinstance(container, list):
        return [_swap(item, kinds, keys) for item in container]
    if not isinstance(container, dict):
        return container
    out = {}
    for name, value in container.items():
        kind = kinds(name)
        pool = keys.get(kind) if kind else None
        if pool and isinstance(value, list):
            out[name] = [_pick(pool, item) if item is not None else item for item in value]
        elif pool and value is not None and not isinstance(value, dict | bool):
            out[name] = _pick(pool, value)
        else:
            out[name] = _swap(value, kinds, keys)
    return out


def use_existing_keys(case, fuzz_world, role: str) -> None:
    meta = case.meta
    keys = {**fuzz_world.keys, "token_key": fuzz_world.keys["token_key"][role]}

    def positive(location) -> bool:
        return meta is None or not meta.is_negative_at(location)

    # Only changed containers are put back: schemathesis re-validates a changed one to label it positive or negative.
    if case.path_parameters and positive(ParameterLocation.PATH):
        resource = next(part for part in reversed(case.operation.path.split("/")[:-2]) if part and "{" not in part)

        def path_kind(name):
            return "visit" if name == "visit_id" else RESOURCE_KINDS.get(resource)

        path = _swap(case.path_parameters, path_kind, keys)
        if path != case.path_parameters:
            case.path_parameters = path
    if case.query and positive(ParameterLocation.QUERY):
        query = _swap(case.query, FIELD_KINDS.get, keys)
        if query != case.query:
            case.query = query
    # JSON bodies only: a multipart body holds files, which schemathesis cannot re-validate (it would call the
    # changed body negative). Uploads get a stored visit through their path instead.
    if isinstance(case.body, dict) and case.media_type == "application/json" and positive(ParameterLocation.BODY):
        body = _swap(case.body, FIELD_KINDS.get, keys)
        if body != case.body:
            case.body = body


# --- valid by the schema, refused by a rule the schema cannot state --------------------------------------------
# positive_data_acceptance expects every schema-valid request to succeed. Some rules of the API cannot be written in
# a JSON schema; a 400 whose every field error is one of them is the API doing its job, not a gap in the schema.
# Any other refusal of schema-valid data (a missing bound, pattern or enum in the schema) still fails the test.
RULE_CODES = {
    "unique": "a code or name already in use",
    "blank": "text of whitespace only (U+0085, say), which is empty once trimmed",
    "invalid_credentials": "a username and password that do not match",
    "wrong_password": "the current password, which only the server knows",
    "password_unchanged": "a new password equal to the current one",
    "password_too_short": "Django's password validators",
    "password_too_similar": "Django's password validators",
    "password_too_common": "Django's password validators",
    "password_entirely_numeric": "Django's password validators",
    "null_characters_not_allowed": "U+0000 in text (valid JSON; PostgreSQL cannot store it)",
    "one_target": "exactly one of a visit's five targets",
    "invalid_id_number": "the ID number's check digit",
    "outside_jurisdiction": "a point inside the caller's jurisdiction",
    "sync_token_invalid": "a sync token the server issued to this account (opaque and signed)",
    "sync_token_expired": "a sync token younger than the change log's retention",
}
# Codes that mean "this row does not exist, or not for you": valid only on fields that reference rows.
REFERENCE_CODES = {"does_not_exist", "invalid_choice"}
# Cross-field rules, by field and code.
FIELD_RULES = {
    ("certified_on", "required"): "a certified base needs its certification date",
    ("worker", "required"): "a household recorded by a non-worker names its worker",
    ("introduced", "required"): "a new variety or technique visit names what it introduced",
    ("service_end_year", "invalid"): "the last service year is not before the first",
    ("ended_at", "invalid"): "a visit does not end before it starts",
    ("code", "invalid"): "a division code agrees with its level and parent",
    ("parcel", "invalid_geometry"): "a valid polygon (closed rings, no self-intersection)",
    ("bbox", "invalid"): "a box's minimum below its maximum",
    ("near", "invalid"): "a point's two coordinates",
    ("date_to", "invalid"): "a date range that does not end before it starts",
    ("area_mu", "min_value"): "a positive area: a decimal is a string in JSON, which schema bounds do not reach",
    ("file", "required"): "a photo file that is not empty",
    ("started_at", "min_value"): "a visit time from 1970 on: OpenAPI gives date-time strings no bounds",
    ("started_at", "max_value"): "a visit time before 2100",
    ("ended_at", "min_value"): "a visit time from 1970 on",
    ("ended_at", "max_value"): "a visit time before 2100",
}
# A photo upload's bytes must be an image that decodes: the server reads the content, not the declared type.
UPLOAD_STATUSES = {415: "not a JPEG, PNG, WebP or HEIC/HEIF image", 422: "truncated or corrupt image"}
# Resumable uploads (tus): what the bytes and headers must agree on, beyond what a schema says of each.
TUS_STATUSES = {
    **UPLOAD_STATUSES,
    413: "bytes past the upload's declared length",
    460: "Upload-Checksum is a digest of the body",
}
# Upload-Metadata carries the visit and the photo id as Base64 of UUIDs, inside one header.
TUS_METADATA_FIELDS = {"visit", "id", "Upload-Metadata"}


def refused_by_rule(case, response) -> bool:
    if response.status_code == 412:  # If-Match names another version: the ETag is the server's state
        return True
    if response.status_code in UPLOAD_STATUSES and case.media_type == "multipart/form-data":
        return True
    tus = case.operation.path.startswith("/api/v1/uploads/")
    if tus and response.status_code in TUS_STATUSES:
        return True
    if response.status_code != 400:
        return False
    try:
        fields = response.json()["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    if tus and fields and set(fields) <= TUS_METADATA_FIELDS:
        return True
    return bool(fields) and all(_is_rule(name, error["code"]) for name, errors in fields.items() for error in errors)


def _is_rule(name: str, code: str) -> bool:
    parts = name.split(".")  # nested fields: "stations.0", "visits.3.household"
    if code in RULE_CODES:
        return True
    if code in REFERENCE_CODES:
        return any(part in FIELD_KINDS for part in parts)
    return any((part, code) in FIELD_RULES for part in parts)


def relabelled_upload(case) -> bool:
    """A multipart upload that nothing generated negative, yet labelled negative: a stateful link put a stored
    visit id into the body, and schemathesis' re-validation of a form that holds file bytes calls it invalid."""
    meta = case.meta
    return (
        case.media_type == "multipart/form-data"
        and meta is not None
        and meta.phase.data.description == "Positive test case"
    )


def batch_items_refused(case, response) -> bool:
    """A sync batch answers each item on its own (one bad item never blocks the others): an item the schema
    refuses is a 200 whose result for it is ``invalid``, not a 400 for the whole batch."""
    if case.operation.path != "/api/v1/sync/visits/" or response.status_code != 200:
        return False
    try:
        results = response.json()["results"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(result["status"] == "invalid" for result in results)


def filter_failure(context, failure, case, response):
    if isinstance(failure, AcceptedNegativeData) and (relabelled_upload(case) or batch_items_refused(case, response)):
        return False
    # A deleted visit is a tombstone whose audit trail, deletion included, stays readable to bureau admins.
    if isinstance(failure, UseAfterFree) and case.operation.path == "/api/v1/visits/{id}/history/":
        return False
    return not (isinstance(failure, RejectedPositiveData) and refused_by_rule(case, response))


schema.hook(filter_failure)
coverage_schema.hook(filter_failure)


def count(case, role: str) -> None:
    meta = case.meta
    phase = meta.phase.name.value if meta else "explicit"
    CASES[role, phase, "negative" if meta and meta.generation.mode.is_negative else "positive"] += 1


# --- the tests ------------------------------------------------------------------------------------------------


def call_headers(token: str) -> dict:
    """The in-process WSGI client does not decode ``Content-Encoding``: ask for none, so that every body can be
    checked against the schema (tests/agri/api/test_compression.py covers the encodings)."""
    return {"Authorization": token, "Accept-Encoding": "identity"}


def send(case, role: str, fuzz_world) -> None:
    use_existing_keys(case, fuzz_world, role)
    count(case, role)
    with transaction.atomic():
        try:
            case.call_and_validate(headers=call_headers(fuzz_world.tokens[role]))
        finally:
            transaction.set_rollback(True)


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
    token = fuzz_world.tokens[role]

    class Scenario(machine):
        """One chain of requests; its writes are rolled back before the next chain starts."""

        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            use_existing_keys(case, fuzz_world, role)
            count(case, role)

        def get_call_kwargs(self, case):
            return {"headers": call_headers(token)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # As call_and_validate does: the checks must know which credentials were sent (ignored_auth).
            case.validate_response(
                response,
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
    ("admin", "post", "/api/v1/industries/", {"code": "tea", "name": "茶叶", "name_en": 0}, 400, "name_en"),
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
        "county_code",
    ),
    (
        "admin",
        "post",
        "/api/v1/divisions/",
        {"code": "500235001009", "name": "x", "level": "village", "parent": ""},
        400,
        "parent",
    ),
    ("admin", "get", "/api/v1/industries/a%00b/", None, 404, None),
    ("admin", "delete", "/api/v1/auth/devices/a%00b/", None, 404, None),
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
        "industries",
    ),
    (
        "worker",
        "post",
        "/api/v1/visits/",
        {**VISIT, "id": "2f7052c0-6dc4-45ce-8f3b-07d0ada5553c", "village": f"5{NUL}"},
        400,
        "village",
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
