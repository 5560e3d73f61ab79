"""Visit indexes that serve the API's queries, and no others (docs/performance.md, "Indexes on the visit table").

- add ``visit_started`` (-started_at, id): the list's default order, walked instead of sorting the table;
- drop ``visit_user_updated``: no query filters on (user, updated_at); the user foreign key keeps its own index;
- drop the h3_r7 and h3_r9 indexes: hexagons group by the cell over a date range and never look one up;
- drop the scope_code index: jurisdictions are prefixes (LIKE), which that B-tree cannot serve; on PostgreSQL
  ``visit_scope_date`` and ``rollup_scope_day`` take a pattern operator class instead, so that a prefix uses them;
- township_code and the village target keep a plain B-tree, without the LIKE twin PostgreSQL adds for
  ``db_index`` on a varchar column (nothing matches them by prefix).

The ``db_index`` indexes are dropped with DROP INDEX rather than by AlterField: on SQLite, AlterField copies the
whole visit table once per field. The AlterField operations below only bring Django's model state in line.
"""

import django.db.models.deletion
from django.db import migrations, models

# The indexes that 0002 created for db_index=True: (name, column, PostgreSQL also has a "<name>_like" twin).
FIELD_INDEXES = (
    ("agri_visit_scope_code_94fec1f3", "scope_code", True),
    ("agri_visit_township_code_78150d15", "township_code", True),
    ("agri_visit_village_id_71dda723", "village_id", True),
    ("agri_visit_h3_r7_ca1ba77f", "h3_r7", False),
    ("agri_visit_h3_r9_b0140bd9", "h3_r9", False),
)


def drop_field_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for name, _column, like in FIELD_INDEXES:
        for index in (name, f"{name}_like") if like else (name,):
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(index)}")


def restore_field_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    postgres = schema_editor.connection.vendor == "postgresql"
    for name, column, like in FIELD_INDEXES:
        schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote('agri_visit')} ({quote(column)})")
        if like and postgres:
            schema_editor.execute(
                f"CREATE INDEX {quote(name + '_like')} ON {quote('agri_visit')} ({quote(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("agri", "0006_audit"),
        ("geo", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_field_indexes, restore_field_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="visit",
                    name="h3_r7",
                    field=models.BigIntegerField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="h3_r9",
                    field=models.BigIntegerField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="scope_code",
                    field=models.CharField(max_length=12, verbose_name="scope code"),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="township_code",
                    field=models.CharField(blank=True, max_length=12, verbose_name="township code"),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="village",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="targeted_visits",
                        to="geo.admindivision",
                    ),
                ),
            ],
        ),
        migrations.RemoveIndex(model_name="visit", name="visit_user_updated"),
        migrations.RemoveIndex(model_name="visit", name="visit_scope_date"),
        migrations.RemoveIndex(model_name="visitrollup", name="rollup_scope_day"),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["-started_at", "id"], name="visit_started"),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                fields=["scope_code", "visit_date"],
                name="visit_scope_date",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["township_code"], name="visit_township"),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["village"], name="visit_village"),
        ),
        migrations.AddIndex(
            model_name="visitrollup",
            index=models.Index(
                fields=["scope_code", "day"], name="rollup_scope_day", opclasses=["varchar_pattern_ops", "date_ops"]
            ),
        ),
    ]
