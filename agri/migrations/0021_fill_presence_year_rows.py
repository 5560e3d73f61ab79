"""Fill the year rows of the monthly presence table (0020; the rows already there are month rows), so that
coverage, which reads them for a period's whole years, is right from the moment the new code serves.

As 0016 and 0019 did, this runs the rollup rebuild of the code that ships with it for the three monthly tables only
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
        ("agri", "0020_presence_year_rows"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
