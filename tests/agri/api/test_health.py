"""The health check that load balancers and monitoring poll: no login, one query, never cached."""

from rest_framework.test import APIClient


def test_health_answers_without_a_login_in_one_query(db, django_assert_num_queries):
    client = APIClient()
    with django_assert_num_queries(1):
        response = client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_health_ignores_credentials_even_revoked_ones(db):
    client = APIClient(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_takes_only_get(db):
    response = APIClient().post("/api/v1/health/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
