"""The seeded demo behind a logged-in test client, for the bench scripts that measure what a demo account gets."""

import os
import tempfile


def demo_client(database: str, username: str, prefix: str):
    """Point Django at ``database`` (a new SQLite file under a temporary directory named ``prefix`` when empty,
    migrated and seeded), log ``username`` in with the demo password, and return the client and its auth header."""
    new = not database
    os.environ["DATABASE_URL"] = database or f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/demo.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    if new:
        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
    password = os.environ.get("DEMO_PASSWORD", "nongji-demo-2026")
    client = Client()
    login = client.post(
        "/api/v1/auth/login/", {"username": username, "password": password, "device": "bench"}, "application/json"
    )
    return client, {"Authorization": f"Token {login.json()['token']}"}
