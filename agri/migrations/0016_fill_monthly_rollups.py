"""Formerly the fill of the monthly rollup tables (0015); the tables gained grains in 0018, and the rebuild of the
code that ships with these migrations writes them, so the fill runs after 0018, in 0019 (which fills every monthly
table from the visits). Here nothing is left to do.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agri", "0015_monthly_rollups"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
