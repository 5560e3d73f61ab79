"""Migrations 0019 and 0021 fill the monthly tables' township and county rows, and the presence year rows, from the
visits stored before them (an installation upgrading)."""

import importlib
import uuid
from datetime import date
from types import SimpleNamespace

import pytest
from django.apps import apps as global_apps
from django.db import connection

from agri.models import DivisionMonth, HexMonth, PresenceMonth, Visit, VisitRollup

pytestmark = pytest.mark.django_db

MONTHLY = (DivisionMonth, HexMonth, PresenceMonth)


def _rows(model) -> list[tuple]:
    fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
    return sorted(model.objects.values_list(*fields))


def test_the_migration_fills_the_monthly_tables_from_stored_visits(posted):
    expected = {model: _rows(model) for model in MONTHLY}
    daily = _rows(VisitRollup)
    assert all(expected.values())  # the posted visits were counted as they were written
    # As an installation has them just after 0018: the village-grain rows of 0016's fill, no coarser ones.
    for model in (DivisionMonth, HexMonth):
        assert model.objects.exclude(grain="v").exists()
        model.objects.exclude(grain="v").delete()
    migration = importlib.import_module("agri.migrations.0019_fill_rollup_grains")
    migration.fill(global_apps, None)
    assert {model: _rows(model) for model in MONTHLY} == expected
    assert _rows(VisitRollup) == daily  # the daily rollup, already right, is left as it was


def test_the_migration_fills_the_presence_year_rows_from_stored_visits(posted):
    expected = {model: _rows(model) for model in MONTHLY}
    daily = _rows(VisitRollup)
    # As an installation has them just after 0020: the month rows (span "m", the column's default), no year rows.
    years = PresenceMonth.objects.filter(span="y")
    assert years.exists() and years.count() < PresenceMonth.objects.filter(span="m").count()
    years.delete()
    migration = importlib.import_module("agri.migrations.0021_fill_presence_year_rows")
    migration.fill(global_apps, None)
    assert {model: _rows(model) for model in MONTHLY} == expected
    assert _rows(VisitRollup) == daily


def test_the_migration_fills_the_division_and_cell_year_rows_from_the_month_rows(posted):
    client, _visits, _worker = posted
    world_visit = Visit.objects.filter(deleted_at__isnull=True).exclude(household=None).first()
    # Visits in three months of an earlier year, so that a year row sums several month rows.
    for started in ("2025-03-10T09:00:00+08:00", "2025-07-20T09:00:00+08:00", "2025-07-28T15:00:00+08:00"):
        body = {
            "id": str(uuid.uuid4()),
            "household": str(world_visit.household_id),
            "kind": "guidance",
            "started_at": started,
            "lat": world_visit.lat,
            "lon": world_visit.lon,
            "participants": 2,
        }
        response = client.post("/api/v1/visits/", body, format="json")
        assert response.status_code == 201, response.content
    assert DivisionMonth.objects.filter(span="y", month=date(2025, 1, 1), visits=3, last_day=date(2025, 7, 28)).exists()
    expected = {model: _rows(model) for model in MONTHLY}
    daily = _rows(VisitRollup)
    # As an installation has them just before 0027's fill: the month rows (span "m", the column's default) only.
    for model in (DivisionMonth, HexMonth):
        years = model.objects.filter(span="y")
        assert years.exists() and years.count() <= model.objects.filter(span="m").count()
        years.delete()
    migration = importlib.import_module("agri.migrations.0027_rollup_year_rows")
    migration.fill(global_apps, SimpleNamespace(connection=connection))
    assert {model: _rows(model) for model in MONTHLY} == expected
    assert _rows(VisitRollup) == daily
