"""The photo storage is chosen by environment variables (settings are read once per process, so each case runs in
a fresh interpreter). Building an S3 storage opens no connection, so no object store is needed here."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

SHOW = (
    "import django, json; django.setup();"
    "from agri.models.photos import photo_storage; s = photo_storage();"
    "keys = ('bucket_name', 'endpoint_url', 'location', 'default_acl', 'file_overwrite', 'addressing_style',"
    " 'querystring_auth', 'file_permissions_mode', 'directory_permissions_mode');"
    "print(json.dumps({'class': type(s).__module__ + '.' + type(s).__name__,"
    " **{k: str(getattr(s, k)) for k in keys if hasattr(s, k)}}))"
)


def storage_with(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STORAGE_BACKEND", "PHOTO_ROOT"))}
    clean.update(env, DJANGO_SETTINGS_MODULE=settings.SETTINGS_MODULE)
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env=clean, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_local_private_directory_by_default():
    storage = storage_with()
    assert storage["class"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert storage["location"] == str(Path(settings.MEDIA_ROOT) / "private" / "photos")
    assert (storage["file_permissions_mode"], storage["directory_permissions_mode"]) == (str(0o600), str(0o700))


def test_photo_root_moves_it(tmp_path):
    assert storage_with(PHOTO_ROOT=str(tmp_path))["location"] == str(tmp_path)


def test_s3_compatible_store_from_the_environment():
    storage = storage_with(
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="nongji-photos",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_ACCESS_KEY_ID="minio",
        AWS_SECRET_ACCESS_KEY="minio-secret",
    )
    assert storage == {
        "class": "storages.backends.s3.S3Storage",
        "bucket_name": "nongji-photos",
        "endpoint_url": "http://127.0.0.1:9000",
        "location": "photos",
        "default_acl": "private",
        "file_overwrite": "False",
        "addressing_style": "path",
        "querystring_auth": "True",
    }
