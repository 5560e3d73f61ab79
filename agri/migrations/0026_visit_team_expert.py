"""A visit's team expert (``Visit.team_expert``): its own expert when an expert wrote it, else its worker's expert;
NULL for a commissioner's visit. An expert's list reads it through ``visit_team_started`` instead of an OR across a
join to the workers (docs/performance.md, "A jurisdiction's count, and an expert's list").

The database keeps the column from here on (triggers installed after every ``migrate`` with the change log's,
agri.changelog.team_sql); this migration fills it for the visits stored before, in one UPDATE. The change-log
triggers are dropped while ``migrate`` runs, and they do not fire on an UPDATE of the team alone anyway: the fill
logs no sync change. The index is built after the fill (one pass, not an entry moved per row), and the check that a
visit names one actor at most (as the service layer writes them) comes with it.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL = (
    "UPDATE agri_visit SET team_expert_id = COALESCE(expert_id, "
    "(SELECT w.expert_id FROM agri_extensionworker w WHERE w.id = agri_visit.worker_id)) "
    "WHERE expert_id IS NOT NULL OR worker_id IS NOT NULL"
)


def fill(apps, schema_editor):
    """Every stored visit's team expert (a commissioner's visit keeps NULL). ``schema_editor`` may be None: the
    default database."""
    from django.db import connection

    with (schema_editor.connection if schema_editor else connection).cursor() as cursor:
        cursor.execute(FILL)


class Migration(migrations.Migration):
    dependencies = [
        ("agri", "0025_presence_count"),
    ]

    operations = [
        migrations.AddField(
            model_name="visit",
            name="team_expert",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="agri.expert",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="visit",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("expert__isnull", True), ("worker__isnull", True)),
                    models.Q(("commissioner__isnull", True), ("expert__isnull", True)),
                    models.Q(("commissioner__isnull", True), ("worker__isnull", True)),
                    _connector="OR",
                ),
                name="visit_one_actor",
            ),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["team_expert", "-started_at", "id"],
                name="visit_team_started",
            ),
        ),
    ]
