"""A resumable upload started on one app server and finished on another: two ``runserver`` processes share only
the database and the photo store (a local directory, or an S3 bucket served by moto in server mode), as app servers
behind a load balancer do. tuspy drives the upload."""

import hashlib
import io
import urllib.request
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from agri.models import Photo, PhotoUpload
from tests.agri.photo_support import BUCKET, new_visit, sample, stored_files
from tests.agri.upload_support import (
    AppServer,
    CuttingProxy,
    database_url,
    free_port,
    noise_jpeg,
    token_of,
    tus_client,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the servers must see what the test commits


def upload_across(
    first: AppServer, second: AppServer, token: str, visit_id: str, data: bytes, half: int, between
) -> str:
    """Send ``data`` up to ``half`` through ``first``, call ``between()``, send the rest through ``second``; the
    photo id."""
    photo_id = str(uuid.uuid4())
    metadata = {"visit": visit_id, "id": photo_id}
    started = tus_client(first.url, token).uploader(
        file_stream=io.BytesIO(data), metadata=metadata, chunk_size=1024 * 1024
    )
    started.upload(stop_at=half)
    assert started.url.startswith(first.url)
    between()
    url = started.url.replace(first.url, second.url)
    finished = tus_client(second.url, token).uploader(file_stream=io.BytesIO(data), url=url, chunk_size=1024 * 1024)
    assert finished.offset == half  # the second server knows how far the first one got
    finished.upload()
    return photo_id


def served_original(server: AppServer, token: str, photo_id: str) -> bytes:
    request = urllib.request.Request(
        f"{server.url}/api/v1/photos/{photo_id}/original/", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def test_an_upload_started_on_one_server_finishes_on_another_on_local_storage(
    transactional_db, world, clients, private_root, tmp_path
):
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample("ianare_heic_mobile_iphone_13_pro_max.HEIC")
    env = {"DATABASE_URL": database_url(), "STORAGE_BACKEND": "local", "PHOTO_ROOT": str(private_root)}
    first, second = AppServer(env, tmp_path / "a.log"), AppServer(env, tmp_path / "b.log")
    try:
        half = len(data) // 2

        def pieces_in_the_shared_directory():
            pieces = [p for p in stored_files(private_root) if p.parts[-3] == "uploads"]
            assert sum(p.stat().st_size for p in pieces) == half

        photo_id = upload_across(
            first, second, token_of(worker), visit["id"], data, half, pieces_in_the_shared_directory
        )
        assert served_original(first, token_of(worker), photo_id) == data
    finally:
        first.stop()
        second.stop()
    photo = Photo.objects.get(pk=photo_id)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert PhotoUpload.objects.get().completed_at is not None
    assert sorted(p.relative_to(private_root).as_posix() for p in stored_files(private_root)) == sorted(
        [photo.original.name, photo.display.name, photo.thumbnail.name]
    )


@pytest.fixture
def moto_server():
    """An S3 in a thread of its own, reached over HTTP by every process (moto's server mode)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="cn-north-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    yield endpoint, client
    server.stop()


def test_an_upload_started_on_one_server_finishes_on_another_on_s3(
    transactional_db, world, clients, moto_server, tmp_path
):
    endpoint, s3 = moto_server
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = noise_jpeg()  # over 5 MiB: the first server sends a multipart part, the second completes the upload
    env = {
        "DATABASE_URL": database_url(),
        "STORAGE_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "cn-north-1",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    first, second = AppServer(env, tmp_path / "a.log"), AppServer(env, tmp_path / "b.log")
    try:
        half = 5 * 1024 * 1024 + 300_000

        def a_part_in_the_bucket():
            (pending,) = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
            parts = s3.list_parts(Bucket=BUCKET, Key=pending["Key"], UploadId=pending["UploadId"])["Parts"]
            assert [p["Size"] for p in parts] == [5 * 1024 * 1024]

        photo_id = upload_across(first, second, token_of(worker), visit["id"], data, half, a_part_in_the_bucket)
        assert served_original(first, token_of(worker), photo_id) == data
    finally:
        first.stop()
        second.stop()
    photo = Photo.objects.get(pk=photo_id)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert PhotoUpload.objects.get().parts["s3"]["completed"] is True
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys == {f"photos/{getattr(photo, v).name}" for v in ("original", "display", "thumbnail")}
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_under_gunicorn_a_cut_request_keeps_what_arrived_and_the_upload_resumes(
    transactional_db, world, clients, private_root, tmp_path
):
    """The production server (gunicorn, a sync worker) hands the view the bytes that came before a cut, as the
    development server does: a whole-file PATCH cut at 30 % and 70 % costs only the bytes in flight."""
    worker = clients["worker"]
    visit = new_visit(worker, world)
    data = sample("ianare_heic_mobile_iphone_13_pro_max.HEIC")
    env = {"DATABASE_URL": database_url(), "STORAGE_BACKEND": "local", "PHOTO_ROOT": str(private_root)}
    server = AppServer(env, tmp_path / "gunicorn.log", gunicorn=True)
    proxy = CuttingProxy(server.port, cuts=[int(0.3 * len(data)), int(0.7 * len(data))])
    photo_id = str(uuid.uuid4())
    try:
        uploader = tus_client(proxy.url, token_of(worker)).uploader(
            file_stream=io.BytesIO(data), metadata={"visit": visit["id"], "id": photo_id}, retries=5, retry_delay=0.5
        )
        uploader.upload()
    finally:
        proxy.close()
        server.stop()
    assert proxy.cut_count == 2
    print(f"gunicorn: {proxy.sent} bytes sent for {len(data)} ({proxy.sent / len(data):.3f}x)")
    assert proxy.sent <= 1.1 * len(data), f"{proxy.sent} bytes sent for a file of {len(data)}"
    assert Photo.objects.get(pk=photo_id).sha256 == hashlib.sha256(data).hexdigest()
