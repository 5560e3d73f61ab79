"""Fixtures of the agri tests: the shared world with village polygons, a private S3 bucket, and Chromium."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.utils import timezone
from moto import mock_aws

from agri.models import Visit
from tests.agri.map_support import HOME_LAT, HOME_LON, map_villages, map_world, visit_body
from tests.agri.photo_support import BUCKET
from tests.support import build_world, login


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


@pytest.fixture
def posted(db):
    """Six visits posted through the API by the worker, one of each shape a column can take (no household, attendees,
    varieties, no end time, times with and without microseconds, no accuracy), and one deleted: ``(worker's client,
    the visits, the worker)``."""
    world = map_world(build_world())
    client = login(world.users["worker"])
    whole_second = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    bodies = [
        visit_body(world, "H1", HOME_LON, HOME_LAT),
        visit_body(world, "H1", HOME_LON, HOME_LAT, kind="training", attendees=[str(world["F1"].pk)], participants=30),
        visit_body(world, "H1", HOME_LON, HOME_LAT, kind="new_variety", introduced=["渝橘1号", "春见"]),
        {**visit_body(world, "H1", HOME_LON, HOME_LAT, notes=""), "household": None, "base": world["B1"].pk},
        visit_body(world, "H1", HOME_LON, HOME_LAT, started_at=whole_second.isoformat(), ended_at=None),
        visit_body(world, "H1", HOME_LON, HOME_LAT, mock_location=True, accuracy_m=None, altitude_m=None),
    ]
    for body in bodies:
        response = client.post("/api/v1/visits/", body, format="json")
        assert response.status_code == 201, response.content
    deleted = client.delete(f"/api/v1/visits/{bodies[0]['id']}/")
    assert deleted.status_code == 204, deleted.content
    return client, Visit.objects.order_by("pk"), world.users["worker"]
