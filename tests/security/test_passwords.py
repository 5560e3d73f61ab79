"""Every path that sets a password applies AUTH_PASSWORD_VALIDATORS (the API, createsuperuser and the demo seed),
and every path that changes one revokes the account's device tokens (the API, the shell, the admin, changepassword)."""

import io

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from agri.demo import DEMO_USERNAMES, demo_accounts, demo_password_check
from agri.models import DeviceToken, RetiredToken, TokenEnd, User
from tests.factories import PASSWORD
from tests.support import attempt_login, login

CHANGE = "/api/v1/auth/password/"
NEW_PASSWORD = "脐橙-溃疡病-防治-2026"


def test_change_password_keeps_this_device_and_logs_out_the_others(world):
    phone = login(world.users["worker"], "phone")
    tablet = login(world.users["worker"], "tablet")
    other_user = login(world.users["worker2"], "other")
    response = phone.post(CHANGE, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 204, response.content
    assert phone.get("/api/v1/me/").json()["username"] == "worker"
    assert tablet.get("/api/v1/me/").status_code == 401
    assert other_user.get("/api/v1/me/").status_code == 200
    assert list(DeviceToken.objects.filter(user=world.users["worker"]).values_list("device", flat=True)) == ["phone"]
    assert attempt_login("worker", PASSWORD).json()["code"] == "invalid_credentials"
    assert attempt_login("worker", NEW_PASSWORD).json()["user"]["username"] == "worker"


@pytest.mark.parametrize(
    "new_password, codes",
    [
        ("1234", {"password_too_short", "password_too_common", "password_entirely_numeric"}),
        ("password123", {"password_too_common"}),
        ("worker2026", {"password_too_similar"}),
        ("73918264015", {"password_entirely_numeric"}),
    ],
)
def test_weak_new_password_is_refused_with_the_validators_codes(world, new_password, codes):
    client = login(world.users["worker"])
    response = client.post(CHANGE, {"old_password": PASSWORD, "new_password": new_password}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["new_password"]
    assert {e["code"] for e in body["fields"]["new_password"]} == codes
    assert attempt_login("worker", PASSWORD).status_code == 200


def test_validator_messages_follow_the_request_language(world):
    client = login(world.users["worker"])
    response = client.post(CHANGE, {"old_password": PASSWORD, "new_password": "1234"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    messages = [e["message"] for e in response.json()["fields"]["new_password"]]
    assert messages[1:] == ["这个密码太常见了。", "密码只包含数字。"]


def test_wrong_old_password_is_refused_and_nothing_changes(world):
    client = login(world.users["worker"])
    other = login(world.users["worker"], "tablet")
    response = client.post(CHANGE, {"old_password": "not-it", "new_password": NEW_PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "old_password": [{"code": "wrong_password", "message": "The current password is wrong."}]
    }
    assert other.get("/api/v1/me/").status_code == 200
    assert attempt_login("worker", PASSWORD).status_code == 200


def test_new_password_must_differ_from_the_old(world):
    client = login(world.users["worker"])
    response = client.post(CHANGE, {"old_password": PASSWORD, "new_password": PASSWORD})
    assert response.status_code == 400
    assert response.json()["fields"]["new_password"][0]["code"] == "password_unchanged"


def test_guessing_the_old_password_with_a_stolen_token_locks_the_account(world):
    client = login(world.users["worker"])
    for n in range(10):
        response = client.post(CHANGE, {"old_password": f"guess-{n}", "new_password": NEW_PASSWORD})
        assert response.status_code == 400
    response = client.post(CHANGE, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "login_locked"
    assert attempt_login("worker", PASSWORD).json()["code"] == "login_locked"
    world.users["worker"].refresh_from_db()
    assert world.users["worker"].check_password(PASSWORD)


def test_password_change_needs_a_login(world):
    response = APIClient().post(CHANGE, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_browser_session_survives_its_own_password_change(world):
    client = APIClient()
    assert client.login(username="worker", password=PASSWORD)
    response = client.post(CHANGE, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 204
    assert client.get("/api/v1/me/").json()["username"] == "worker"


def test_createsuperuser_noinput_refuses_a_weak_password(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="这个密码太常见了"):
        call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org")
    assert not User.objects.filter(username="root").exists()


def test_createsuperuser_noinput_accepts_a_strong_password(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)
    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org", verbosity=0)
    root = User.objects.get(username="root")
    assert root.is_superuser and root.check_password(NEW_PASSWORD)


def test_create_user_refuses_a_password_similar_to_the_username(db):
    with pytest.raises(ValidationError) as exc:
        User.objects.create_user("zhangwei", password="zhangwei1")
    assert [e.code for e in exc.value.error_list] == ["password_too_similar"]


def test_the_documented_demo_password_passes_the_validators():
    demo_password_check("nongji-demo-2026")


@pytest.mark.parametrize("weak", ["password", "12345678", "demo-admin1"])
def test_a_weak_demo_password_is_refused_before_any_account_exists(db, settings, weak):
    settings.DEMO_PASSWORD = weak
    with pytest.raises(CommandError, match="DEMO_PASSWORD fails the password validators"):
        call_command("seed_demo", verbosity=0)
    with pytest.raises(ValidationError):
        demo_accounts(weak)
    assert not User.objects.filter(username__in=DEMO_USERNAMES).exists()


# --- a password set anywhere else revokes the device tokens too ---------------------------------------------------


def assert_revoked(client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "token_revoked"


def test_set_password_in_the_shell_revokes_every_device_token(world):
    phone, tablet = login(world.users["worker"], "phone"), login(world.users["worker"], "tablet")
    other_user = login(world.users["worker2"])
    user = User.objects.get(username="worker")
    user.set_password(NEW_PASSWORD)
    user.save()
    assert_revoked(phone)
    assert_revoked(tablet)
    assert other_user.get("/api/v1/me/").status_code == 200
    assert RetiredToken.objects.filter(user=user, reason=TokenEnd.PASSWORD_CHANGE).count() == 2


def test_set_password_saved_with_update_fields_revokes_too(world):
    phone = login(world.users["worker"])
    user = User.objects.get(username="worker")
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    assert_revoked(phone)


def test_set_unusable_password_revokes_every_device_token(world):
    phone = login(world.users["worker"])
    user = User.objects.get(username="worker")
    user.set_unusable_password()
    user.save()
    assert_revoked(phone)


def test_changepassword_command_revokes_every_device_token(world, monkeypatch):
    from django.contrib.auth.management.commands import changepassword

    phone = login(world.users["worker"])
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt="": NEW_PASSWORD)
    call_command("changepassword", "worker", stdout=io.StringIO())
    assert_revoked(phone)
    assert attempt_login("worker", NEW_PASSWORD).status_code == 200


def test_password_set_in_the_admin_revokes_every_device_token(world):
    phone = login(world.users["worker"])
    boss = User.objects.create_superuser("boss", password=NEW_PASSWORD)
    browser = Client()
    browser.force_login(boss)
    worker = world.users["worker"]
    response = browser.post(
        f"/admin/agri/user/{worker.pk}/password/",
        {"password1": "另一个-强密码-2026", "password2": "另一个-强密码-2026"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert_revoked(phone)


def test_saving_an_account_without_a_new_password_revokes_nothing(world):
    phone = login(world.users["worker"])
    user = User.objects.get(username="worker")
    user.first_name = "伟"
    user.save()
    User.objects.get(username="worker").save(update_fields=["last_login"])
    assert phone.get("/api/v1/me/").status_code == 200


class QuickPBKDF2Hasher(PBKDF2PasswordHasher):
    iterations = 2


def test_a_password_hash_upgraded_at_login_revokes_nothing(world, settings):
    """Django rehashes a password with the preferred hasher when it checks it: the same password, no change."""
    phone = login(world.users["worker"], "phone")
    settings.PASSWORD_HASHERS = [f"{__name__}.QuickPBKDF2Hasher", *settings.PASSWORD_HASHERS]
    before = User.objects.get(username="worker").password
    tablet = login(world.users["worker"], "tablet")
    assert User.objects.get(username="worker").password != before  # upgraded
    assert phone.get("/api/v1/me/").status_code == 200
    assert tablet.get("/api/v1/me/").status_code == 200
