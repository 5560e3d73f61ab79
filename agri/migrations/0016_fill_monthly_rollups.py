"""Fill the monthly rollup tables (0015) from the visits already stored, so that coverage, which reads them for
whole months, is right from the moment the new code serves.

This runs the rollup rebuild of the code that ships with it for the three monthly tables only
(``agri.services.rollups.rollups_rebuild(daily=False)``: in SQL, a year at a time; the daily rollup is already
right). On a new database there are no visits and it does nothing.
"""

from django.db import migrations


def fill(apps, schema_editor):
    from agri.services.rollups import rollups_rebuild

    Visit = apps.get_model("agri", "Visit")
    if Visit.objects.exists():
        rollups_rebuild(daily=False)


class Migration(migrations.Migration):
    dependencies = [
        ("agri", "0015_monthly_rollups"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
