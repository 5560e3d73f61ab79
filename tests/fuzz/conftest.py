"""Fixtures for the schema fuzzing: one seeded world per module, real device tokens, one savepoint per request.

The world (tests/conftest.py ``build_world`` plus a visit with a photo) is built once, inside a transaction that is
rolled back when the module ends; every test adds pytest-django's own transaction on top, and every request sent by
schemathesis runs in a savepoint of its own that is rolled back after its checks. So each generated request meets
the same world, and nothing a request writes reaches another request, another test or another module.
"""

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings

from agri.models import DeviceToken
from tests.agri.photo_support import image_bytes, new_visit, upload
from tests.support import build_world, login

# Hypothesis examples per operation in the fuzzing phase (the examples and coverage phases take every case the
# schema defines). The CI default keeps the whole fuzz run to a few minutes per database; a deep local run:
#   FUZZ_MAX_EXAMPLES=500 FUZZ_STATEFUL_EXAMPLES=200 FUZZ_COVERAGE_ROLES=admin,worker \
#   .venv/bin/python -m pytest tests/fuzz
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "10"))
# The coverage phase (every boundary and every kind of invalid value the schema implies, about 6000 requests) takes
# about 2.5 minutes per role; its inputs do not depend on the role, and the bureau admin's requests go furthest
# (workers stop at 403 on most writes), so CI runs it as the admin. FUZZ_COVERAGE_ROLES=admin,worker runs both.
COVERAGE_ROLES = os.environ.get("FUZZ_COVERAGE_ROLES", "admin").split(",")
# A fixed seed makes CI reproducible; FUZZ_SEED=<another number> explores other inputs.
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))

ROLES = ("worker", "admin")

# Requests sent, by (role, phase, generation mode): printed at the end of the run (see pytest_terminal_summary).
CASES: Counter = Counter()


@dataclass
class FuzzWorld:
    tokens: dict[str, str]
    # Keys of existing rows by kind (in and out of each role's scope): see use_existing_keys().
    keys: dict[str, list] = field(default_factory=dict)


def _keys(world, visit_id: str, photo_id: str) -> dict[str, list]:
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
    }


def hold_connection() -> None:
    """Django's test client does this around each of its requests; schemathesis calls the WSGI handler itself,
    whose request signals would otherwise close the connection that holds these transactions. Call it again after
    using the test client: it reconnects the receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}
    with override_settings(STORAGES={**settings.STORAGES, "photos": storage}), django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = build_world()
            worker = login(world.users["worker"])
            visit = new_visit(worker, world)
            photo = upload(worker, visit["id"], image_bytes("JPEG"))
            assert photo.status_code == 201, photo.content
            tokens = {
                role: login(world.users[role], device="schemathesis")._credentials["HTTP_AUTHORIZATION"]
                for role in ROLES
            }
            fuzz = FuzzWorld(tokens=tokens, keys=_keys(world, visit["id"], photo.json()["id"]))
            fuzz.keys["token_key"] = {
                role: list(DeviceToken.objects.filter(user=world.users[role]).values_list("token_key", flat=True))
                for role in ROLES
            }
            hold_connection()
            yield fuzz
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def pytest_terminal_summary(terminalreporter):
    if not CASES:
        return
    phases = sorted({phase for _, phase, _ in CASES})
    write = terminalreporter.write_line
    terminalreporter.section("schemathesis: requests sent (positive/negative)")
    write("role     " + "".join(f"{phase:>20}" for phase in phases))
    for role in sorted({role for role, _, _ in CASES}):
        cells = [f"{CASES[role, phase, 'positive']}/{CASES[role, phase, 'negative']}" for phase in phases]
        write(f"{role:<9}" + "".join(f"{cell:>20}" for cell in cells))
    write(f"total {sum(CASES.values())} (FUZZ_MAX_EXAMPLES={MAX_EXAMPLES}, FUZZ_SEED={SEED})")
