"""Visit counts rolled up on write, so that coverage reads cost what the network and the calendar cost, not the
number of visits.

One row per (day, village the point lies in, township, scope, industry, kind, actor, target household). That grain
is the coarsest from which every coverage figure is a plain GROUP BY:

- visits and participants per division, industry, kind and period: SUM over the row counts;
- distinct households visited: the household is part of the key, so "which households had a visit between two
  dates" is a DISTINCT over rows, never over visits;
- active workers and commissioners: the actor is part of the key (COUNT DISTINCT);
- last visit: MAX(day).

A person can only be in so many places a day, so the row count is bounded by people (and households) x days,
not by visits: repeated visits by one worker to one household on one day, or a day of trainings in one village,
collapse into one row. The household in the key is what keeps "distinct households visited" a GROUP BY; it
also means that where most visits are one per household and day, as in the demo (7,633 rows for 7,674
visits), the rollup is about as long as the visit table, though narrow, free of tombstones and indexed for
these reads. A coarser grain (month, or no household) would be shorter but could not answer a date range or
count distinct households.

Key columns are NOT NULL, with a sentinel meaning "none" ("" for codes, 0 for ids, the nil UUID for the
household), because a unique constraint treats NULLs as distinct on SQLite and PostgreSQL alike and the upserts
in ``agri.services.rollups`` need the constraint to match. The ids are plain integers, not foreign keys: a rollup
row must never stop a person or household from being deleted, and ``rebuild_rollups`` can always recompute it.
"""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

NO_CODE = ""
NO_ID = 0
NO_HOUSEHOLD = uuid.UUID(int=0)

ROLLUP_KEY = (
    "day",
    "division_code",
    "township_code",
    "scope_code",
    "industry_key",
    "kind",
    "expert_key",
    "worker_key",
    "commissioner_key",
    "household_key",
)


class VisitRollup(models.Model):
    """Live visits counted per day, village, township, scope, industry, kind, actor and target household."""

    day = models.DateField(_("visit date (Asia/Shanghai)"))
    division_code = models.CharField(_("village code"), max_length=12, blank=True)
    township_code = models.CharField(_("township code"), max_length=12, blank=True)
    scope_code = models.CharField(_("scope code"), max_length=12)
    industry_key = models.PositiveIntegerField(_("industry id (0: none)"))
    kind = models.CharField(_("kind"), max_length=20)
    expert_key = models.PositiveBigIntegerField(_("expert id (0: none)"))
    worker_key = models.PositiveBigIntegerField(_("worker id (0: none)"))
    commissioner_key = models.PositiveBigIntegerField(_("commissioner id (0: none)"))
    household_key = models.UUIDField(_("target household id (nil: not a household)"))
    visits = models.IntegerField(_("visits"))
    participants = models.BigIntegerField(_("participants"))

    class Meta:
        verbose_name = _("visit rollup row")
        verbose_name_plural = _("visit rollup")
        constraints = [models.UniqueConstraint(fields=ROLLUP_KEY, name="visit_rollup_key")]
        indexes = [
            models.Index(fields=["division_code", "day"], name="rollup_division_day"),
            models.Index(fields=["township_code", "day"], name="rollup_township_day"),
            # Jurisdictions are code prefixes: see Visit's visit_scope_date for the operator class.
            models.Index(
                fields=["scope_code", "day"], name="rollup_scope_day", opclasses=["varchar_pattern_ops", "date_ops"]
            ),
            models.Index(fields=["household_key", "day"], name="rollup_household_day"),
        ]

    def __str__(self):
        return f"{self.day} {self.division_code or '-'} {self.kind}: {self.visits}"


# ---------------------------------------------------------------- monthly tables
#
# Month grain, for coverage over whole months (see agri.selectors.coverage): their size follows divisions, cells
# and people x months, not visits. ``month`` is the first day of the month (Asia/Shanghai dates, like ``day``).
# Each visit counts in a detail row (its industry and kind) and in a total row (ALL_INDUSTRIES, ALL_KINDS), so that
# the unfiltered read, the common one, reads one row per division (or cell) and month.

ALL_INDUSTRIES = -1
ALL_KINDS = ""

MONTH_KEY = ("month", "span", "grain", "division_code", "township_code", "scope_code", "industry_key", "kind")
HEX_MONTH_KEY = ("resolution", "cell", "month", "span", "grain", "scope_code", "industry_key", "kind")
PRESENCE_KEY = (
    "month",
    "span",
    "role",
    "grain",
    "person_key",
    "household_key",
    "division_code",
    "township_code",
    "scope_code",
    "industry_key",
    "kind",
)


