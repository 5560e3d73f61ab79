"""Later pages of a pull give the database one lower bound on the key it walks.

Given two (``updated_at >= since`` and the cursor's ``updated_at > position``; the token's horizon and its page
cursor on the change log's ``seq``), SQLite walks the index from the lower one: each page of a long pull read every
row of the pages before it again (the sync feed's bench: 3 ms a page at the start of a 100-page walk, 22 ms at the
end). The answers stay the same, a cursor placed before ``updated_since`` included.
"""

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agri.models import Visit

pytestmark = pytest.mark.django_db


def _bounds(sql: str, column: str) -> int:
    """How many lower bounds ``sql`` puts on ``column`` (``>`` or ``>=`` a value)."""
    return len(re.findall(rf'"{column}" >=? ', sql))


def test_a_pulls_later_pages_bound_updated_at_once(posted):
    client, visits, _worker = posted
    since = "2000-01-01T00:00:00Z"
    first = client.get("/api/v1/visits/", {"updated_since": since, "page_size": 2})
    assert first.status_code == 200, first.content
    url, seen = first.json()["next"], [v["id"] for v in first.json()["results"]]
    assert url
    while url:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        assert page.status_code == 200, page.content
        keys = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "LIMIT 3" in q["sql"]]
        assert len(keys) == 1 and _bounds(keys[0], "updated_at") == 1, keys
        seen += [v["id"] for v in page.json()["results"]]
        url = page.json()["next"]
    assert sorted(seen) == sorted(str(pk) for pk in visits.values_list("pk", flat=True))  # deleted one too


def test_a_cursor_before_updated_since_still_honours_it(posted):
    """A cursor is opaque, but one made by hand with a position before ``updated_since`` must not widen the pull."""
    client, visits, _worker = posted
    newest = visits.order_by("-updated_at").first()
    Visit.objects.filter(pk=newest.pk).update(updated_at=timezone.now() + timedelta(hours=1))
    since = (timezone.now() + timedelta(minutes=30)).isoformat()
    first = client.get("/api/v1/visits/", {"updated_since": "2000-01-01T00:00:00Z", "page_size": 2})
    cursor = parse_qs(urlparse(first.json()["next"]).query)["cursor"][0]
    decoded = parse_qs(base64.b64decode(cursor.encode()).decode())
    assert "p" in decoded  # a position the server put there, before `since`
    page = client.get("/api/v1/visits/?" + urlencode({"updated_since": since, "page_size": 2, "cursor": cursor}))
    assert page.status_code == 200, page.content
    assert [v["id"] for v in page.json()["results"]] == [str(newest.pk)]


# Committed for real, as tests/agri/api/test_sync.py: on PostgreSQL the token's horizon is a snapshot, and a snapshot
# sees its own transaction's writes, so the updates below must not share a transaction with the first pull.
@pytest.mark.django_db(transaction=True)
def test_the_sync_feeds_later_pages_bound_seq_once(posted):
    client, visits, _worker = posted
    first = client.get("/api/v1/sync/", {"page_size": 1000})
    assert first.status_code == 200, first.content
    token = first.json()["sync_token"]
    for visit in visits.filter(deleted_at__isnull=True):  # changes after the token's horizon
        Visit.objects.filter(pk=visit.pk).update(notes="changed")
        Visit.objects.get(pk=visit.pk).save(update_fields=["notes"])
    changed = set()
    url, params = "/api/v1/sync/", {"sync_token": token, "page_size": 2}
    while url:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url, params)
        assert page.status_code == 200, page.content
        log = [q["sql"] for q in queries.captured_queries if "agri_change" in q["sql"] and "LIMIT 2" in q["sql"]]
        assert len(log) == 1, log
        if connection.vendor == "sqlite":
            assert _bounds(log[0], "seq") == 1, log[0]
        changed |= {i["id"] for i in page.json()["results"] if i["type"] == "visit" and not i.get("deleted")}
        url, params = page.json()["next"], None
    assert changed == {str(pk) for pk in visits.filter(deleted_at__isnull=True).values_list("pk", flat=True)}
