"""System checks of the project."""

import sqlite3
from types import SimpleNamespace

from django.core.checks import registry

from agri import checks

SQLITE = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
POSTGRES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "nongji"}}


def test_the_check_is_registered():
    assert checks.sqlite_version_check in registry.registry.get_checks()


def test_an_old_sqlite_fails_the_check(monkeypatch):
    monkeypatch.setattr(checks, "settings", SimpleNamespace(DATABASES=SQLITE))
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    [error] = checks.sqlite_version_check(None)
    assert error.id == "agri.E001"
    assert "SQLite 3.34.1 is too old" in error.msg and "3.35.0 or newer" in error.msg


def test_a_new_enough_sqlite_or_postgresql_passes(monkeypatch):
    monkeypatch.setattr(checks, "settings", SimpleNamespace(DATABASES=SQLITE))
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 35, 0))
    assert checks.sqlite_version_check(None) == []
    monkeypatch.setattr(checks, "settings", SimpleNamespace(DATABASES=POSTGRES))
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 7, 0))
    assert checks.sqlite_version_check(None) == []