# Division and person rows come at three grains (cell rows at two), so that a township or county map sums visits
# (counts distinct people) over one row per place (and person) and month rather than one per village: the grain's
# place columns, and the scope cut to the grain's digits (a jurisdiction no longer than that matches the cut scope
# exactly as it matches the whole one).
GRAIN_VILLAGE, GRAIN_TOWNSHIP, GRAIN_COUNTY, GRAIN_PROVINCE = "v", "t", "c", "p"
GRAIN_SCOPE_DIGITS = {GRAIN_VILLAGE: 12, GRAIN_TOWNSHIP: 9, GRAIN_COUNTY: 6, GRAIN_PROVINCE: 2}
# The resolutions whose cells also have county and province rows (an r9 cell, a few hundred metres across, seldom
# holds more than one village's scope: its village rows are what coarser ones would be).
COARSE_CELL_RESOLUTIONS = (5, 7)


# A row counts a month's visits or a whole year's (``month`` is then the year's first day), so that a period of
# whole years reads one row per place (cell, person) and year rather than one per month, however many of the year's
# months have visits: the read's rows follow the places in the answer, not the visits' spread over the year.
SPAN_MONTH, SPAN_YEAR = "m", "y"


def period_label(month, span: str) -> str:
    """A row's period as people write it: ``2025`` for a year row, ``2025-03`` for a month row."""
    return f"{month:%Y}" if span == SPAN_YEAR else f"{month:%Y-%m}"


class Presence(models.TextChoices):
    HOUSEHOLD = "h", _("household visited")
    WORKER = "w", _("extension worker active")
    COMMISSIONER = "c", _("tech commissioner active")


class DivisionMonth(models.Model):
    """Live visits per month, place, industry and kind (plus a total row per month and place), at three grains like
    :class:`PresenceMonth`'s person rows: ``v`` (village, township and scope, as the visit has them), ``t``
    (township only, scope cut to 9 digits; visits with a township) and ``c`` (the village code's county, its first 6
    digits, in ``division_code``, scope cut to 6 digits; visits with a village). A township or county map of a
    jurisdiction no longer than the grain's scope reads one row per township (county), scope cut and month instead
    of one per village.

    No person and no household in the key: a village has a few dozen rows a year whatever its visits. ``last_day``
    is the latest visit date of the row's visits. ``span``: every row comes twice, per month (``m``) and per year
    (``y``, ``month`` the year's first day), so that a year's map reads one row per place, not up to twelve."""

    month = models.DateField(_("month (first day)"))
    span = models.CharField(_("span (m: month, y: year)"), max_length=1, default=SPAN_MONTH)
    grain = models.CharField(_("place grain (v, t, c)"), max_length=1)
    division_code = models.CharField(_("village code"), max_length=12, blank=True)
    township_code = models.CharField(_("township code"), max_length=12, blank=True)
    scope_code = models.CharField(_("scope code"), max_length=12)
    industry_key = models.IntegerField(_("industry id (0: none, -1: all)"))
    kind = models.CharField(_("kind (empty: all)"), max_length=20, blank=True)
    visits = models.IntegerField(_("visits"))
    participants = models.BigIntegerField(_("participants"))
    last_day = models.DateField(_("last visit date"))

    class Meta:
        verbose_name = _("monthly visit rollup row")
        verbose_name_plural = _("monthly visit rollup")
        constraints = [models.UniqueConstraint(fields=MONTH_KEY, name="division_month_key")]
        indexes = [
            # Reads filter on the grain, (industry, kind) = (all, all) or a detail pair, then a scope range and a month
            # range (scope_code >= prefix AND scope_code < the next prefix: a plain B-tree serves it on both databases).
            # The scope comes first, so that a county's read scans its own rows, not every county's in the period.
            # The columns the read takes follow, so that the index covers it (no table lookups).
            models.Index(
                fields=[
                    "grain",
                    "industry_key",
                    "kind",
                    "span",
                    "scope_code",
                    "month",
                    "division_code",
                    "township_code",
                    "visits",
                    "last_day",
                ],
                name="division_month_grain_read",
            ),
            # A whole province's (city's) township map: the township total rows of the period, span and month first,
            # so that the read scans the period's rows of every county once rather than every year's of each scope;
            # the scope follows as an in-index filter. Total rows of the township grain only (a small index).
            models.Index(
                fields=["span", "month", "township_code", "scope_code", "visits", "last_day"],
                name="division_month_townships",
                condition=models.Q(grain=GRAIN_TOWNSHIP, industry_key=ALL_INDUSTRIES, kind=ALL_KINDS),
            ),
        ]

    def __str__(self):
        return f"{period_label(self.month, self.span)} {self.division_code or '-'} {self.kind or '*'}: {self.visits}"


