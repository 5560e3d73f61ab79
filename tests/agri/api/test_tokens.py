"""Device tokens as a phone meets them: 401s that say why (``token_expired``, ``token_revoked``, ``token_invalid``),
one token per named device, and the per-account limit answered 409 ``token_limit`` instead of evicting a device.

Every client logs in through POST /api/v1/auth/login/ and reads the codes of the answers, as a phone does.
"""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import DeviceToken, RetiredToken, Role
from tests.factories import PASSWORD, UserFactory
from tests.support import login

TTL = settings.REST_KNOX["TOKEN_TTL"]

MESSAGES = {
    "token_expired": {
        "en": "This device's token has expired. Log in again.",
        "zh-hans": "此设备的令牌已过期，请重新登录。",
    },
    "token_revoked": {
        "en": "This device's token was revoked: it was logged out (here or from another device), replaced by a newer "
        "login with the same device name, the password was changed, or the server was restored from a backup. Log in "
        "again.",
        "zh-hans": "此设备的令牌已被撤销：已退出登录（在本设备或其他设备上操作），"
        "被同名设备的新登录取代，账号密码已修改，或服务器已从备份恢复。请重新登录。",
    },
    "token_invalid": {"en": "Invalid token. Log in again.", "zh-hans": "令牌无效，请重新登录。"},
}


def assert_refused(client: APIClient, code: str) -> None:
    """GET /me/ is a 401 with ``code``, its message in English and in Chinese (the default), and knox's header."""
    for lang in ("en", "zh-hans", None):
        extra = {"HTTP_ACCEPT_LANGUAGE": lang} if lang else {}
        response = client.get("/api/v1/me/", **extra)
        assert response.status_code == 401, response.content
        assert response.json() == {"code": code, "message": MESSAGES[code][lang or "zh-hans"], "fields": {}}
        assert response["WWW-Authenticate"] == "Token"


