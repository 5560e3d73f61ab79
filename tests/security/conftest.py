"""Fixtures of the security tests: the authorization matrix's evidence world (tests/security/matrix_support.py)."""

import pytest
from django.conf import settings
from django.test import override_settings

from tests.security.matrix_support import Evidence, build_evidence, flush_project_tables


@pytest.fixture(scope="module")
def evidence(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for the module through the API and committed; every test runs in a transaction that is
    rolled back, so each one starts from it unchanged. The photo files written by tests stay (their rows do not)."""
    root = tmp_path_factory.mktemp("photos")
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}
    private = override_settings(STORAGES={**settings.STORAGES, "photos": storage})
    private.enable()
    try:
        with django_db_blocker.unblock():
            try:
                built = build_evidence(root)
            except BaseException:
                flush_project_tables()
                raise
        yield built
        with django_db_blocker.unblock():
            flush_project_tables()
    finally:
        private.disable()


@pytest.fixture
def ev(evidence, db) -> Evidence:
    return evidence
