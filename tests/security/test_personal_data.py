"""PIPL: audited reveal of a farmer's personal numbers (bureau admins only), and no personal data in the logs."""

import logging
import sys
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agri.models import Farmer, PersonalDataAccess
from agri.validators import with_check_digit
from backend.log_redaction import RedactingFormatter
from tests import factories as f
from tests.support import login

OTHER_ROLES = ["viewer", "township_viewer", "expert", "worker", "worker2", "commissioner", "station"]


def reveal_url(farmer_id) -> str:
    return f"/api/v1/farmers/{farmer_id}/reveal/"


def test_bureau_admin_sees_the_numbers_and_the_access_is_recorded(world):
    farmer = world["F1"]
    client = login(world.users["admin"])
    response = client.post(reveal_url(farmer.pk), {"reason": "核实补贴发放对象身份"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": str(farmer.pk),
        "name": farmer.name,
        "phone": farmer.phone,
        "id_number": farmer.id_number,
    }
    access = PersonalDataAccess.objects.get()
    assert (access.user, access.farmer, access.fields, access.reason) == (
        world.users["admin"],
        farmer,
        ["phone", "id_number"],
        "核实补贴发放对象身份",
    )
    assert access.at is not None


def test_every_reveal_is_recorded_even_without_a_reason(world):
    client = login(world.users["admin"])
    for _ in range(2):
        assert client.post(reveal_url(world["F1"].pk)).status_code == 200
    assert list(PersonalDataAccess.objects.values_list("reason", flat=True)) == ["", ""]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_no_other_role_may_reveal_and_nothing_is_recorded(world, role):
    client = login(world.users[role])
    response = client.post(reveal_url(world["F1"].pk), {"reason": "想看看"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert world["F1"].phone not in response.content.decode()
    assert not PersonalDataAccess.objects.exists()


def test_farmer_outside_the_admins_county_is_404_and_not_recorded(world):
    response = login(world.users["admin"]).post(reveal_url(world["F9"].pk))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not PersonalDataAccess.objects.exists()


def test_deleted_farmer_is_404(world):
    client = login(world.users["admin"])
    assert client.delete(f"/api/v1/farmers/{world['F1'].pk}/").status_code == 204
    assert client.post(reveal_url(world["F1"].pk)).status_code == 404
    assert not PersonalDataAccess.objects.exists()


def test_overlong_reason_is_400_and_not_recorded(world):
    response = login(world.users["admin"]).post(reveal_url(world["F1"].pk), {"reason": "理" * 501})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason"]
    assert not PersonalDataAccess.objects.exists()


def test_reveal_needs_a_login(world):
    assert APIClient().post(reveal_url(world["F1"].pk)).status_code == 401


def test_audit_trail_is_read_only_in_the_admin(world):
    PersonalDataAccess.objects.create(user=world.users["admin"], farmer=world["F1"], fields=["phone"], reason="核实")
    access = PersonalDataAccess.objects.get()
    superuser = f.UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)
    base = "/admin/agri/personaldataaccess/"
    listing = client.get(base)
    assert listing.status_code == 200 and "核实" in listing.content.decode()
    assert client.get(f"{base}{access.pk}/change/").status_code == 200  # view-only page
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{access.pk}/change/", {"reason": "改掉"}).status_code == 403
    assert client.post(f"{base}{access.pk}/delete/", {"post": "yes"}).status_code == 403
    access.refresh_from_db()
    assert access.reason == "核实"


# --- logs ---------------------------------------------------------------------------------------

CANARY_PHONE = "19987654321"
CANARY_ID = with_check_digit("50023519870101888")
CANARY_NAME = "金丝雀测试员"
CANARIES = (CANARY_PHONE, CANARY_ID, CANARY_NAME)


@pytest.fixture
def all_logs_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_log_record_carries_a_planted_phone_id_number_or_name(world, all_logs_at_debug):
    caplog = all_logs_at_debug
    worker, admin = login(world.users["worker"]), login(world.users["admin"])
    farmer = {
        "id": str(uuid.uuid4()),
        "household": str(world["H1"].pk),
        "name": CANARY_NAME,
        "phone": CANARY_PHONE,
        "id_number": CANARY_ID,
        "village_code": world.divisions["v1"].code,
    }
    created = worker.post("/api/v1/farmers/", farmer)
    assert created.status_code == 201 and created.json()["phone"] == CANARY_PHONE
    # Validation failures that carry the values: a bad check digit, an out-of-scope household, an overlong name.
    bad_id = {**farmer, "id": str(uuid.uuid4()), "id_number": CANARY_ID[:-1] + ("0" if CANARY_ID[-1] != "0" else "1")}
    assert worker.post("/api/v1/farmers/", bad_id).status_code == 400
    assert worker.post("/api/v1/farmers/", {**farmer, "household": str(world["H9"].pk)}).status_code == 400
    assert (
        worker.patch(f"/api/v1/farmers/{farmer['id']}/", {"name": CANARY_NAME * 20}, HTTP_IF_MATCH="*").status_code
        == 400
    )
    assert worker.post("/api/v1/sync/visits/", {"visits": [{"notes": CANARY_PHONE, "lat": 999}]}).status_code == 200
    # The same replayed id with other data: a 409.
    assert worker.post("/api/v1/farmers/", {**farmer, "phone": "13000000000"}).status_code == 409
    # Login failures with the values as username and password, up to a lockout.
    anonymous = APIClient()
    for _ in range(11):
        anonymous.post("/api/v1/auth/login/", {"username": CANARY_PHONE, "password": CANARY_ID})
    assert anonymous.post("/api/v1/auth/login/", {"username": CANARY_PHONE, "password": "x"}).status_code == 429
    assert admin.get("/api/v1/farmers/", {"search": CANARY_NAME}).json()["count"] == 1
    revealed = admin.post(reveal_url(farmer["id"]), {"reason": f"电话 {CANARY_PHONE}"})
    assert revealed.json()["id_number"] == CANARY_ID

    logged = [rec for rec in caplog.records]
    messages = [rec.getMessage() for rec in logged]
    # The capture works: 4xx answers and the lockout were logged (with no body in them).
    assert "Bad Request: /api/v1/farmers/" in messages
    assert "Conflict: /api/v1/farmers/" in messages
    assert "Too Many Requests: /api/v1/auth/login/" in messages
    assert any(m.startswith("Login lockout for account ") for m in messages)
    for rec in logged:
        text = " ".join([rec.getMessage(), repr(rec.__dict__), logging.Formatter().format(rec)])
        for canary in CANARIES:
            assert canary not in text, (canary, rec.name, rec.getMessage())
    assert Farmer.objects.get(pk=farmer["id"]).phone == CANARY_PHONE


def test_log_lines_mask_numbers_that_a_library_might_quote():
    try:
        raise ValueError(f"duplicate key value violates unique constraint DETAIL: Key (phone)=({CANARY_PHONE})")
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Failed for %s/%s", (CANARY_ID, CANARY_PHONE), sys.exc_info()
        )
    line = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert CANARY_PHONE not in line and CANARY_ID not in line
    assert f"ERROR Failed for {CANARY_ID[:3]}{'*' * 11}{CANARY_ID[-4:]}/199****4321" in line
    assert "Key (phone)=(199****4321)" in line


@pytest.mark.parametrize(
    "kept",
    [
        "visit 2f7052c0-6dc4-45ce-8f3b-07d0ada5553c",
        "division 500235106203",
        "digest 9f3c1b7e2a5d4c8e0b6a1f3d5e7c9b2a4d6f8e0c1b3a5d7f9e2c4b6a8d0f1e3c",
        "took 123456789012345678901 ns",
    ],
)
def test_log_lines_keep_ids_codes_and_longer_numbers(kept):
    record = logging.LogRecord("agri", logging.INFO, __file__, 1, kept, None, None)
    assert RedactingFormatter("%(message)s").format(record) == kept
