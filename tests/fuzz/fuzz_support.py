"""The schema fuzzing's knobs (environment variables), its configuration and hooks, its counters and the connection
hold: shared by tests/fuzz/conftest.py (the world, the summary), tests/fuzz/test_schemathesis.py (the tests) and
tests/fuzz/deep.py (``make fuzz``: the same tests over HTTP against gunicorn)."""

import os
import zlib
from collections import Counter

import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

# Hypothesis examples per operation in the fuzzing phase (the examples and coverage phases take every case the
# schema defines). The CI default keeps the whole fuzz run to a few minutes per database; a deep local run:
#   FUZZ_MAX_EXAMPLES=500 FUZZ_STATEFUL_EXAMPLES=200 FUZZ_COVERAGE_ROLES=admin,worker \
#   .venv/bin/python -m pytest tests/fuzz
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "10"))
# The coverage phase (every boundary and every kind of invalid value the schema implies, about 6000 requests) takes
# about 2.5 minutes per role; its inputs do not depend on the role, and the bureau admin's requests go furthest
# (workers stop at 403 on most writes), so CI runs it as the admin. FUZZ_COVERAGE_ROLES=admin,worker runs both.
COVERAGE_ROLES = [role for role in os.environ.get("FUZZ_COVERAGE_ROLES", "admin").split(",") if role]
# A fixed seed makes CI reproducible; FUZZ_SEED=<another number> explores other inputs.
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))

# The roles the tests run as: tests/support.py's accounts, and "anonymous" (no token at all).
ROLES = tuple(role for role in os.environ.get("FUZZ_ROLES", "worker,admin").split(",") if role)
ANONYMOUS = "anonymous"
# Set by tests/fuzz/deep.py: the API is a server at this origin, whose world is described in FUZZ_WORLD_FILE,
# instead of the app in this process on the test database.
BASE_URL = os.environ.get("FUZZ_BASE_URL", "")
WORLD_FILE = os.environ.get("FUZZ_WORLD_FILE", "")
# Where the run's figures (requests, responses, failed checks) are written as JSON, if set.
SUMMARY_FILE = os.environ.get("FUZZ_SUMMARY_FILE", "")

# Requests sent, by (role, phase, generation mode): printed at the end of the run (see pytest_terminal_summary).
CASES: Counter = Counter()
# Responses by (role, status class) and failures by (role, check): the figures of a deep run.
STATUSES: Counter = Counter()
FAILURES: Counter = Counter()


def hold_connection() -> None:
    """Django's test client does this around each of its requests; schemathesis calls the WSGI handler itself,
    whose request signals would otherwise close the connection that holds these transactions. Call it again after
    using the test client: it reconnects the receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)


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
                # 428 Precondition Required answers a missing If-Match (RFC 6585), besides the default 4xx.
                # 412 a missing Tus-Resumable on the resumable uploads (tus 1.0 answers an unsupported version so).
                "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 412, 415, 422, 428]},
                # Refusals besides schemathesis' list: a stale If-Match is refused before the body is read (412, as
                # RFC 9110 orders preconditions first), and an oversized body before it is parsed (413).
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422, 428, 429, "5xx"]
                },
            },
        }
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


def use_existing_keys(case, world_keys: dict, role: str) -> None:
    """Swap generated keys for stored ones (``world_keys``: by kind; ``token_key`` by role)."""
    meta = case.meta
    keys = {**world_keys, "token_key": world_keys["token_key"].get(role, [])}

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
    "immutable": "the code a record was created with: phones store it, so it never changes",
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
    ("parent", "required"): "a township or village names its parent (null is allowed for counties and above)",
    ("parcel", "invalid_geometry"): "a valid polygon (closed rings, no self-intersection)",
    ("bbox", "invalid"): "a box's minimum below its maximum",
    ("near", "invalid"): "a point's two coordinates",
    ("date_to", "invalid"): "a date range that does not end before it starts",
    ("cursor", "invalid"): "a pull cursor the server issued (opaque: its position is a time only the server wrote)",
    ("area_mu", "min_value"): "a positive area: a decimal is a string in JSON, which schema bounds do not reach",
    ("file", "required"): "a photo file that is not empty",
    ("file", "empty"): "a photo file that is not empty (DRF's code for an empty upload)",
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
        body = response.json()
        fields = body["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    if body["code"] == "nul_character":  # U+0000 in a JSON key or in text the schema gives no pattern (a password)
        return True
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


def count(case, role: str) -> None:
    meta = case.meta
    phase = meta.phase.name.value if meta else "explicit"
    CASES[role, phase, "negative" if meta and meta.generation.mode.is_negative else "positive"] += 1


def world_keys(world, visit_id: str, photo_id: str, upload_id: str | None = None) -> dict[str, list]:
    """Keys of the world's rows by kind, in and out of the Yunyang roles' scope (see use_existing_keys)."""
    o, d = world.objects, world.divisions
    return {
        "industry": [i.code for i in world.industries.values()],
        "village": [d[n].code for n in ("v1", "v1b", "v2", "v9")],
        "township": [d[n].code for n in ("t1", "t2", "t9")],
        "county": [d[n].code for n in ("yunyang", "fengjie")],
        "division": [d[n].code for n in ("t1", "v1", "yunyang", "v2", "fengjie")],
        "station": [o[n].pk for n in ("S1", "S2", "S9")],
        "base": [o[n].pk for n in ("B1", "B2", "B9")],
        "field_school": [o[n].pk for n in ("FS1", "FS2", "FS9")],
        "expert": [o[n].pk for n in ("E1", "E2", "E9")],
        "worker": [o[n].pk for n in ("W1", "W2", "W3", "W9")],
        "commissioner": [o[n].pk for n in ("C1", "C2", "C9")],
        "household": [str(o[n].pk) for n in ("H1", "H2", "H3", "H9")],
        "farmer": [str(o[n].pk) for n in ("F1", "F2", "F3", "F9")],
        "visit": [visit_id],
        "photo": [photo_id],
        "upload": [upload_id] if upload_id else [],
    }


# Operations that end the caller's own tokens. In process each request is rolled back; against a server they would
# leave the rest of the run at 401, so the role logs in again after each (``refresh_login``).
TOKEN_ENDING = {
    ("POST", "/api/v1/auth/logout/"),
    ("POST", "/api/v1/auth/logout-all/"),
    ("DELETE", "/api/v1/auth/devices/{token_key}/"),
    ("POST", "/api/v1/auth/password/"),
}


def refresh_login(fuzz_world, role: str, case) -> None:
    """Against a server: after an operation that may have ended the role's token, log in again and take the new
    token and the account's current device-token keys."""
    if not BASE_URL or role == ANONYMOUS or (case.method.upper(), case.path) not in TOKEN_ENDING:
        return
    import requests

    body = {"username": role, "password": fuzz_world.password, "device": "schemathesis"}
    login = requests.post(f"{BASE_URL}/api/v1/auth/login/", json=body, timeout=60)
    login.raise_for_status()
    fuzz_world.tokens[role] = "Token " + login.json()["token"]
    devices = requests.get(
        f"{BASE_URL}/api/v1/auth/devices/", headers={"Authorization": fuzz_world.tokens[role]}, timeout=60
    ).json()
    fuzz_world.keys["token_key"][role] = [d["token_key"] for d in devices.get("results", devices)]
