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
