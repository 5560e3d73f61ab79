"""Stored times written as the API writes them (``aware.astimezone(tz).isoformat()``), for pages of many rows.

A page's query reads its times as naive UTC text (``agri.models.base.UTCText``: SQLite's own storage, and the same
text from PostgreSQL), and ``LocalTimes`` writes them in the zone by their UTC hour: cheaper than the driver's
parsing into datetimes, and on SQLite than formatting in SQL (``strftime`` with the offset chosen by a ``CASE`` over
the zone's changes cost 7 µs a time, Python 0.3 µs).
"""

import datetime as dt
import functools


class LocalTimes:
    """Stored times as ISO 8601 in ``tz``, the way ``aware.astimezone(tz).isoformat()`` writes them, for many values.

    Values are naive UTC times as text (SQLite's storage, or ``UTCText`` on PostgreSQL) or datetimes (aware, or
    naive UTC). A zone's offset changes at a few instants a year at most, so text is converted by its UTC hour: the
    hour's local text and offset are worked out once (``_local_hour``, cached for the process: a year has 8,760
    hours) and the minutes, seconds and fraction are copied. An hour in which the offset changes, or whose offset is
    not a whole number of hours, and any other shape of value, is converted value by value.
    """

    def __init__(self, tz):
        self.tz = tz

    def __call__(self, value) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            if 19 <= len(value) <= 26 and (hour := _local_hour(self.tz, value[:13])) is not None:
                # isoformat's fraction: six digits, or none when zero (PostgreSQL leaves out trailing zeros)
                fraction = value[19:].ljust(7, "0") if len(value) > 20 else ""
                return f"{hour[0]}{value[13:19]}{'' if fraction == '.000000' else fraction}{hour[1]}"
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.tz).isoformat()


@functools.lru_cache(maxsize=65_536)
def _local_hour(tz, hour: str) -> tuple[str, str] | None:
    """For the UTC hour ``hour`` (``YYYY-MM-DD HH``): the local ``YYYY-MM-DDTHH`` its times start with and the
    offset they end with, or None where the offset changes within the hour or is not whole hours."""
    try:
        start = dt.datetime.fromisoformat(f"{hour}:00:00").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    local = start.astimezone(tz)
    offset = local.utcoffset()
    last = (start + dt.timedelta(hours=1, microseconds=-1)).astimezone(tz).utcoffset()
    if offset != last or offset % dt.timedelta(hours=1):
        return None
    text = local.isoformat()
    return text[:13], text[-6:]
