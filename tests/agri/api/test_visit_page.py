"""The bulk visit renderer (``visit_page``) shows what the per-visit path shows, on SQLite and PostgreSQL.

The sync feed renders pages of 1,000 visits through ``visit_page``, which runs the SQL Django compiles but hands the
cursor's raw values to ``visit_object`` (hex or UUID text, naive UTC times on SQLite, JSON as text) instead of going
through Django's conversions. These tests hold it to the ``.values()`` path over visits that use every shape a column
can take (no household, attendees, varieties, a deleted visit, no end time, times with and without microseconds),
and the API's own answer for each visit.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from agri.api.visit_serializers import VISIT_VALUES, render_rows, visit_page
from agri.models import Visit
from agri.models.visits import POINT_FIELDS, TARGET_COLUMNS
from tests.agri.map_support import HOME_LAT, HOME_LON, map_world, visit_body
from tests.support import build_world, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted():
    world = map_world(build_world())
    client = login(world.users["worker"])
    whole_second = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    bodies = [
        visit_body(world, "H1", HOME_LON, HOME_LAT),
        visit_body(world, "H1", HOME_LON, HOME_LAT, kind="training", attendees=[str(world["F1"].pk)], participants=30),
        visit_body(world, "H1", HOME_LON, HOME_LAT, kind="new_variety", introduced=["渝橘1号", "春见"]),
        {**visit_body(world, "H1", HOME_LON, HOME_LAT, notes=""), "household": None, "base": world["B1"].pk},
        visit_body(world, "H1", HOME_LON, HOME_LAT, started_at=whole_second.isoformat(), ended_at=None),
        visit_body(world, "H1", HOME_LON, HOME_LAT, mock_location=True, accuracy_m=None, altitude_m=None),
    ]
    for body in bodies:
        response = client.post("/api/v1/visits/", body, format="json")
        assert response.status_code == 201, response.content
    deleted = client.delete(f"/api/v1/visits/{bodies[0]['id']}/")
    assert deleted.status_code == 204, deleted.content
    return client, Visit.objects.order_by("pk")


def test_visit_object_reads_the_columns_in_this_order():
    """``visit_object`` unpacks a row by position: the column list may not change under it."""
    assert VISIT_VALUES == (
        "id", "kind", "industry__code", *TARGET_COLUMNS, "started_at", "ended_at", *POINT_FIELDS, "notes",
        "participants", "introduced", "photos_expected", "photos_present", "division_id", "township_code",
        "flag_bits", "expert_id", "worker_id", "commissioner_id", "received_at", "updated_at", "deleted_at",
    )  # fmt: skip
    assert TARGET_COLUMNS == ("household_id", "farmer_id", "base_id", "station_id", "village_id")
    assert POINT_FIELDS == ("lat", "lon", "accuracy_m", "altitude_m", "source_crs", "mock_location")


def test_a_page_from_the_cursor_is_the_page_from_django(posted):
    client, visits = posted
    fast = visit_page(visits, "wgs84")
    assert fast == render_rows(visits.values(*VISIT_VALUES), "wgs84")
    assert visit_page(visits, "cgcs2000") == render_rows(visits.values(*VISIT_VALUES), "cgcs2000")
    # Every shape the fixture meant to cover is there, typed as the API types it.
    assert len(fast) == 6
    assert sum(item["deleted"] is True for item in fast) == 1
    assert any(item["household"] is None and item["base"] for item in fast)
    assert any(item["introduced"] == ["渝橘1号", "春见"] for item in fast)
    assert any(item["attendees"] for item in fast)
    assert any(item["ended_at"] is None for item in fast)
    assert any(item["mock_location"] is True for item in fast)
    assert all(isinstance(item["mock_location"], bool) and item["started_at"].endswith("+08:00") for item in fast)


def test_each_visit_of_the_page_is_what_the_api_answers_for_it(posted):
    client, visits = posted
    for item in visit_page(visits.filter(deleted_at__isnull=True), "wgs84"):
        response = client.get(f"/api/v1/visits/{item['id']}/")
        assert response.status_code == 200, response.content
        assert response.json() == item