def with_token(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def token_of(client: APIClient) -> str:
    return client._credentials["HTTP_AUTHORIZATION"].split()[1]


def log_in(user, device, lang="en"):
    return APIClient().post(
        "/api/v1/auth/login/",
        {"username": user.username, "password": PASSWORD, "device": device},
        HTTP_ACCEPT_LANGUAGE=lang,
    )


# 401 token_expired


def test_an_expired_token_is_token_expired_and_stays_so_after_knox_deleted_it(world):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        phone = login(world.users["worker"], "phone")
        clock.shift(TTL + timedelta(minutes=1))
        assert_refused(phone, "token_expired")  # the first refusal deletes the token...
        assert not DeviceToken.objects.filter(user=world.users["worker"]).exists()
        assert_refused(phone, "token_expired")  # ...and the next ones still know it expired


def test_a_token_expired_and_cleared_by_another_devices_renewal_is_token_expired(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        old = login(world.users["worker"], "old phone")
        clock.shift(timedelta(days=20))
        new = login(world.users["worker"], "new phone")
        clock.shift(TTL - timedelta(days=20) + timedelta(minutes=1))  # the old phone's token has just expired
        assert new.get("/api/v1/me/").status_code == 200  # renews the new one, and retires the user's expired ones
        assert list(DeviceToken.objects.values_list("device", flat=True)) == ["new phone"]
        assert_refused(old, "token_expired")


# 401 token_revoked


def revoke_by_logout(phone, other):
    assert phone.post("/api/v1/auth/logout/").status_code == 204


def revoke_by_device_delete(phone, other):
    key = token_of(phone)[:15]
    assert other.delete(f"/api/v1/auth/devices/{key}/").status_code == 204


def revoke_by_logout_all(phone, other):
    assert other.post("/api/v1/auth/logout-all/").status_code == 204


def revoke_by_password_change(phone, other):
    response = other.post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": "a-new-pass-2026!"}, format="json"
    )
    assert response.status_code == 204, response.content


@pytest.mark.parametrize(
    "revoke",
    [revoke_by_logout, revoke_by_device_delete, revoke_by_logout_all, revoke_by_password_change],
    ids=["logout", "device-delete", "logout-all", "password-change"],
)
def test_a_revoked_token_is_token_revoked(world, revoke):
    phone = login(world.users["worker"], "phone")
    desk = login(world.users["worker"], "desk")
    bystander = login(world.users["worker2"], "phone")
    revoke(phone, desk)
    assert_refused(phone, "token_revoked")
    assert bystander.get("/api/v1/me/").status_code == 200


def test_a_revocation_is_forgotten_after_the_token_lifetime(world):
    """After TOKEN_TTL the token would have expired anyway: its record is pruned, and it is just unknown."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        phone = login(world.users["worker"], "phone")
        assert phone.post("/api/v1/auth/logout/").status_code == 204
        clock.shift(TTL - timedelta(minutes=1))
        assert_refused(phone, "token_revoked")
        clock.shift(timedelta(minutes=2))
        tablet = login(world.users["worker2"], "tablet")
        assert tablet.post("/api/v1/auth/logout/").status_code == 204  # any retirement prunes the old records
        assert RetiredToken.objects.count() == 1
        assert_refused(phone, "token_invalid")


# 401 token_invalid


@pytest.mark.parametrize(
    "header",
    [
        "Token garbage",
        "Token " + "0" * 64,
        "Token " + "z" * 64,
        "Token",  # no token
        "Token abc def",  # spaces
        "Token caf\u00e9",  # not UTF-8 once on the wire (ISO-8859-1)
    ],
    ids=["garbage", "unknown", "not-hex", "empty", "spaces", "not-utf8"],
)
def test_a_malformed_or_unknown_token_is_token_invalid(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_refused(client, "token_invalid")


def test_a_valid_token_sharing_a_key_prefix_still_tells_the_forged_one_invalid(world):
    phone = login(world.users["worker"], "phone")
    raw = token_of(phone)
    forged = raw[:15] + ("0" if raw[15] != "0" else "1") + raw[16:]
    assert_refused(with_token(forged), "token_invalid")
    assert phone.get("/api/v1/me/").status_code == 200


def test_no_token_is_still_not_authenticated(world):
    response = APIClient().get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# One token per named device


def test_logging_in_again_with_the_same_device_name_replaces_its_token(world):
    user = world.users["worker"]
    first = login(user, "Redmi 12")
    login(user, "desk")
    assert DeviceToken.objects.filter(user=user).count() == 2
    second = login(user, "Redmi 12")
    assert DeviceToken.objects.filter(user=user).count() == 2  # replaced, not added
    assert sorted(DeviceToken.objects.filter(user=user).values_list("device", flat=True)) == ["Redmi 12", "desk"]
    assert second.get("/api/v1/me/").status_code == 200
    assert_refused(first, "token_revoked")
    devices = second.get("/api/v1/auth/devices/").json()["results"]
    assert [d["current"] for d in devices if d["device"] == "Redmi 12"] == [True]


def test_the_same_device_name_of_another_account_is_not_replaced(world):
    mine = login(world.users["worker"], "phone")
    login(world.users["worker2"], "phone")
    assert mine.get("/api/v1/me/").status_code == 200


def test_an_empty_device_name_never_replaces_a_token(world):
    user = world.users["worker"]
    first = login(user, "")
    second = login(user, "")
    assert DeviceToken.objects.filter(user=user, device="").count() == 2
    assert first.get("/api/v1/me/").status_code == second.get("/api/v1/me/").status_code == 200


# The per-account limit


@pytest.fixture
def limit_of_two():
    with override_settings(REST_KNOX={**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}):
        yield


def test_a_new_device_past_the_limit_is_refused_naming_the_oldest(world, limit_of_two):
    user = world.users["worker"]
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        oldest = login(user, "old phone")
        clock.shift(timedelta(hours=1))
        newer = login(user, "tablet")
        clock.shift(timedelta(hours=1))
        en = log_in(user, "new phone")
        zh = log_in(user, "new phone", lang="zh-hans")
    assert en.status_code == zh.status_code == 409
    oldest_key = token_of(oldest)[:15]
    created = DeviceToken.objects.get(token_key=oldest_key).created
    assert en.json() == {
        "code": "token_limit",
        "message": "This account is already logged in on 2 devices, the most allowed. Log a device out first (the "
        f'oldest is "old phone", logged in on {timezone.localtime(created):%Y-%m-%d %H:%M}), then log in again.',
        "fields": {},
        "limit": 2,
        "oldest_device": {
            "token_key": oldest_key,
            "device": "old phone",
            "created": en.json()["oldest_device"]["created"],
        },
    }
    assert en.json()["oldest_device"]["created"] == oldest.get("/api/v1/auth/devices/").json()["results"][1]["created"]
    assert zh.json()["code"] == "token_limit"
    assert zh.json()["message"].startswith("该账号已在 2 台设备上登录，已达上限。请先退出一台设备（最早的是“old phone”")
    # Nothing was evicted or added: both devices still work.
    assert DeviceToken.objects.filter(user=user).count() == 2
    assert oldest.get("/api/v1/me/").status_code == newer.get("/api/v1/me/").status_code == 200


def test_at_the_limit_a_known_device_name_still_logs_in(world, limit_of_two):
    user = world.users["worker"]
    phone = login(user, "phone")
    login(user, "tablet")
    again = login(user, "phone")
    assert DeviceToken.objects.filter(user=user).count() == 2
    assert again.get("/api/v1/me/").status_code == 200
    assert_refused(phone, "token_revoked")


def test_an_empty_device_name_counts_against_the_limit(world, limit_of_two):
    user = world.users["worker"]
    login(user, "")
    login(user, "")
    response = log_in(user, "")
    assert response.status_code == 409
    assert response.json()["oldest_device"]["device"] == ""
    assert '"(no name)"' in response.json()["message"]


@pytest.mark.parametrize("free", ["delete", "logout-all"])
def test_freeing_a_slot_lets_the_new_device_log_in(world, limit_of_two, free):
    user = world.users["worker"]
    login(user, "old phone")
    tablet = login(user, "tablet")
    assert log_in(user, "new phone").status_code == 409
    if free == "delete":
        key = log_in(user, "new phone").json()["oldest_device"]["token_key"]
        assert tablet.delete(f"/api/v1/auth/devices/{key}/").status_code == 204
    else:
        assert tablet.post("/api/v1/auth/logout-all/").status_code == 204
    assert log_in(user, "new phone").status_code == 200


def test_expired_tokens_hold_no_slot(world, limit_of_two):
    user = world.users["worker"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        old = login(user, "old phone")
        login(user, "tablet")
        clock.shift(TTL + timedelta(minutes=1))
        assert log_in(user, "new phone").status_code == 200
        assert_refused(old, "token_expired")


# The typed sync batch in the schema


def test_the_sync_batch_items_are_visit_write_requests_in_the_schema(db):
    schema = APIClient().get("/api/schema/?format=json").json()
    body = schema["paths"]["/api/v1/sync/visits/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/VisitBatchRequest"}
    visits = schema["components"]["schemas"]["VisitBatchRequest"]["properties"]["visits"]
    assert visits["items"] == {"$ref": "#/components/schemas/VisitWriteRequest"}
    assert (visits["minItems"], visits["maxItems"]) == (1, 500)
    assert "409" in schema["paths"]["/api/v1/auth/login/"]["post"]["responses"]


# The Django admin revokes too


@pytest.mark.parametrize("how", ["delete-view", "bulk-action"])
def test_a_token_deleted_in_the_admin_is_token_revoked(world, client, how):
    client.force_login(UserFactory(username="staff", role=Role.BUREAU_ADMIN, is_staff=True, is_superuser=True))
    phone = login(world.users["worker"], "phone")
    digest = DeviceToken.objects.get(user=world.users["worker"]).digest
    if how == "delete-view":
        response = client.post(f"/admin/agri/devicetoken/{digest}/delete/", {"post": "yes"})
    else:
        response = client.post(
            "/admin/agri/devicetoken/", {"action": "delete_selected", "_selected_action": [digest], "post": "yes"}
        )
    assert response.status_code == 302
    assert not DeviceToken.objects.exists()
    assert_refused(phone, "token_revoked")


def test_a_refusal_costs_one_more_query_than_a_valid_token(world, django_assert_num_queries):
    """A valid token is one query (tests/agri/api/test_request_queries.py); a refused one adds the retired record."""
    phone = login(world.users["worker"], "phone")
    assert phone.post("/api/v1/auth/logout/").status_code == 204
    with django_assert_num_queries(2):  # the token key's rows (none), the retired record
        assert phone.get("/api/v1/me/").json()["code"] == "token_revoked"
    with django_assert_num_queries(2):
        assert with_token("0" * 64).get("/api/v1/me/").json()["code"] == "token_invalid"
