"""Stored times written as the API writes them (``aware.astimezone(tz).isoformat()``), for pages of many rows.

Two ways, giving the same text:

- ``local_text(column, tz)``: in the query itself, when the zone changed its offset only a few times between
  ``EARLIEST_TIME`` and ``LATEST_TIME`` (China's: twelve times, the summers of 1986 to 1991): the offset is a
  ``CASE`` over those instants and the database formats the text, so the rows reach Python finished;
- ``LocalTimes``: in Python, for zones with daylight saving every year, from ``UTCText``'s text or from datetimes.
"""

import datetime as dt
import functools

from django.db.models import Func, TextField

from agri.models.base import EARLIEST_TIME, LATEST_TIME, UTCText

# More changes of offset than this (zones with daylight saving every year): LocalTimes instead of a CASE.
MOST_TRANSITIONS = 32


def offset_text(offset: dt.timedelta) -> str:
    """An offset as ``isoformat`` ends an aware time: ``+08:00``, ``-03:30``, ``+00:00``."""
    return dt.datetime(2000, 1, 1, tzinfo=dt.timezone(offset)).isoformat()[19:]


@functools.lru_cache(maxsize=16)
def transitions(tz) -> tuple[tuple[dt.datetime, dt.timedelta], ...]:
    """``(instant, offset from then on)`` for each change of ``tz``'s offset between ``EARLIEST_TIME`` and
    ``LATEST_TIME``, after the offset at ``EARLIEST_TIME`` (instants are aware UTC times, to the second)."""
    day = dt.timedelta(days=1)
    at, offset = EARLIEST_TIME, EARLIEST_TIME.astimezone(tz).utcoffset()
    found = [(EARLIEST_TIME, offset)]
    while at < LATEST_TIME:
        following = (at + day).astimezone(tz).utcoffset()
        if following != offset:  # a change within the day: find its second
            low, high = at, at + day
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(tz).utcoffset() == offset else (low, middle)
            found.append((high.replace(microsecond=0), following))
            offset = following
        at += day
    return tuple(found)


class LocalText(Func):
    """A time column as ISO 8601 text in a zone with few changes of offset (see the module)."""

    output_field = TextField()

    def __init__(self, column: str, changes, **extra):
        super().__init__(column, **extra)
        self.changes = changes

    def _column(self, compiler) -> str:
        sql, params = compiler.compile(self.source_expressions[0])
        if params:  # a column reference has none; the SQL below repeats it
            raise ValueError("LocalText takes a column")
        return sql

    def _case(self, compared: str, instant, value) -> tuple[str, list]:
        """``CASE`` choosing ``value(offset)`` by the instant ``compared`` falls after (the latest first: most
        rows are recent)."""
        whens, params = [], []
        for at, offset in reversed(self.changes[1:]):
            whens.append(f"WHEN {compared} >= %s THEN %s")
            params += [instant(at), value(offset)]
        if not whens:
            return "%s", [value(self.changes[0][1])]
        return f"CASE {' '.join(whens)} ELSE %s END", [*params, value(self.changes[0][1])]

    def as_sql(self, compiler, connection, **extra_context):
        # SQLite stores ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC, with the fraction only when it is not zero (as
        # isoformat writes it): compare as text, shift with a date modifier, keep the stored fraction.
        text = f"CAST({self._column(compiler)} AS text)"
        stored = lambda at: at.replace(tzinfo=None).isoformat(" ")  # noqa: E731
        shift, shift_params = self._case(text, stored, lambda offset: f"{int(offset.total_seconds()):+d} seconds")
        suffix, suffix_params = self._case(text, stored, offset_text)
        # The whole seconds only go through strftime: SQLite keeps milliseconds and would round .999999 up.
        sql = (
            f"(strftime('%%Y-%%m-%%dT%%H:%%M:%%S', substr({text}, 1, 19), {shift}) "
            f"|| CASE WHEN length({text}) > 19 THEN substr({text}, 20) ELSE '' END || {suffix})"
        )
        return sql, [*shift_params, *suffix_params]

    def as_postgresql(self, compiler, connection, **extra_context):
        column = self._column(compiler)
        seconds, seconds_params = self._case(column, lambda at: at, lambda offset: int(offset.total_seconds()))
        suffix, suffix_params = self._case(column, lambda at: at, offset_text)
        local = f"(({column}) AT TIME ZONE 'UTC' + make_interval(secs => {seconds}))"
        sql = (
            f"(to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
            f"|| CASE WHEN extract(microseconds FROM {local})::int %% 1000000 <> 0 THEN to_char({local}, '.US') "
            f"ELSE '' END || {suffix})"
        )
        return sql, [*seconds_params * 3, *suffix_params]


def local_text(column: str, tz):
    """``column`` for a page's query: finished text in ``tz`` (``LocalText``) where the zone allows, else
    ``UTCText`` for ``LocalTimes``."""
    changes = transitions(tz)
    return LocalText(column, changes) if len(changes) <= MOST_TRANSITIONS else UTCText(column)


def finished(value):
    """A time that ``LocalText`` already wrote."""
    return value


class LocalTimes:
    """Stored times as ISO 8601 in ``tz``, the way ``aware.astimezone(tz).isoformat()`` writes them, for many values.

    A time zone's offset changes at a few instants a year at most, so the offset is looked up once per UTC day and
    added to each time of that day; a day whose first and last microsecond have different offsets (a transition
    falls in it) is converted value by value. Values are naive UTC times as text (SQLite's storage, or
    ``utc_text`` on PostgreSQL) or datetimes (aware, or naive UTC).
    """

    def __init__(self, tz):
        self.tz = tz
        self.days: dict = {}

    def __call__(self, value) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            key = value[:10]
            value = dt.datetime.fromisoformat(value)
        else:
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            key = value.date()
        day = self.days.get(key)
        if day is None:
            day = self.days[key] = self._day(value)
        if not day:
            return value.replace(tzinfo=dt.UTC).astimezone(self.tz).isoformat()
        offset, suffix = day
        return (value + offset).isoformat() + suffix

    def _day(self, value: dt.datetime) -> tuple[dt.timedelta, str] | tuple[()]:
        start = dt.datetime.combine(value.date(), dt.time(), tzinfo=dt.UTC).astimezone(self.tz)
        end = (start + dt.timedelta(days=1, microseconds=-1)).astimezone(self.tz)
        offset = start.utcoffset()
        if offset != end.utcoffset():
            return ()
        return offset, dt.datetime(2000, 1, 1, tzinfo=dt.timezone(offset)).isoformat()[19:]
