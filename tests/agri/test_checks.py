"""System checks of the project."""

import sqlite3

from django.core.checks import registry

from agri import checks

SQLITE = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
POSTGRES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "nongji"}}


class Settings:
    """Settings with DATABASES only, counting its reads: a check that reads the real settings instead is caught."""

    def __init__(self, databases: dict):
        self.databases, self.reads = databases, 0

    @property
    def DATABASES(self) -> dict:  # the setting's name
        self.reads += 1
        return self.databases


def test_the_check_is_registered():
    assert checks.sqlite_version_check in registry.registry.get_checks()


def test_an_old_sqlite_fails_the_check(monkeypatch):
    settings = Settings(SQLITE)
    monkeypatch.setattr(checks, "settings", settings)
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    [error] = checks.sqlite_version_check(None)
    assert settings.reads > 0
    assert error.id == "agri.E001"
    assert "SQLite 3.34.1 is too old" in error.msg and "3.35.0 or newer" in error.msg


def test_a_new_enough_sqlite_or_postgresql_passes(monkeypatch):
    """Passing proves nothing unless the check read the patched settings: each call must have read them."""
    sqlite = Settings(SQLITE)
    monkeypatch.setattr(checks, "settings", sqlite)
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 35, 0))
    assert checks.sqlite_version_check(None) == []
    assert sqlite.reads > 0
    postgres = Settings(POSTGRES)
    monkeypatch.setattr(checks, "settings", postgres)
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 7, 0))
    assert checks.sqlite_version_check(None) == []
    assert postgres.reads > 0
