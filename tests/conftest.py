"""Shared fixtures: a small two-county world with every role (tests/support.py builds it), API clients logged in as
each, and a private photo store."""

from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.agri.photo_support import use_private_storage
from tests.support import World, build_world, login


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle histories and login-lockout counters live in the cache: every test starts without any."""
    cache.clear()


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def clients(world) -> dict[str, APIClient]:
    return {name: login(user) for name, user in world.users.items()}


@pytest.fixture
def private_root(settings, tmp_path) -> Path:
    """A photo store of the test's own (STORAGES["photos"] in a fresh directory): its root."""
    return use_private_storage(settings, tmp_path / "photos")


@pytest.fixture
def job_root(settings, tmp_path) -> Path:
    """A job-result store of the test's own (STORAGES["jobs"] in a fresh directory): its root."""
    root = tmp_path / "jobs"
    settings.STORAGES = {
        **settings.STORAGES,
        "jobs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root
