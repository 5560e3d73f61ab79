"""What one request costs in queries: the token with its user and linked person in one read
(``agri.api.authentication``), the actor of a visit from that read, and a single visit POST within a fixed budget for
every kind of actor."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agri.models import DeviceToken, PresenceCount, Visit, VisitEvent, VisitRollup
from tests.agri.map_support import days_ago, visit
from tests.support import login

# A single POST with a token: the token with its user and linked person (1); the industry and the target household
# or station (2); the stored ids (1); the village index's fingerprint (1: every request under the test settings,
# every few seconds in production); in a savepoint (2): the insert (1), its read-back (1), the rollups (5: one INSERT
# ... SELECT ... ON CONFLICT DO UPDATE each for the daily rollup and the division and cell months; the person and
# household rows selected, then upserted; the people counts would be one more where a person is new to a place in
# the month, which the first POST was), the history entry (1); the response: the visit (1) and its attendance (1).
POST_QUERIES = 17


def _body(world, role):
    if role == "expert":
        return visit(world, household=str(world["H2"].pk), lat=30.93, lon=108.70)
    if role == "commissioner":
        return visit(world, household=None, station=world["S1"].pk)
    return visit(world)


@pytest.mark.parametrize("role", ["worker", "expert", "commissioner"])
def test_single_visit_post_has_a_fixed_query_budget_for_every_actor(
    mapped_world, clients, role, django_assert_num_queries
):
    """A commissioner is the last of the three linked people visit_actor looks for: no query of its own either."""
    client = clients[role]
    first = client.post("/api/v1/visits/", _body(mapped_world, role), format="json")  # builds the village index
    assert first.status_code == 201, first.content
    body = _body(mapped_world, role)
    rollup_before = sum(VisitRollup.objects.values_list("visits", flat=True))
    with django_assert_num_queries(POST_QUERIES):
        response = client.post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] == body["id"]
    stored = Visit.objects.get(pk=body["id"])
    user = mapped_world.users[role]
    assert stored.user == user
    assert (stored.expert_id, stored.worker_id, stored.commissioner_id) == {
        "expert": (mapped_world["E1"].pk, None, None),
        "worker": (None, mapped_world["W1"].pk, None),
        "commissioner": (None, None, mapped_world["C1"].pk),
    }[role]
    assert VisitEvent.objects.filter(visit=stored, user=user, action="create").count() == 1
    assert sum(VisitRollup.objects.values_list("visits", flat=True)) == rollup_before + 1


def test_a_post_that_brings_its_worker_to_a_new_month_counts_them_in_one_more_query(
    mapped_world, clients, django_assert_num_queries
):
    """The people counts (``PresenceCount``) are written only when a person row comes into being: once more."""
    client = clients["worker"]
    assert client.post("/api/v1/visits/", _body(mapped_world, "worker"), format="json").status_code == 201
    body = {**_body(mapped_world, "worker"), "started_at": days_ago(70)}  # another month, and maybe another year
    counts_before = PresenceCount.objects.count()
    with django_assert_num_queries(POST_QUERIES + 1):
        response = client.post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    assert PresenceCount.objects.count() > counts_before


def test_a_session_post_reads_the_linked_person_in_one_query(mapped_world, django_assert_num_queries):
    """Without the token's read (a browser session), the actor costs one query for all three kinds of person."""
    client = APIClient()
    client.force_login(mapped_world.users["commissioner"])
    assert client.post("/api/v1/visits/", _body(mapped_world, "commissioner"), format="json").status_code == 201
    body = _body(mapped_world, "commissioner")
    # the session (1) and its user (1) instead of the token (1), and the linked people (1)
    with django_assert_num_queries(POST_QUERIES + 2):
        response = client.post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    assert Visit.objects.get(pk=body["id"]).commissioner_id == mapped_world["C1"].pk


def test_other_expired_tokens_are_deleted_when_the_token_is_renewed(world):
    phone = login(world.users["worker"], device="phone")
    lost = login(world.users["worker"], device="lost")
    lost_key = lost._credentials["HTTP_AUTHORIZATION"].split()[1][:15]
    DeviceToken.objects.filter(token_key=lost_key).update(expiry=timezone.now() - timedelta(days=1))
    # The phone's token was just issued: nothing to renew, so nothing is written and the expired token stays.
    response = phone.get("/api/v1/auth/devices/")
    assert response.status_code == 200
    assert sorted(d["device"] for d in response.json()["results"]) == ["lost", "phone"]
    # Two minutes later its expiry is renewed, and the user's expired tokens go with that write.
    phone_token = DeviceToken.objects.get(user=world.users["worker"], device="phone")
    DeviceToken.objects.filter(pk=phone_token.pk).update(expiry=phone_token.expiry - timedelta(minutes=2))
    response = phone.get("/api/v1/auth/devices/")
    assert response.status_code == 200
    assert [d["device"] for d in response.json()["results"]] == ["phone"]
    assert not DeviceToken.objects.filter(token_key=lost_key).exists()
    renewed = DeviceToken.objects.get(pk=phone_token.pk).expiry
    assert renewed > phone_token.expiry - timedelta(seconds=5)
    # The expired token itself is refused, as before.
    assert lost.get("/api/v1/me/").status_code == 401


def test_expired_inactive_and_unknown_tokens_are_refused(world):
    expired = login(world.users["worker"], device="expired")
    DeviceToken.objects.filter(device="expired").update(expiry=timezone.now() - timedelta(seconds=1))
    assert expired.get("/api/v1/me/").status_code == 401
    assert not DeviceToken.objects.filter(device="expired").exists()  # knox deletes it on the refused request

    inactive = login(world.users["worker2"], device="inactive")
    world.users["worker2"].is_active = False
    world.users["worker2"].save(update_fields=["is_active"])
    assert inactive.get("/api/v1/me/").status_code == 401

    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    response = unknown.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"  # a token this server does not know
