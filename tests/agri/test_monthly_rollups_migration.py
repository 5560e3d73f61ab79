"""Migration 0016 fills the monthly tables from the visits stored before them (an installation upgrading)."""

import importlib

import pytest
from django.apps import apps as global_apps

from agri.models import DivisionMonth, HexMonth, PresenceMonth, VisitRollup

pytestmark = pytest.mark.django_db

MONTHLY = (DivisionMonth, HexMonth, PresenceMonth)


def _rows(model) -> list[tuple]:
    fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
    return sorted(model.objects.values_list(*fields))


def test_the_migration_fills_the_monthly_tables_from_stored_visits(posted):
    expected = {model: _rows(model) for model in MONTHLY}
    daily = _rows(VisitRollup)
    assert all(expected.values())  # the posted visits were counted as they were written
    for model in MONTHLY:  # as an installation has them just after 0015: empty beside a year of visits
        model.objects.all().delete()
    migration = importlib.import_module("agri.migrations.0016_fill_monthly_rollups")
    migration.fill(global_apps, None)
    assert {model: _rows(model) for model in MONTHLY} == expected
    assert _rows(VisitRollup) == daily  # the daily rollup, already right, is left as it was
