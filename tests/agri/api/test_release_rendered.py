"""A rendered API response lets go of its records at once (``agri.middleware.ReleaseRenderedMiddleware``).

DRF ties a response, its view and its request in reference cycles. Without the middleware a page's records stayed
in memory until the cyclic garbage collector's next full pass (the sync feed's bench showed those passes as pauses
of hundreds of milliseconds). With the collector switched off, a record of the page must not outlive the request.
"""

import gc
import json

import pytest

pytestmark = pytest.mark.django_db


def _visits_alive(ids: set[str]) -> int:
    """How many dicts in memory are visits of the page (by their API shape and id)."""
    return sum(
        1
        for o in gc.get_objects()
        if type(o) is dict and "actor_type" in o and isinstance(o.get("id"), str) and o["id"] in ids
    )


@pytest.mark.parametrize(
    "url", ["/api/v1/sync/?page_size=1000", "/api/v1/visits/?updated_since=2000-01-01T00:00:00Z", "/api/v1/visits/"]
)
def test_a_pages_records_are_freed_when_the_request_ends(posted, url):
    client, visits, _worker = posted
    ids = {str(pk) for pk in visits.filter(deleted_at__isnull=True).values_list("pk", flat=True)}
    gc.collect()
    gc.disable()
    try:
        response = client.get(url)
        assert response.status_code == 200, response.content
        # Parsed here, not with ``response.json()``, which the test client keeps in a cycle of its own.
        assert ids <= {item["id"] for item in json.loads(response.content)["results"]}  # the page does carry them
        del response
        assert _visits_alive(ids) == 0
    finally:
        gc.enable()
