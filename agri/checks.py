"""System checks (``manage.py check``, and before ``migrate`` and ``runserver``)."""

import sqlite3

from django.conf import settings
from django.core.checks import Error, register

# UPSERT ... RETURNING (agri.services.rollups.rollup_apply) arrived in SQLite 3.35 (2021-03).
SQLITE_MINIMUM = (3, 35, 0)


@register()
def sqlite_version_check(app_configs, **kwargs) -> list[Error]:
    uses_sqlite = any(db["ENGINE"] == "django.db.backends.sqlite3" for db in settings.DATABASES.values())
    if not uses_sqlite or sqlite3.sqlite_version_info >= SQLITE_MINIMUM:
        return []
    return [
        Error(
            f"SQLite {sqlite3.sqlite_version} is too old: Nongji needs {'.'.join(map(str, SQLITE_MINIMUM))} or newer "
            "(UPSERT ... RETURNING in the visit rollup).",
            hint="Use a Python built with a newer SQLite (Debian 12 and Ubuntu 22.04 have 3.37 or newer), "
            "or PostgreSQL (DATABASE_URL=postgres://...).",
            id="agri.E001",
        )
    ]
