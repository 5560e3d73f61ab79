"""Failed-login lockout: per account and per client IP, shared by the API, the admin and session logins."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from agri.models import DeviceToken, Role
from tests import factories as f
from tests.factories import PASSWORD
from tests.support import attempt_login

VILLAGE_NAT = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def attempt(username, password, ip=VILLAGE_NAT, lang="en", **extra):
    return attempt_login(username, password, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=lang, **extra)


def fail(username, times, ip=VILLAGE_NAT, **extra):
    for n in range(times):
        response = attempt(username, f"wrong-{n}", ip=ip, **extra)
        assert response.status_code == 400, (n, response.json())
        assert response.json()["code"] == "invalid_credentials"


def assert_locked(response):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "login_locked"
    assert body["message"].startswith("Too many failed logins for this account or from this network.")
    assert body["fields"] == {}
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_eleventh_attempt_is_refused_even_with_the_right_password(world):
    fail("worker", 10)
    response = attempt("worker", PASSWORD)
    assert_locked(response)
    zh = attempt("worker", PASSWORD, lang="zh-hans")
    assert zh.status_code == 429
    assert zh.json()["code"] == "login_locked"
    assert zh.json()["message"].startswith("该账号或该网络登录失败次数过多")
    assert not DeviceToken.objects.filter(user=world.users["worker"]).exists()


def test_the_account_lock_follows_the_account_to_another_ip(world):
    fail("worker", 10, ip=VILLAGE_NAT)
    assert_locked(attempt("worker", PASSWORD, ip=ELSEWHERE))


def test_another_user_behind_the_same_village_nat_still_logs_in(world):
    fail("worker", 10)
    assert_locked(attempt("worker", PASSWORD))
    response = attempt("worker2", PASSWORD)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["username"] == "worker2"


def test_a_village_of_users_who_mistype_does_not_lock_each_other_out(world):
    """Ten users behind one NAT, nine typos each (90 failures from one IP): every one still logs in."""
    users = [f.UserFactory(username=f"village-{n}", role=Role.WORKER) for n in range(10)]
    for user in users:
        fail(user.username, 9)
    for user in users:
        response = attempt(user.username, PASSWORD)
        assert response.status_code == 200, (user.username, response.content)


def test_lock_lasts_the_window_then_logins_work_again(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        fail("worker", 10)
        clock.move_to(start + timedelta(minutes=14, seconds=59))
        assert_locked(attempt("worker", PASSWORD))
        clock.move_to(start + timedelta(minutes=15, seconds=1))
        response = attempt("worker", PASSWORD)
        assert response.status_code == 200, response.content
        assert response.json()["user"]["username"] == "worker"


@override_settings(LOGIN_LOCKOUT={"account_failures": 3, "ip_failures": 1000, "window_seconds": 60})
def test_window_is_configurable(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        fail("worker", 3)
        assert_locked(attempt("worker", PASSWORD))
        clock.move_to(start + timedelta(seconds=61))
        assert attempt("worker", PASSWORD).status_code == 200


def test_successful_login_resets_the_account_counter(world):
    fail("worker", 9)
    assert attempt("worker", PASSWORD).status_code == 200
    fail("worker", 9)
    response = attempt("worker", PASSWORD)
    assert response.status_code == 200, response.content


def test_unknown_username_locks_the_same_way(world):
    """No way to tell existing accounts from others by how they lock."""
    fail("nobody-here", 10)
    assert_locked(attempt("nobody-here", "anything"))


@override_settings(LOGIN_LOCKOUT={"account_failures": 10, "ip_failures": 5, "window_seconds": 900})
def test_ip_spraying_many_accounts_locks_the_ip_not_the_accounts(world):
    for name in ("a", "b", "c", "d", "e"):
        fail(f"sprayed-{name}", 1, ip=VILLAGE_NAT)
    assert_locked(attempt("worker", PASSWORD, ip=VILLAGE_NAT))
    response = attempt("worker", PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 200, response.content


@override_settings(LOGIN_LOCKOUT={"account_failures": 10, "ip_failures": 5, "window_seconds": 900})
def test_forged_x_forwarded_for_does_not_evade_the_ip_lock(world):
    for n in range(5):
        fail(f"sprayed-{n}", 1, ip=VILLAGE_NAT, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert_locked(attempt("worker", PASSWORD, ip=VILLAGE_NAT, HTTP_X_FORWARDED_FOR="192.0.2.99"))


def test_behind_a_declared_proxy_the_forwarded_client_address_counts(world, settings):
    settings.LOGIN_LOCKOUT = {"account_failures": 10, "ip_failures": 5, "window_seconds": 900}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for n in range(5):
        fail(f"sprayed-{n}", 1, ip=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {VILLAGE_NAT}")
    assert_locked(attempt("worker", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=VILLAGE_NAT))
    response = attempt("worker", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE)
    assert response.status_code == 200, response.content


def _admin_login(username, password):
    client = Client(REMOTE_ADDR=ELSEWHERE)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client, response


def test_admin_login_is_refused_while_the_account_is_locked(world):
    f.UserFactory(username="boss", role=Role.BUREAU_ADMIN, is_staff=True, is_superuser=True)
    client, response = _admin_login("boss", PASSWORD)
    assert response.status_code == 302 and client.session.get("_auth_user_id")
    fail("boss", 10)
    client, response = _admin_login("boss", PASSWORD)  # no Accept-Language: the default language, zh-hans
    assert_session_login_refused(response, "该账号或该网络登录失败次数过多")
    assert "_auth_user_id" not in client.session


def test_admin_login_failures_count_towards_the_api_lock(world):
    f.UserFactory(username="boss", role=Role.BUREAU_ADMIN, is_staff=True, is_superuser=True)
    for n in range(10):
        _client, response = _admin_login("boss", f"wrong-{n}")
        assert response.status_code == 200
    assert_locked(attempt("boss", PASSWORD))


@pytest.mark.parametrize("proxies", [None, 0, 1, 2])
@pytest.mark.parametrize(
    "meta",
    [
        {"REMOTE_ADDR": "10.0.0.9"},
        {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "203.0.113.7"},
        {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.7"},
        {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "192.0.2.5, 198.51.100.1 , 203.0.113.7"},
    ],
)
def test_the_lockout_counts_by_the_address_the_api_throttles_see(settings, proxies, meta):
    """agri.lockout has no DRF import; its client address is DRF's throttle identity all the same."""
    from django.test import RequestFactory
    from rest_framework.request import Request
    from rest_framework.throttling import BaseThrottle

    from agri.lockout import client_ip

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    request = RequestFactory().get("/", **meta)
    assert client_ip(request) == (BaseThrottle().get_ident(Request(request)) or None)


