from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import DeviceToken
from tests.factories import PASSWORD
from tests.support import login


def test_login_returns_token_that_authenticates_me(world):
    client = APIClient()
    response = client.post("/api/v1/auth/login/", {"username": "worker", "password": PASSWORD, "device": "Redmi 12"})
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) == 64
    assert body["user"]["role"] == "worker"
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = client.get("/api/v1/me/").json()
    assert me["username"] == "worker"
    assert me["jurisdiction"] == "500235001"
    assert me["person"] == {"type": "extension_worker", "id": world["W1"].pk, "name": world["W1"].name}
    token = DeviceToken.objects.get(user=world.users["worker"])
    assert token.device == "Redmi 12"
    assert token.digest != body["token"]  # stored hashed, never in clear


def test_wrong_password_is_400_with_code_and_localised_message(world):
    client = APIClient()
    zh = client.post("/api/v1/auth/login/", {"username": "worker", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.post("/api/v1/auth/login/", {"username": "worker", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 400
    assert zh.json()["code"] == en.json()["code"] == "invalid_credentials"
    assert en.json()["message"] == "Wrong username or password."
    assert zh.json()["message"] == "用户名或密码错误。"
    assert DeviceToken.objects.count() == 0


def test_unauthenticated_request_is_401_in_error_shape(world):
    response = APIClient().get("/api/v1/model-households/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "fields": {},
    }


def test_logout_revokes_only_this_device(world):
    phone = login(world.users["worker"], "phone")
    tablet = login(world.users["worker"], "tablet")
    assert phone.post("/api/v1/auth/logout/").status_code == 204
    assert phone.get("/api/v1/me/").status_code == 401
    assert tablet.get("/api/v1/me/").status_code == 200


def test_logout_all_cuts_off_every_device(world):
    phone = login(world.users["worker"], "phone")
    tablet = login(world.users["worker"], "tablet")
    other = login(world.users["worker2"], "other")
    assert phone.post("/api/v1/auth/logout-all/").status_code == 204
    assert phone.get("/api/v1/me/").status_code == 401
    assert tablet.get("/api/v1/me/").status_code == 401
    assert other.get("/api/v1/me/").status_code == 200


def test_lost_phone_is_revoked_from_another_device(world):
    lost = login(world.users["worker"], "lost phone")
    desk = login(world.users["worker"], "desk")
    devices = desk.get("/api/v1/auth/devices/").json()["results"]
    assert {d["device"] for d in devices} == {"lost phone", "desk"}
    assert [d["current"] for d in devices if d["device"] == "desk"] == [True]
    lost_key = next(d["token_key"] for d in devices if d["device"] == "lost phone")
    assert desk.delete(f"/api/v1/auth/devices/{lost_key}/").status_code == 204
    assert lost.get("/api/v1/me/").status_code == 401
    assert desk.get("/api/v1/me/").status_code == 200


def test_another_users_device_cannot_be_revoked(world):
    victim = login(world.users["worker2"], "victim")
    attacker = login(world.users["worker"], "attacker")
    key = DeviceToken.objects.get(user=world.users["worker2"]).token_key
    assert attacker.delete(f"/api/v1/auth/devices/{key}/").status_code == 404
    assert victim.get("/api/v1/me/").status_code == 200


def test_expired_token_is_refused(world):
    client = login(world.users["worker"])
    DeviceToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/me/").status_code == 401


def test_the_linked_persons_id_is_the_integer_the_records_refer_to_it_by(world, clients):
    """``person.id`` in ``/me/`` is the same integer as a household's ``worker`` or a visit's ``worker``."""
    me = clients["worker"].get("/api/v1/me/").json()
    households = clients["worker"].get("/api/v1/model-households/").json()["results"]
    assert households and {h["worker"] for h in households} == {me["person"]["id"]}
    assert isinstance(me["person"]["id"], int)
    expert = clients["expert"].get("/api/v1/me/").json()["person"]
    assert expert["type"] == "expert" and expert["id"] == world["E1"].pk
    workers = clients["expert"].get("/api/v1/extension-workers/").json()["results"]
    assert workers and {w["expert"] for w in workers} == {expert["id"]}


def test_the_login_answers_its_expiry_in_the_servers_time_zone_like_every_other_time(world):
    response = APIClient().post("/api/v1/auth/login/", {"username": "worker", "password": PASSWORD, "device": "x"})
    body = response.json()
    assert body["expiry"].endswith("+08:00"), body["expiry"]
    stored = DeviceToken.objects.get(user=world.users["worker"]).expiry
    assert datetime.fromisoformat(body["expiry"]) == stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    (device,) = client.get("/api/v1/auth/devices/").json()["results"]
    assert device["expiry"][-6:] == body["expiry"][-6:] == device["created"][-6:]
