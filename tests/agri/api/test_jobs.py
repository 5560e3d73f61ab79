"""Exports as jobs (``POST`` to an export's URL): 202 with the job, progress, the file with ``Range``, expiry,
scoping, failures; on the embedded engine (the database queue, its worker run here) and on real worker processes
(the database queue's ``db_worker``, and RQ's ``rqworker`` on the Redis at 127.0.0.1:6379, database 6)."""

import io
import os
import threading
import time
import uuid
import zipfile
from datetime import timedelta
from unittest import mock

import pyogrio
import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agri.models import Job, JobState, Role, User
from agri.services.jobs import JobProgress
from tests.agri.job_support import SLOW_STEP_S, WorkerProcess, run_embedded_worker, wait_for
from tests.agri.map_support import map_world, push_visits
from tests.agri.photo_support import BUCKET, image_bytes, new_visit, objects, upload
from tests.support import login

VISITS = "/api/v1/exports/visits/"


@pytest.fixture
def visits(world, clients):
    map_world(world)
    return push_visits(world, clients)


def start(client, path=VISITS, **params):
    """POST an export as a job: the 202's body, checked against its Location."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(f"{path}?{query}" if query else path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/jobs/{body['id']}/")
    return body


def download(client, job: dict, **headers):
    response = client.get(job["file_url"], **headers)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, content


# --- the embedded engine: the database queue -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml"])
def test_a_visit_export_job_makes_the_file_of_the_synchronous_export(visits, clients, job_root, tmp_path, fmt):
    admin = clients["admin"]
    job = start(admin, format=fmt, industry="citrus")
    assert (job["state"], job["progress"], job["file_url"], job["kind"]) == (
        "queued",
        {"done": 0, "total": None},
        None,
        "export-visits",
    )
    run_embedded_worker()
    done = admin.get(job["url"]).json()
    assert done["state"] == "done", done
    assert done["progress"] == {"done": 7, "total": 7}
    assert done["error"] is None
    assert done["file_name"].startswith("visits-") and done["file_name"].endswith({"shp": ".zip"}.get(fmt, f".{fmt}"))
    response, content = download(admin, done)
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert int(response["Content-Length"]) == len(content) == done["file_size"]
    assert done["file_name"] in response["Content-Disposition"]
    job_file = tmp_path / f"job.{fmt if fmt != 'shp' else 'zip'}"
    job_file.write_bytes(content)
    sync_file = tmp_path / f"sync.{fmt if fmt != 'shp' else 'zip'}"
    sync = admin.get(VISITS, {"format": fmt, "industry": "citrus"})
    sync_file.write_bytes(b"".join(sync.streaming_content))
    from_job, from_sync = pyogrio.read_dataframe(job_file), pyogrio.read_dataframe(sync_file)
    assert len(from_job) == 7
    assert from_job.drop(columns="geometry").equals(from_sync.drop(columns="geometry"))
    assert list(from_job.geometry.to_wkt()) == list(from_sync.geometry.to_wkt())


@pytest.mark.parametrize(
    ("path", "params", "kind", "rows"),
    [
        ("/api/v1/exports/model-households/", {"format": "gpkg"}, "export-model-households", 3),
        (
            "/api/v1/exports/demonstration-bases/",
            {"format": "geojson", "geometry": "point"},
            "export-demonstration-bases",
            2,
        ),
        ("/api/v1/exports/coverage/", {"format": "gpkg", "level": "township"}, "export-coverage", 2),
    ],
)
def test_every_gis_export_runs_as_a_job(visits, clients, job_root, tmp_path, path, params, kind, rows):
    job = start(clients["admin"], path, **params)
    assert job["kind"] == kind
    run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    assert done["state"] == "done", done
    assert done["progress"] == {"done": rows, "total": rows}
    target = tmp_path / done["file_name"]
    target.write_bytes(download(clients["admin"], done)[1])
    assert len(pyogrio.read_dataframe(target)) == rows


def test_a_viewer_s_job_holds_what_a_viewer_sees(visits, clients, job_root, tmp_path):
    viewer = clients["viewer"]
    job = start(viewer, format="geojson")
    run_embedded_worker()
    done = viewer.get(job["url"]).json()
    job_body = download(viewer, done)[1]
    sync_body = b"".join(viewer.get(VISITS, {"format": "geojson"}).streaming_content)
    admin_body = b"".join(clients["admin"].get(VISITS, {"format": "geojson"}).streaming_content)
    assert job_body == sync_body  # coarsened positions, as the viewer's own export
    assert job_body != admin_body


def test_a_photo_zip_runs_as_a_job(world, clients, private_root, job_root):
    visit = new_visit(clients["worker"], world)
    first = upload(clients["worker"], visit["id"], image_bytes("PNG")).json()
    second = upload(clients["worker"], visit["id"], image_bytes("PNG", color=(1, 2, 3))).json()
    job = start(clients["admin"], "/api/v1/exports/photos/", variant="original")
    assert job["kind"] == "export-photos"
    run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    assert done["state"] == "done", done
    assert done["progress"] == {"done": 2, "total": 2}
    response, content = download(clients["admin"], done)
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert names[0] == "manifest.csv"
    assert sorted(n.rsplit("/", 1)[-1] for n in names[1:]) == sorted(f"{p['id']}.png" for p in (first, second))


def test_a_bad_filter_or_format_is_a_400_and_starts_no_job(visits, clients, job_root):
    for query in ("format=gpkg&date_from=yesterday", "format=xlsx"):
        response = clients["admin"].post(f"{VISITS}?{query}")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid"
    viewer_originals = clients["viewer"].post("/api/v1/exports/photos/?variant=original")
    assert viewer_originals.status_code == 403
    assert Job.objects.count() == 0


# --- Range ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def finished(visits, clients, job_root):
    job = start(clients["admin"], format="gpkg")
    run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    whole = download(clients["admin"], done)[1]
    assert len(whole) == done["file_size"] > 1000
    return done, whole


def test_a_range_of_the_file_is_a_206_with_those_bytes(finished, clients):
    job, whole = finished
    size = len(whole)
    admin = clients["admin"]
    for header, first, last in (
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-10", size - 10, size - 1),
        (f"bytes=5-{size + 1000}", 5, size - 1),
        (f"bytes=-{size * 2}", 0, size - 1),
    ):
        response, content = download(admin, job, HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert int(response["Content-Length"]) == last - first + 1
        assert content == whole[first : last + 1], header


def test_a_range_outside_the_file_is_a_416(finished, clients):
    job, whole = finished
    for header in (f"bytes={len(whole)}-", f"bytes={len(whole) + 5}-{len(whole) + 9}", "bytes=-0"):
        response, content = download(clients["admin"], job, HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{len(whole)}"
        assert content == b""


def test_ranges_the_server_may_ignore_get_the_whole_file(finished, clients):
    job, whole = finished
    etag = clients["admin"].get(job["file_url"])["ETag"]
    for headers in (
        {"HTTP_RANGE": "bytes=0-1,5-6"},  # several ranges
        {"HTTP_RANGE": "bytes=9-3"},  # not a range
        {"HTTP_RANGE": "items=0-3"},  # another unit
        {"HTTP_RANGE": "bytes=0-3", "HTTP_IF_RANGE": '"another-file"'},  # the client's copy is another file
    ):
        response, content = download(clients["admin"], job, **headers)
        assert response.status_code == 200, headers
        assert content == whole
    response, content = download(clients["admin"], job, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE=etag)
    assert (response.status_code, content) == (206, whole[:4])


# --- expiry -----------------------------------------------------------------------------------------------------------


def test_an_expired_file_is_removed_by_the_cleanup_and_answers_410(finished, clients, job_root):
    job, _whole = finished
    stored = [p for p in job_root.rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [job["file_name"]]
    expires_at = Job.objects.get(pk=job["id"]).expires_at
    assert timedelta(hours=47) < expires_at - timezone.now() <= timedelta(hours=48)
    out = io.StringIO()
    call_command("cleanup_expired_jobs", stdout=out)
    assert "0 expired job files removed" in out.getvalue()
    assert stored[0].exists()

    Job.objects.filter(pk=job["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("cleanup_expired_jobs", "--dry-run", stdout=out)
    assert stored[0].exists()
    out = io.StringIO()
    call_command("cleanup_expired_jobs", stdout=out)
    assert f"removed job {job['id']}" in out.getvalue()
    assert not stored[0].exists()
    gone = clients["admin"].get(job["file_url"], HTTP_ACCEPT_LANGUAGE="en")
    assert gone.status_code == 410
    assert gone.json()["code"] == "gone"
    assert "expired" in gone.json()["message"]
    body = clients["admin"].get(job["url"]).json()
    assert (body["state"], body["file_url"]) == ("expired", None)


def test_the_file_of_an_unfinished_job_is_a_409(visits, clients, job_root):
    job = start(clients["admin"], format="gpkg")
    response = clients["admin"].get(f"{job['url']}file/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 409
    assert response.json()["code"] == "job_not_done"
    assert response.json()["message"] != "This job has no file: it has not finished yet, or it failed. " + (
        "Ask for the job to see its state."
    )  # in Chinese


# --- who sees a job ---------------------------------------------------------------------------------------------------


def test_only_the_owner_and_superusers_see_a_job(finished, clients, world):
    job, whole = finished
    for name in ("viewer", "worker", "expert"):
        assert clients[name].get(job["url"]).status_code == 404
        assert clients[name].get(job["file_url"]).status_code == 404
        assert clients[name].get("/api/v1/jobs/").json()["results"] == []
    anonymous = clients["admin"].__class__()
    assert anonymous.get(job["url"]).status_code == 401
    assert anonymous.get(job["file_url"]).status_code == 401
    root = world.users["viewer"]
    root.is_superuser = True
    root.save(update_fields=["is_superuser"])
    superuser = login(root, device="root")
    assert superuser.get(job["url"]).json()["id"] == job["id"]
    assert download(superuser, job)[1] == whole
    assert clients["admin"].get(f"/api/v1/jobs/{uuid.uuid4()}/").status_code == 404


def test_only_bureau_staff_start_exports(visits, clients, job_root):
    for name in ("worker", "expert", "commissioner"):
        response = clients[name].post(f"{VISITS}?format=gpkg")
        assert response.status_code == 403, name
    assert clients["admin"].__class__().post(f"{VISITS}?format=gpkg").status_code == 401
    assert Job.objects.count() == 0


def test_the_job_list_costs_the_same_queries_for_one_job_or_many(visits, clients, job_root, django_assert_num_queries):
    admin = clients["admin"]
    start(admin, format="gpkg")

    def listed():
        response = admin.get("/api/v1/jobs/")
        assert response.status_code == 200
        return response.json()

    with django_assert_num_queries(3):  # the token, the count, the page
        assert listed()["count"] == 1
    for fmt in ("shp", "geojson", "kml", "gpkg"):
        start(admin, format=fmt)
    start(clients["viewer"], format="gpkg")
    with django_assert_num_queries(3):
        body = listed()
    assert body["count"] == 5  # not the viewer's
    created = [job["created_at"] for job in body["results"]]
    assert created == sorted(created, reverse=True)


# --- failures ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "words"), [("en", "Bulk exports are for bureau staff."), ("zh-hans", "批量导出")])
def test_an_owner_who_lost_the_bureau_role_gets_a_failed_job_in_their_language(
    visits, clients, world, job_root, language, words
):
    response = clients["admin"].post(f"{VISITS}?format=gpkg", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 202
    admin = world.users["admin"]
    admin.role = Role.WORKER
    admin.save(update_fields=["role"])
    run_embedded_worker()
    body = clients["admin"].get(response["Location"]).json()
    assert body["state"] == "failed"
    assert body["error"]["code"] == "permission_denied"
    assert words in body["error"]["message"]
    assert body["file_url"] is None
    assert list(job_root.rglob("*.gpkg")) == []


def test_a_queue_that_cannot_be_reached_is_a_503_and_a_failed_job(visits, clients, settings, job_root):
    settings.RQ_QUEUES = {settings.JOB_QUEUE: {"URL": "redis://127.0.0.1:1/0"}}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [settings.JOB_QUEUE]}}
    response = clients["admin"].post(f"{VISITS}?format=gpkg", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    job = Job.objects.get()
    assert (job.state, job.error_code) == (JobState.FAILED, "queue_unavailable")


def test_a_management_command_runs_as_a_job_that_superusers_see(visits, clients, world, job_root):
    out = io.StringIO()
    call_command("start_job", "rebuild-rollups", stdout=out)
    job_id = out.getvalue().strip()
    run_embedded_worker()
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.owner) == (JobState.DONE, None)
    assert clients["admin"].get(f"/api/v1/jobs/{job_id}/").status_code == 404  # not an installation admin
    root = world.users["admin"]
    root.is_superuser = True
    root.save(update_fields=["is_superuser"])
    superuser = login(root, device="root")
    body = superuser.get(f"/api/v1/jobs/{job_id}/").json()
    output = download(superuser, body)[1].decode()
    assert "rebuild_rollups: done, 7 live visits" in output


def test_a_failing_command_job_keeps_its_message(db, job_root):
    out = io.StringIO()
    call_command("start_job", "import-divisions", "--", "/nonexistent/villages.gpkg", "--level", "village", stdout=out)
    run_embedded_worker()
    job = Job.objects.get(pk=out.getvalue().strip())
    assert job.state == JobState.FAILED
    assert job.error_code == "command_error"
    assert "/nonexistent/villages.gpkg" in job.error_message


# --- real worker processes: the database queue and RQ on Redis --------------------------------------------------------


def redis_reachable() -> bool:
    from django.conf import settings

    try:
        return bool(redis.Redis.from_url(settings.RQ_QUEUES[settings.JOB_QUEUE]["URL"], socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "rq"])
def engine(request, settings):
    if request.param == "rq":
        if not redis_reachable():
            if os.environ.get("REQUIRE_REDIS") == "1":
                pytest.fail(
                    "REQUIRE_REDIS=1 but Redis does not answer at " + settings.RQ_QUEUES[settings.JOB_QUEUE]["URL"]
                )
            pytest.skip(
                "no Redis at " + settings.RQ_QUEUES[settings.JOB_QUEUE]["URL"] + " (REQUIRE_REDIS=1 fails instead)"
            )
        settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [settings.JOB_QUEUE]}}
    return request.param


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_a_slow_export_while_requests_stay_fast(engine, world, clients, job_root, tmp_path):
    map_world(world)
    push_visits(world, clients)
    admin = clients["admin"]
    worker = WorkerProcess(engine, job_root, tmp_path / "worker.log", slow_step=SLOW_STEP_S)
    try:
        slow = start(admin, format="gpkg")  # 7 chunks of one row in the slowed worker: about 3 s
        latencies = []
        seen = []
        other = None
        deadline = time.monotonic() + 90
        while True:
            t0 = time.monotonic()
            body = admin.get(slow["url"]).json()
            latencies.append(time.monotonic() - t0)
            seen.append(body)
            if body["state"] in ("done", "failed") or time.monotonic() > deadline:
                break
            if body["state"] == "running" and other is None:  # a second export while the first one runs
                t0 = time.monotonic()
                other = start(admin, format="geojson")
                latencies.append(time.monotonic() - t0)
            time.sleep(0.05)
        assert seen[-1]["state"] == "done", (seen[-1], worker.log.read_text())
        assert seen[-1]["progress"] == {"done": 7, "total": 7}
        progress = [b["progress"]["done"] for b in seen if b["state"] == "running"]
        assert len(set(progress)) >= 2, progress  # the progress moved while the job ran
        assert progress == sorted(progress)
        assert max(latencies) < 0.5, latencies
        done = wait_for(admin, other["url"], log=worker.log)[-1]
        assert done["state"] == "done", done
        target = tmp_path / "visits.gpkg"
        target.write_bytes(download(admin, seen[-1])[1])
        assert len(pyogrio.read_dataframe(target)) == 7
        partial, content = download(admin, seen[-1], HTTP_RANGE="bytes=0-15")
        assert (partial.status_code, content) == (206, b"SQLite format 3\x00")
    finally:
        worker.stop()


# --- results on S3 ----------------------------------------------------------------------------------------------------


def test_a_job_file_on_s3_is_a_private_object_served_whole_and_by_range(visits, clients, settings, s3):
    settings.STORAGES = {
        **settings.STORAGES,
        "jobs": {
            **settings.STORAGES["photos"],
            "OPTIONS": {**settings.STORAGES["photos"]["OPTIONS"], "location": "jobs"},
        },
    }
    job = start(clients["admin"], format="gpkg")
    run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    assert done["state"] == "done", done
    stored = objects(s3)
    key = f"jobs/{done['id']}/{done['file_name']}"
    assert list(stored) == [key]
    assert [g["Permission"] for g in s3.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]] == ["FULL_CONTROL"]
    response, whole = download(clients["admin"], done)
    assert response.status_code == 200
    assert whole == stored[key] and len(whole) == done["file_size"]
    response, part = download(clients["admin"], done, HTTP_RANGE="bytes=100-4195")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-4195/{len(whole)}"
    assert part == whole[100:4196]
    Job.objects.filter(pk=done["id"]).update(expires_at=timezone.now())
    call_command("cleanup_expired_jobs", stdout=io.StringIO())
    assert objects(s3) == {}


def test_a_text_job_file_is_never_compressed_so_that_its_ranges_stay_byte_ranges(visits, clients, job_root):
    job = start(clients["admin"], format="geojson")
    run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    whole = download(clients["admin"], done)[1]
    for headers, status in (({}, 200), ({"HTTP_RANGE": "bytes=10-2009"}, 206)):
        response, content = download(clients["admin"], done, HTTP_ACCEPT_ENCODING="gzip, br, zstd", **headers)
        assert response.status_code == status
        assert not response.has_header("Content-Encoding")
        assert content == (whole if status == 200 else whole[10:2010])


@pytest.mark.django_db(transaction=True)
def test_progress_is_written_while_other_connections_write_during_a_long_read(world, clients, job_root, settings):
    """On SQLite the export's read holds a snapshot for as long as it runs; a write on that connection after another
    connection wrote (a login, another job) would be refused ("database is locked"). Progress is written on a
    connection of its own."""
    map_world(world)
    push_visits(world, clients)
    settings.EXPORT_CHUNK_ROWS = 2
    advance = JobProgress.advance
    other = world.users["viewer"]

    def advance_after_another_write(self, steps):
        def write():
            User.objects.filter(pk=other.pk).update(last_login=timezone.now())
            connection.close()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        advance(self, steps)

    job = start(clients["admin"], format="gpkg")
    with mock.patch.object(JobProgress, "advance", advance_after_another_write):
        with mock.patch.object(JobProgress, "WRITE_SECONDS", 0):
            run_embedded_worker()
    done = clients["admin"].get(job["url"]).json()
    assert done["state"] == "done", done
    assert done["progress"] == {"done": 7, "total": 7}


def test_a_file_the_job_storage_refuses_fails_the_job(visits, clients, job_root):
    job = start(clients["admin"], format="gpkg")
    with mock.patch("django.core.files.storage.FileSystemStorage.save", side_effect=OSError("disk full")):
        run_embedded_worker()
    body = clients["admin"].get(job["url"], HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["state"] == "failed"
    assert body["error"]["code"] == "job_failed"
    assert body["error"]["message"].startswith("The job failed.")
