"""Fixtures of the agri tests: the shared world with village polygons, a private S3 bucket, and Chromium."""

import os
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.agri.map_support import map_villages
from tests.agri.photo_support import BUCKET


@pytest.fixture
def mapped_world(world):
    """Give the world's villages real polygons (the townships none), so that points can be assigned."""
    map_villages()
    return world


@pytest.fixture
def s3(settings, monkeypatch):
    """An empty private bucket, and STORAGES["photos"] pointing at it as backend/settings/base.py builds it."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="cn-north-1", aws_access_key_id="k", aws_secret_access_key="s")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
        settings.STORAGES = {
            **settings.STORAGES,
            "photos": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "region_name": "cn-north-1",
                    "access_key": "k",
                    "secret_key": "s",
                    "location": "photos",
                    "signature_version": "s3v4",
                    "default_acl": "private",
                    "file_overwrite": False,
                    "querystring_auth": True,
                },
            },
        }
        yield client


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) for Playwright. Without it (or without the
    playwright package) the test is skipped, and says why, unless ``REQUIRE_BROWSER=1`` (set by ``.ci/run``): then
    it fails."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if reason is None and not Path(path).is_file():
        reason = f"Chromium not found at {path} (apt-get install chromium, or set CHROMIUM)"
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return path
