"""The API's JSON renderer (orjson) writes the bytes DRF's own renderer writes, for every kind of value a view
returns: dates (a map's thousands of ``last_visit``), datetimes with and without microseconds or a zone, times,
decimals, UUIDs, lazy translations, non-string keys (nested too) and the characters JSON in a script must escape."""

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from agri.api.renderers import GeoJSONRenderer, JSONRenderer

VALUES = {
    "date": date(2025, 3, 9),
    "dates": [date(2024, 12, 31), date(1999, 1, 1), None],
    "datetime_utc": datetime(2025, 3, 9, 8, 30, tzinfo=UTC),
    "datetime_micro": datetime(2025, 3, 9, 8, 30, 5, 123456, tzinfo=UTC),
    "datetime_shanghai": datetime(2025, 3, 9, 16, 30, tzinfo=timezone(timedelta(hours=8))),
    "datetime_naive": datetime(2025, 3, 9, 8, 30, 5, 120000),  # noqa: DTZ001 (a naive one, as DRF writes it)
    "datetime_zoneinfo": datetime(2025, 3, 9, 16, 30, 1, 5, tzinfo=ZoneInfo("Asia/Shanghai")),
    "datetime_zero_offset": datetime(2025, 1, 9, 8, 30, tzinfo=ZoneInfo("Europe/London")),  # "Z", as DRF writes it
    "datetime_min": datetime(1, 1, 1, tzinfo=UTC),
    "times": [time(0, 0), time(23, 59, 59, 999999)],
    "time": time(7, 5, 30, 250000),
    "decimal": Decimal("12.50"),
    "uuid": uuid.UUID("7f1b1c52-5d59-4d4e-9a57-6c1f2f0a8b11"),
    "lazy": gettext_lazy("visits"),
    "keys": {1: "one", 2.5: "two and a half"},
    "nested_keys": [{"a": 1}, {"b": {True: None, None: 3, 7: date(2025, 1, 1)}}],
    "text": "云阳县 杏家湾社区 \u2028 \u2029 </script>",
    "nested": {"features": [{"properties": {"last_visit": date(2025, 12, 1), "coverage": 0.4567}}]},
}


@pytest.mark.parametrize("renderer", [JSONRenderer, GeoJSONRenderer])
@pytest.mark.parametrize("key", list(VALUES))
def test_the_renderer_writes_what_drfs_writes(renderer, key):
    data = {key: VALUES[key]}
    assert renderer().render(data) == DRFJSONRenderer().render(data)


def test_a_date_is_written_as_its_iso_day():
    assert JSONRenderer().render({"last_visit": date(2025, 3, 9)}) == b'{"last_visit":"2025-03-09"}'


def test_an_offset_with_seconds_is_rounded_to_the_minute():
    """The one place the bytes differ from DRF's: orjson rounds an offset to the minute (only historical local mean
    times have seconds, e.g. Shanghai's +08:05:43 before 1928)."""
    shanghai_lmt = datetime(1900, 6, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai"))

    assert DRFJSONRenderer().render({"t": shanghai_lmt}) == b'{"t":"1900-06-01T12:00:00+08:05:43"}'
    assert JSONRenderer().render({"t": shanghai_lmt}) == b'{"t":"1900-06-01T12:00:00+08:06"}'


def test_a_value_nothing_can_encode_is_still_an_error():
    with pytest.raises(TypeError):
        JSONRenderer().render({"value": object()})