class HexMonth(models.Model):
    """Live visits per H3 cell (resolutions 5, 7 and 9), month, scope, industry and kind (plus total rows), at
    grains of the scope: ``v`` (the visit's scope) at every resolution, and at resolutions 5 and 7 also ``c`` (the
    scope cut to its county's 6 digits) and ``p`` (cut to its province's 2), so that a jurisdiction of a county or
    a province reads one row per cell, county (province) and month, however many villages' scopes meet in a
    cell. Like :class:`DivisionMonth`, month rows and year rows (``span``)."""

    resolution = models.PositiveSmallIntegerField(_("H3 resolution"))
    cell = models.BigIntegerField(_("H3 cell"))
    month = models.DateField(_("month (first day)"))
    span = models.CharField(_("span (m: month, y: year)"), max_length=1, default=SPAN_MONTH)
    grain = models.CharField(_("scope grain (v, c, p)"), max_length=1)
    scope_code = models.CharField(_("scope code"), max_length=12)
    industry_key = models.IntegerField(_("industry id (0: none, -1: all)"))
    kind = models.CharField(_("kind (empty: all)"), max_length=20, blank=True)
    visits = models.IntegerField(_("visits"))
    last_day = models.DateField(_("last visit date"))

    class Meta:
        verbose_name = _("monthly hexagon rollup row")
        verbose_name_plural = _("monthly hexagon rollup")
        constraints = [models.UniqueConstraint(fields=HEX_MONTH_KEY, name="hex_month_key")]
        indexes = [
            # Covering: the cell and its counts follow the filtered columns.
            models.Index(
                fields=[
                    "resolution",
                    "grain",
                    "industry_key",
                    "kind",
                    "span",
                    "scope_code",
                    "month",
                    "cell",
                    "visits",
                    "last_day",
                ],
                name="hex_month_grain_read",
            ),
        ]

    def __str__(self):
        return f"r{self.resolution} {self.cell:x} {period_label(self.month, self.span)}: {self.visits}"


