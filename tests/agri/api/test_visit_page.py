"""The bulk visit renderer (``visit_page``) shows what the per-visit path shows, on SQLite and PostgreSQL.

The sync feed renders pages of 1,000 visits through ``visit_page``, which runs the SQL Django compiles but hands the
cursor's raw values to ``visit_object`` (hex or UUID text, naive UTC times on SQLite, JSON as text) instead of going
through Django's conversions. These tests hold it to the ``.values()`` path over visits that use every shape a column
can take (no household, attendees, varieties, a deleted visit, no end time, times with and without microseconds),
and the API's own answer for each visit.
"""

import pytest
from django.utils import timezone

from agri.api.visit_serializers import VISIT_VALUES, render_rows, visit_page
from agri.models import User, Visit
from agri.models.visits import POINT_FIELDS, TARGET_COLUMNS

pytestmark = pytest.mark.django_db


def test_a_viewers_page_is_coarsened_the_same_way_on_both_paths(posted):
    """Bureau viewers get positions at cell centres (``agri.privacy``): the bulk path applies the same rule."""
    client, visits, worker = posted
    viewer = User.objects.get(username="viewer")
    coarse = visit_page(visits, "wgs84", viewer)
    assert coarse == render_rows(visits.values(*VISIT_VALUES), "wgs84", viewer)
    exact = visit_page(visits, "wgs84", worker)
    assert [(o["lat"], o["lon"]) for o in coarse] != [(o["lat"], o["lon"]) for o in exact]


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
    client, visits, user = posted
    fast = visit_page(visits, "wgs84", user)
    assert fast == render_rows(visits.values(*VISIT_VALUES), "wgs84", user)
    assert visit_page(visits, "cgcs2000", user) == render_rows(visits.values(*VISIT_VALUES), "cgcs2000", user)
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
    client, visits, user = posted
    for item in visit_page(visits.filter(deleted_at__isnull=True), "wgs84", user):
        response = client.get(f"/api/v1/visits/{item['id']}/")
        assert response.status_code == 200, response.content
        assert response.json() == item


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
)
def test_local_times_write_what_astimezone_writes(zone):
    """``LocalTimes`` works each UTC hour out once: across daylight-saving changes (whole and half hours), offsets
    that are not whole hours, around midnight and with or without microseconds, each time reads as
    ``astimezone(zone).isoformat()``, from datetimes, from SQLite's text and from PostgreSQL's (``.000000``)."""
    import datetime as dt
    import random
    import zoneinfo

    from agri.api.times import LocalTimes

    tz = zoneinfo.ZoneInfo(zone)
    rng = random.Random(zone)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    times = [start + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400)) for _ in range(2_000)]
    times += [t.replace(microsecond=rng.randrange(1_000_000)) for t in times[:1_000]]
    # Every minute of the days with a transition in 2024: the day's offset changes inside it.
    for day in (dt.datetime(2024, 3, 10, tzinfo=dt.UTC), dt.datetime(2024, 4, 6, tzinfo=dt.UTC)):
        times += [day + dt.timedelta(minutes=m) for m in range(2 * 24 * 60)]
    time = LocalTimes(tz)
    expected = [t.astimezone(tz).isoformat() for t in times]
    assert [time(t) for t in times] == expected  # aware datetimes (Django's path)
    as_text = [t.replace(tzinfo=None).isoformat(" ") for t in times]
    assert [LocalTimes(tz)(t) for t in as_text] == expected  # naive UTC text (the cursor's path)
    # PostgreSQL's timestamp text leaves the fraction's trailing zeros out (and all of it when zero)
    as_postgresql = [t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") for t in times]
    assert [LocalTimes(tz)(t) for t in as_postgresql] == expected
    padded = [t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for t in times]  # and six digits, zeros kept
    assert [LocalTimes(tz)(t) for t in padded] == expected
    assert time(None) is None


def test_utc_text_is_the_stored_time_as_text_on_both_databases(posted):
    """``UTCText`` hands the driver text (SQLite's driver would otherwise parse a bare datetime column by its
    declared type), and that text is the stored UTC time."""
    from agri.models.base import UTCText, utc_time

    _client, visits, _worker = posted
    rows = list(visits.values_list("updated_at", UTCText("updated_at"), UTCText("ended_at")))
    assert rows and all(isinstance(text, str) for _at, text, _end in rows)
    assert [utc_time(text) for _at, text, _end in rows] == [at for at, _text, _end in rows]
    assert any(end is None for _at, _text, end in rows)  # a visit with no end time stays null


def offset_changes(tz, start, end) -> list:
    """The instants (aware UTC, to the second) at which ``tz`` changed its offset between ``start`` and ``end``."""
    import datetime as dt

    day, found = dt.timedelta(days=1), []
    at, offset = start, start.astimezone(tz).utcoffset()
    while at < end:
        following = (at + day).astimezone(tz).utcoffset()
        if following != offset:
            low, high = at, at + day
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(tz).utcoffset() == offset else (low, middle)
            found.append(high.replace(microsecond=0))
            offset = following
        at += day
    return found


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Asia/Kathmandu"])
def test_page_times_are_written_as_astimezone_writes_them(posted, zone):
    """Each time of a page reads as ``astimezone(zone).isoformat()``: in China's summers of 1986-1991, at the
    instants of change and a microsecond before, in a zone with a change twice a year, and in one whose offset is
    not whole hours (Kathmandu, +05:45 since 1986), where the page converts value by value."""
    import datetime as dt
    import zoneinfo

    tz = zoneinfo.ZoneInfo(zone)
    instants = offset_changes(tz, dt.datetime(1985, 1, 1, tzinfo=dt.UTC), dt.datetime(1992, 1, 1, tzinfo=dt.UTC))
    assert instants, zone  # each zone changed at least once in those years
    instants = instants[:3]
    moments = [
        *instants,
        *(at - dt.timedelta(microseconds=1) for at in instants),
        dt.datetime(1988, 7, 1, 3, 4, 5, 600, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 30, 18, 15, tzinfo=dt.UTC),
        dt.datetime(2099, 12, 31, 16, 0, 0, 999999, tzinfo=dt.UTC),
    ]
    _client, visits, worker = posted
    keys = list(visits.values_list("pk", flat=True))
    assert len(moments) >= len(keys)  # every visit gets a moment (and an end time)
    for key, at in zip(keys, moments, strict=False):
        Visit.objects.filter(pk=key).update(started_at=at, ended_at=at + dt.timedelta(hours=1))
    with timezone.override(tz):
        page = visit_page(visits, "wgs84", worker)
        assert page == render_rows(visits.values(*VISIT_VALUES), "wgs84", worker)
    stored = {str(v.pk): v for v in visits}
    for item in page:
        assert item["started_at"] == stored[item["id"]].started_at.astimezone(tz).isoformat()
        assert item["ended_at"] == stored[item["id"]].ended_at.astimezone(tz).isoformat()
        assert item["updated_at"] == stored[item["id"]].updated_at.astimezone(tz).isoformat()
