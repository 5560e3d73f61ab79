"""Fixtures for the schema fuzzing: one seeded world per module, real device tokens, one savepoint per request.

The world (tests/support.py ``build_world`` plus a visit with a photo) is built once, inside a transaction that is
rolled back when the module ends; every test adds pytest-django's own transaction on top, and every request sent by
schemathesis runs in a savepoint of its own that is rolled back after its checks. So each generated request meets
the same world, and nothing a request writes reaches another request, another test or another module.
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings

from agri.models import DeviceToken
from tests.agri.photo_support import image_bytes, new_visit, upload
from tests.agri.upload_support import create
from tests.fuzz.fuzz_support import (
    ANONYMOUS,
    BASE_URL,
    CASES,
    FAILURES,
    MAX_EXAMPLES,
    ROLES,
    SEED,
    STATUSES,
    SUMMARY_FILE,
    WORLD_FILE,
    hold_connection,
    world_keys,
)
from tests.support import build_world, login


@dataclass
class FuzzWorld:
    tokens: dict[str, str]
    # Keys of existing rows by kind (in and out of each role's scope): see use_existing_keys().
    keys: dict[str, list] = field(default_factory=dict)
    # The accounts' password, to log in again against a server (fuzz_support.refresh_login).
    password: str = ""


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world the requests meet: built here in the test database, or the deep run's server's (described in
    FUZZ_WORLD_FILE by tests/fuzz/deep.py; the test database then stays empty)."""
    if BASE_URL:
        described = json.loads(Path(WORLD_FILE).read_text())
        yield FuzzWorld(tokens=described["tokens"], keys=described["keys"], password=described["password"])
        return
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
            started = create(worker, visit["id"], str(uuid.uuid4()), 5000)  # a resumable upload, no byte in yet
            assert started.status_code == 201, started.content
            accounts = [role for role in ROLES if role != ANONYMOUS]
            tokens = {
                role: login(world.users[role], device="schemathesis")._credentials["HTTP_AUTHORIZATION"]
                for role in accounts
            }
            upload_id = started["Location"].rstrip("/").rsplit("/", 1)[1]
            fuzz = FuzzWorld(tokens=tokens, keys=world_keys(world, visit["id"], photo.json()["id"], upload_id))
            fuzz.keys["token_key"] = {
                role: list(DeviceToken.objects.filter(user=world.users[role]).values_list("token_key", flat=True))
                for role in accounts
            }
            hold_connection()
            yield fuzz
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


TESTS: Counter = Counter()


def write_summary() -> None:
    """The figures so far, for tests/fuzz/deep.py (after every test, so that an interrupted run still has them)."""
    if SUMMARY_FILE:
        figures = {
            "cases": [[*key, n] for key, n in CASES.items()],
            "statuses": [[*key, n] for key, n in STATUSES.items()],
            "failures": [[*key, n] for key, n in FAILURES.items()],
            "tests": dict(TESTS),
        }
        Path(SUMMARY_FILE).write_text(json.dumps(figures))


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        TESTS[report.outcome] += 1
        write_summary()


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
    write("responses by status class: " + ", ".join(f"{r} {c}: {n}" for (r, c), n in sorted(STATUSES.items())))
    write("failed checks: " + (", ".join(f"{r} {c}: {n}" for (r, c), n in sorted(FAILURES.items())) or "none"))
    write_summary()