class PresenceMonth(models.Model):
    """Who a month's (or a year's) visits reached or involved, for the exact distinct counts: one row per (month,
    household) a visit targeted, and per (month, village, worker or commissioner) who visited there, with the visits
    counted (a row is deleted when its count falls to zero).

    Household rows (role ``h``, grain "") have no place ("" codes): a registered household counts as visited
    wherever the visit's point fell. Person rows have the place of the visits at three grains: ``v`` (village,
    township and scope, as the visit has them), ``t`` (township only, scope cut to 9 digits; visits with a
    township) and ``c`` (the village code's county, its first 6 digits, in ``division_code``, scope cut to 6 digits;
    visits with a village), and like :class:`DivisionMonth` a total row (ALL_INDUSTRIES, ALL_KINDS) next to the
    detail rows; household rows are detail only (an EXISTS per household reads its few rows).

    ``span``: person rows come twice, per month (``m``) and per year (``y``, ``month`` the year's first day, the
    visits of the whole year). People active over a period of whole months are the distinct (place, person) pairs
    of the year rows of its whole years and the month rows of the months left over: a year's read takes the
    distinct (place, person) pairs of the year once, not once per month they were active. Household rows are month
    rows only. Size: households x months plus people x villages (townships, counties) they visit x (months +
    years)."""

    month = models.DateField(_("month (first day)"))
    span = models.CharField(_("span (m: month, y: year)"), max_length=1, default=SPAN_MONTH)
    role = models.CharField(_("role"), max_length=1, choices=Presence.choices)
    grain = models.CharField(_("place grain (v, t, c; empty for households)"), max_length=1, blank=True)
    person_key = models.PositiveBigIntegerField(_("worker or commissioner id (0: a household row)"))
    household_key = models.UUIDField(_("household id (nil: a person row)"))
    division_code = models.CharField(_("village code"), max_length=12, blank=True)
    township_code = models.CharField(_("township code"), max_length=12, blank=True)
    scope_code = models.CharField(_("scope code"), max_length=12, blank=True)
    industry_key = models.IntegerField(_("industry id (0: none, -1: all)"))
    kind = models.CharField(_("kind (empty: all)"), max_length=20, blank=True)
    visits = models.IntegerField(_("visits"))

    class Meta:
        verbose_name = _("monthly presence row")
        verbose_name_plural = _("monthly presence")
        constraints = [models.UniqueConstraint(fields=PRESENCE_KEY, name="presence_month_key")]
        indexes = [
            # Whether one household was visited in a period (an EXISTS per household: a county's few hundred): its
            # rows of the period, index-only; household rows only (person rows all carry the nil household).
            models.Index(
                fields=["household_key", "month"], name="presence_household_probe", condition=models.Q(role="h")
            ),
            # The households visited in a period, for a read that takes them all at once (a province's thousands of
            # households: one range scan rather than one probe each); household rows only.
            models.Index(
                fields=["month", "household_key"], name="presence_household_rows", condition=models.Q(role="h")
            ),
            # Covering for the people-active read: the person and place columns follow the filtered ones.
            models.Index(
                fields=[
                    "grain",
                    "industry_key",
                    "kind",
                    "span",
                    "scope_code",
                    "month",
                    "role",
                    "person_key",
                    "division_code",
                    "township_code",
                ],
                name="presence_span_scope_read",
            ),
            # People active per township over a whole year (the township map of a province, a city or a county): the
            # year's township total rows in (township, role, person) order, so that the distinct count per township
            # and role streams out of the index (no hashing, no sort); the scope follows as an in-index filter.
            models.Index(
                fields=["month", "township_code", "role", "person_key", "scope_code"],
                name="presence_township_years",
                condition=models.Q(grain=GRAIN_TOWNSHIP, span=SPAN_YEAR, industry_key=ALL_INDUSTRIES, kind=ALL_KINDS),
            ),
        ]

    def __str__(self):
        period = period_label(self.month, self.span)
        return f"{period} {self.role} {self.person_key or self.household_key}: {self.visits}"


# The person rows that :class:`PresenceCount` counts: the total rows of the township and county grains.
COUNTED_GRAINS = (GRAIN_TOWNSHIP, GRAIN_COUNTY)
PRESENCE_COUNT_KEY = ("month", "span", "grain", "role", "division_code", "township_code", "scope_code")


class PresenceCount(models.Model):
    """How many workers (commissioners) were active in a township or county in a month or a year: the number of
    :class:`PresenceMonth` person rows of each (month, span, grain, role, place, scope), total rows only
    (``ALL_INDUSTRIES``, ``ALL_KINDS``) of the ``COUNTED_GRAINS``.

    A township's or county's people over one year (or one month) are then one row per place and role, however many
    people were active there: a province's township map reads 3,360 of these instead of distinct-counting some
    40,000 person rows. Exact because a place has one scope at these grains (a visit with a village has that
    village as its scope, so the cut scope of its township and county rows is their own code's), so that the rows
    counted for a place are its distinct people. Kept in the same transaction as the person rows, by the rollup
    writer (a row is added to when a person row appears and taken from when one is deleted; a row at zero is
    deleted), and rebuilt from them by ``rebuild_rollups``."""

    month = models.DateField(_("month (first day)"))
    span = models.CharField(_("span (m: month, y: year)"), max_length=1)
    grain = models.CharField(_("place grain (t, c)"), max_length=1)
    role = models.CharField(_("role"), max_length=1, choices=Presence.choices)
    division_code = models.CharField(_("village code"), max_length=12, blank=True)
    township_code = models.CharField(_("township code"), max_length=12, blank=True)
    scope_code = models.CharField(_("scope code"), max_length=12, blank=True)
    people = models.IntegerField(_("people"))

    class Meta:
        verbose_name = _("people active count")
        verbose_name_plural = _("people active counts")
        constraints = [models.UniqueConstraint(fields=PRESENCE_COUNT_KEY, name="presence_count_key")]
        indexes = [
            # The read (one month or year and grain, both roles, a range of places), index-only: the key and the
            # count. The key's own index would visit a table page for most of a province's 3,360 rows.
            models.Index(fields=[*PRESENCE_COUNT_KEY, "people"], name="presence_count_read"),
        ]

    def __str__(self):
        period = period_label(self.month, self.span)
        return f"{period} {self.role} {self.division_code or self.township_code}: {self.people}"
