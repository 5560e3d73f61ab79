"""Migration 0026 fills the team expert of the visits stored before it (an installation upgrading), in one UPDATE
that logs no sync change; the triggers that keep the column from then on are installed by every ``migrate`` only
where the column exists."""

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps as global_apps
from django.db import connection

from agri.changelog import statements
from agri.models import Change, Visit
from tests.support import stored_visit

pytestmark = pytest.mark.django_db


def _teams() -> dict:
    return dict(Visit.objects.values_list("id", "team_expert_id"))


def test_the_migration_fills_every_stored_visits_team_and_logs_nothing(world):
    actors = [{"worker": world["W1"]}, {"worker": world["W2"]}, {"worker": world["W3"]}]
    actors += [{"expert": world["E1"]}, {"expert": world["E2"]}, {"commissioner": world["C1"]}]
    made = [stored_visit(world, **actor) for actor in actors]
    Visit.objects.filter(pk=made[0].pk).update(deleted_at=datetime(2025, 6, 1, tzinfo=UTC))  # a tombstone too
    expected = _teams()
    assert [expected[v.pk] for v in made] == [world[n].pk if n else None for n in ("E1", "E1", "E2", "E1", "E2", None)]
    # As 0026's new column leaves them (and a wrong one, which the fill corrects).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE agri_visit SET team_expert_id = NULL")
        cursor.execute(
            "UPDATE agri_visit SET team_expert_id = %s WHERE worker_id = %s", [world["E2"].pk, world["W2"].pk]
        )
    logged = Change.objects.count()
    migration = importlib.import_module("agri.migrations.0026_visit_team_expert")
    migration.fill(global_apps, None)
    assert _teams() == expected
    assert Change.objects.count() == logged


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_the_team_triggers_are_installed_only_where_the_column_is(vendor):
    """A database migrated back before 0026 gets the change-log triggers without them, its visit trigger firing on
    an UPDATE of the columns it has."""
    before = " ".join(statements(vendor, create=True, columns={"agri_visit": ["id", "expert_id", "notes"]}))
    assert "agri_visit_team" not in before and "agri_worker_team" not in before
    assert 'UPDATE OF "id", "expert_id", "notes"' in before
    after = " ".join(statements(vendor, create=True, columns={"agri_visit": ["id", "team_expert_id", "notes"]}))
    assert "agri_visit_team" in after and "agri_worker_team" in after
    assert 'UPDATE OF "id", "notes"' in after
    # Dropping names every trigger, whatever the columns.
    drops = " ".join(statements(vendor, create=False))
    assert "agri_visit_team" in drops and "agri_worker_team" in drops