# --- every session login: the same lockout, the same throttle, a page that says so ---------------------------------

SESSION_LOGINS = ["/accounts/login/", "/admin/login/", "/api-auth/login/"]
LOW_LOGIN_RATE = {"login": "5/min", "write": "1000000/min"}


@pytest.fixture
def one_instant():
    """The clock stopped in the middle of a minute. The login rate is a sliding window made of fixed one-minute
    windows (``agri.lockout.login_attempt_throttle``): a burst that crosses a minute's end is counted as spread over
    the previous minute, so it may get one attempt more than the rate. These tests count attempts, not that."""
    now = timezone.now()
    with time_machine.travel(now.replace(second=30, microsecond=0), tick=False):
        yield


@pytest.fixture
def low_login_rate(settings, one_instant):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": LOW_LOGIN_RATE}


def session_login(path, username, password, ip=VILLAGE_NAT, lang="en"):
    client = Client(REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=lang)
    response = client.post(path, {"username": username, "password": password})
    return client, response


def assert_session_login_refused(response, message, lang="en"):
    assert response.status_code == 429, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("text/html")
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert message in response.content.decode(), response.content.decode()


@pytest.mark.parametrize("path", SESSION_LOGINS)
def test_session_login_is_throttled_per_ip_like_the_api(world, low_login_rate, path):
    for n in range(5):
        _client, response = session_login(path, "worker", f"wrong-{n}")
        assert response.status_code == 200, (n, response.status_code)  # the form again, with its error
    client, response = session_login(path, "worker", PASSWORD)
    assert_session_login_refused(response, "Too many login attempts from this network.")
    assert "_auth_user_id" not in client.session
    _client, zh = session_login(path, "worker", PASSWORD, lang="zh-hans")
    assert_session_login_refused(zh, "该网络的登录尝试过多")
    # Another network is not held back.
    f.UserFactory(username="boss", role=Role.BUREAU_ADMIN, is_staff=True, is_superuser=True)
    client, response = session_login(path, "boss", PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 302 and client.session.get("_auth_user_id")


def test_fifty_session_logins_from_one_ip_are_not_all_processed(world, settings, one_instant):
    """The default rate (20 a minute) over every login path together: the 21st attempt is refused."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "20/min"}}
    statuses = [session_login(SESSION_LOGINS[n % 2], f"guess-{n}", "wrong")[1].status_code for n in range(50)]
    assert statuses == [200] * 20 + [429] * 30


def test_api_and_session_logins_share_one_budget_per_ip(world, low_login_rate):
    for n in range(3):
        assert attempt("worker", f"wrong-{n}").status_code == 400
    for path in SESSION_LOGINS[:2]:
        assert session_login(path, "worker", "wrong")[1].status_code == 200
    response = attempt("worker", PASSWORD)
    assert response.status_code == 429 and response.json()["code"] == "throttled"
    assert_session_login_refused(session_login("/accounts/login/", "worker", PASSWORD)[1], "Too many login attempts")


@pytest.mark.parametrize("path", SESSION_LOGINS)
def test_session_login_of_a_locked_account_says_so_in_the_users_language(world, path):
    fail("worker", 10, ip=ELSEWHERE)
    client, response = session_login(path, "worker", PASSWORD)
    assert_session_login_refused(response, "Too many failed logins for this account or from this network.")
    assert "_auth_user_id" not in client.session
    _client, zh = session_login(path, "worker", PASSWORD, lang="zh-hans")
    assert_session_login_refused(zh, "该账号或该网络登录失败次数过多")


def test_session_login_failures_lock_the_account_for_the_api(world):
    for n in range(10):
        assert session_login(SESSION_LOGINS[n % 3], "worker", f"wrong-{n}")[1].status_code == 200
    assert_locked(attempt("worker", PASSWORD, ip=ELSEWHERE))
