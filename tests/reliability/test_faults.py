"""Faults: the database failing mid-batch, a full disk, a lost reply, two phones racing on one ETag, a killed worker.

Each test checks the exact rows in the database and the exact files in the photo store afterwards: what was
reported stored is stored, what was not is reported, and nothing is half-written.
"""

import errno
import json
import os
import signal
import threading
import traceback
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.files.base import ContentFile
from django.db import OperationalError, connection, connections
from rest_framework.test import APIClient

from agri.api import visit_views
from agri.models import Photo, Visit, VisitEvent, VisitRollup
from agri.models.photos import photo_storage
from agri.services import photos as photo_service
from agri.services.rollups import rollups_rebuild
from tests.agri.map_support import map_world, visit_body
from tests.agri.photo_support import (
    HOME_LAT,
    HOME_LON,
    cleanup_orphans,
    image_bytes,
    new_visit,
    stored_files,
    upload,
)
from tests.support import build_world, login

RETRY_LATER = {
    "code": "retry_later",
    "message": "The database is unavailable just now. Send the request again later.",
    "fields": {},
}
ITEM_FAILED = "This visit could not be stored just now. Send it again later."
STORAGE_UNAVAILABLE = {
    "code": "storage_unavailable",
    "message": "The photo store cannot take files just now. Nothing was kept; upload the photo again later.",
    "fields": {},
}
# The statement that reads which ids of a batch are stored already: the ingest's first query.
STORED_IDS_READ = 'SELECT "agri_visit"."id" AS "id", "agri_visit"."payload_sha256"'
# The visit rows' insert: INSERT ... ON CONFLICT DO NOTHING on PostgreSQL, INSERT OR IGNORE on SQLite.
VISIT_INSERT = 'INTO "agri_visit" ("id"'
VISIT_STATE = ("version", "photos_present", "flag_bits", "updated_at")


class FailingDatabase:
    """A connection execute wrapper: the ``nth`` statement containing ``marker``, and every later one when
    ``stay_down``, raises OperationalError as a dropped server connection or a full disk does."""

    def __init__(self, marker: str, nth: int = 1, stay_down: bool = False):
        self.marker, self.nth, self.stay_down = marker, nth, stay_down
        self.seen = self.raised = 0

    def __call__(self, execute, sql, params, many, context):
        if self.marker in sql:
            self.seen += 1
            if self.seen == self.nth or (self.stay_down and self.seen > self.nth):
                self.raised += 1
                raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


def rollup_rows() -> list[tuple]:
    fields = [f.name for f in VisitRollup._meta.concrete_fields if f.name != "id"]
    return sorted(VisitRollup.objects.values_list(*fields))


def assert_rollup_matches_the_visits() -> None:
    """The incremental rollup equals one rebuilt from the stored visits: nothing counted twice or left out."""
    kept = rollup_rows()
    rollups_rebuild()
    assert rollup_rows() == kept


def visit_state(visit_id) -> dict:
    return Visit.objects.values(*VISIT_STATE).get(pk=visit_id)


def attendance() -> set[tuple[str, str]]:
    return {(str(v), str(f)) for v, f in Visit.attendees.through.objects.values_list("visit_id", "farmer_id")}


def created_events() -> list[str]:
    return sorted(str(v) for v in VisitEvent.objects.filter(action="create").values_list("visit_id", flat=True))


def photo_files(photo: Photo) -> list[str]:
    return sorted([photo.original.name, photo.display.name, photo.thumbnail.name])


def assert_every_photo_has_its_files(private_root: Path) -> None:
    """No row points at a missing file, and each visit counts exactly its photo rows."""
    for photo in Photo.objects.all():
        for name in photo_files(photo):
            assert (private_root / name).is_file(), name
    for visit in Visit.objects.all():
        assert visit.photos_present == Photo.objects.filter(visit=visit).count()


# --- the database failing in the middle of a sync batch ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_database_failing_mid_batch_keeps_committed_chunks_and_reports_the_rest_failed(settings):
    settings.VISIT_SYNC_CHUNK_SIZE = 4
    world = map_world(build_world())
    client = login(world.users["worker"])
    farmer = str(world["F1"].pk)
    same = visit_body(world, "H1", HOME_LON, HOME_LAT, notes="已同步")
    other = visit_body(world, "H1", HOME_LON, HOME_LAT, notes="原内容")
    assert client.post("/api/v1/sync/visits/", {"visits": [same, other]}, format="json").status_code == 200
    new = [visit_body(world, "H1", HOME_LON, HOME_LAT, notes=f"第{n}次", participants=n + 1) for n in range(10)]
    # Trainings with a farmer attending: one in a chunk that commits, one in the chunk that fails.
    for n in (1, 6):
        new[n].update(kind="training", attendees=[farmer], participants=30)
    invalid = visit_body(world, "H1", HOME_LON, 123.0)
    batch = [same, {**other, "notes": "改过"}, invalid, *new, dict(new[5]), dict(new[1])]
    # The ten new visits go in chunks of 4: new[0:4] commits, new[4:8] fails at its last statement, new[8:10]
    # is never tried. The repeat of new[5] follows its first; the repeat of new[1] is stored with it.
    fault = FailingDatabase('INSERT INTO "agri_visitevent"', nth=2)
    with connection.execute_wrapper(fault):
        response = client.post("/api/v1/sync/visits/", {"visits": batch}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert fault.raised == 1

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [item["id"] for item in batch]
    assert [r["status"] for r in results] == [
        "unchanged",
        "conflict",
        "invalid",
        *["created"] * 4,
        *["failed"] * 6,
        "failed",
        "unchanged",
    ]
    for failed in results[7:14]:
        assert failed == {
            "id": failed["id"],
            "status": "failed",
            "code": "retry_later",
            "message": ITEM_FAILED,
            "errors": {},
        }
    assert results[3] == {"id": new[0]["id"], "status": "created", "code": "created", "errors": {}}

    stored = sorted([same["id"], other["id"], *(v["id"] for v in new[:4])])
    assert sorted(str(v) for v in Visit.objects.values_list("id", flat=True)) == stored
    assert created_events() == stored  # the failed chunk's audit rows went with it
    assert attendance() == {(new[1]["id"], farmer)}
    assert Visit.objects.get(pk=other["id"]).notes == "原内容"
    assert sum(VisitRollup.objects.values_list("visits", flat=True)) == 6
    assert sum(VisitRollup.objects.values_list("participants", flat=True)) == sum(
        Visit.objects.values_list("participants", flat=True)
    )
    assert_rollup_matches_the_visits()

    # The phone sends the same batch again: exactly the missing visits are created, the rest are unchanged.
    replay = client.post("/api/v1/sync/visits/", {"visits": batch}, format="json").json()["results"]
    assert [r["status"] for r in replay] == [
        "unchanged",
        "conflict",
        "invalid",
        *["unchanged"] * 4,
        *["created"] * 6,
        "unchanged",
        "unchanged",
    ]
    stored = sorted([same["id"], other["id"], *(v["id"] for v in new)])
    assert sorted(str(v) for v in Visit.objects.values_list("id", flat=True)) == stored
    assert created_events() == stored
    assert attendance() == {(new[1]["id"], farmer), (new[6]["id"], farmer)}
    assert sorted(Visit.objects.filter(pk__in=[v["id"] for v in new]).values_list("notes", flat=True)) == sorted(
        v["notes"] for v in new
    )
    assert sum(VisitRollup.objects.values_list("visits", flat=True)) == 12
    assert_rollup_matches_the_visits()


def test_database_failing_before_anything_is_stored_is_a_503_and_a_replay_stores_the_batch(world, clients):
    map_world(world)
    items = [visit_body(world, "H1", HOME_LON, HOME_LAT, notes=f"第{n}次") for n in range(3)]
    fault = FailingDatabase(STORED_IDS_READ)
    with connection.execute_wrapper(fault):
        response = clients["worker"].post(
            "/api/v1/sync/visits/", {"visits": items}, format="json", HTTP_ACCEPT_LANGUAGE="en"
        )
    assert fault.raised == 1
    assert response.status_code == 503
    assert response.json() == RETRY_LATER
    assert response["Retry-After"] == "30"
    assert (Visit.objects.count(), VisitEvent.objects.count(), VisitRollup.objects.count()) == (0, 0, 0)

    replay = clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json").json()["results"]
    assert [r["status"] for r in replay] == ["created"] * 3
    assert sorted(str(v) for v in Visit.objects.values_list("id", flat=True)) == sorted(v["id"] for v in items)
    assert created_events() == sorted(v["id"] for v in items)
    assert_rollup_matches_the_visits()


def test_single_visit_post_when_the_insert_fails_is_a_503_and_the_retry_stores_it(world, clients):
    map_world(world)
    body = visit_body(world, "H1", HOME_LON, HOME_LAT)
    fault = FailingDatabase(VISIT_INSERT)
    with connection.execute_wrapper(fault):
        response = clients["worker"].post("/api/v1/visits/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert fault.raised == 1
    assert response.status_code == 503
    assert response.json() == {"code": "retry_later", "message": "数据库暂时不可用，请稍后重新发送请求。", "fields": {}}
    assert (Visit.objects.count(), VisitEvent.objects.count(), VisitRollup.objects.count()) == (0, 0, 0)

    retry = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert retry.status_code == 201 and retry.json()["id"] == body["id"]
    assert [str(v) for v in Visit.objects.values_list("id", flat=True)] == [body["id"]]
    assert created_events() == [body["id"]]
    assert_rollup_matches_the_visits()


def test_database_down_altogether_answers_503_in_the_error_shape_even_before_authentication(world, clients):
    body = visit_body(world, "H1", HOME_LON, HOME_LAT)
    fault = FailingDatabase("", stay_down=True)  # every statement fails, from the token lookup on
    with connection.execute_wrapper(fault):
        pushed = clients["worker"].post("/api/v1/visits/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
        listed = clients["worker"].get("/api/v1/visits/", HTTP_ACCEPT_LANGUAGE="en")
    assert fault.raised == 2  # each request stopped at its first statement
    for response in (pushed, listed):
        assert response.status_code == 503
        assert response.json() == RETRY_LATER
        assert response["Retry-After"] == "30"
    assert Visit.objects.count() == 0


def test_health_check_answers_503_while_the_database_is_down_and_200_once_it_is_back(db):
    client = APIClient()
    fault = FailingDatabase("SELECT 1", stay_down=True)
    with connection.execute_wrapper(fault):
        down = client.get("/api/v1/health/", HTTP_ACCEPT_LANGUAGE="en")
    assert fault.raised == 1
    assert down.status_code == 503
    assert down.json() == RETRY_LATER
    assert down["Retry-After"] == "30"
    back = client.get("/api/v1/health/")
    assert back.status_code == 200 and back.json() == {"status": "ok", "database": "ok"}


def test_pages_outside_the_api_answer_a_503_page_while_the_database_is_down(world):
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(world.users["admin"])
    fault = FailingDatabase("", stay_down=True)
    with connection.execute_wrapper(fault):
        pages = [client.get("/admin/agri/visit/", HTTP_ACCEPT_LANGUAGE="en"), client.get("/map/")]
    assert fault.raised >= 2
    for page in pages:
        assert page.status_code == 503
        assert page["Retry-After"] == "30"
    assert pages[0].content.decode() == "The service is unavailable just now. Try again in a minute."


# --- the photo store failing on a write -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(lambda: EndpointConnectionError(endpoint_url="https://oss.example.org/photos"), id="unreachable"),
        pytest.param(
            lambda: ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."}}, "PutObject"),
            id="refused",
        ),
    ],
)
def test_object_store_failing_on_a_write_is_a_503_and_leaves_no_row_and_no_file(
    world, clients, private_root, monkeypatch, error
):
    """An S3 store that is unreachable or refuses answers like a full disk: 503, nothing kept, retry works."""
    client = clients["worker"]
    visit = new_visit(client, world)
    state_before = visit_state(visit["id"])
    storage = photo_storage()
    real_save = storage.save
    refused = []

    def save(name, content, max_length=None):
        if "-display." in name:
            refused.append(name)
            raise error()
        return real_save(name, content, max_length)

    monkeypatch.setattr(storage, "save", save)
    photo_id = str(uuid.uuid4())
    data = image_bytes("JPEG", color=(30, 30, 200))
    response = upload(client, visit["id"], data, photo_id=photo_id, HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response.json(), response["Retry-After"]) == (503, STORAGE_UNAVAILABLE, "30")
    assert len(refused) == 1, "the patched save never refused the display: the upload writes through another storage"
    assert stored_files(private_root) == []  # the original, written before the display failed, was removed
    assert not Photo.objects.exists() and visit_state(visit["id"]) == state_before
    monkeypatch.undo()
    retry = upload(client, visit["id"], data, photo_id=photo_id)
    assert retry.status_code == 201 and Photo.objects.filter(pk=photo_id).count() == 1
    assert_every_photo_has_its_files(private_root)


@pytest.mark.parametrize("variant", ["original", "display", "thumbnail"])
def test_disk_full_during_a_photo_write_is_a_503_and_leaves_no_row_and_no_file(
    world, clients, private_root, monkeypatch, variant
):
    client = clients["worker"]
    visit = new_visit(client, world)
    kept = upload(client, visit["id"], image_bytes("JPEG", color=(200, 30, 30)))
    assert kept.status_code == 201
    files_before = stored_files(private_root)
    state_before = visit_state(visit["id"])

    storage = photo_storage()
    real_save = storage.save
    partial: list[tuple[str, int]] = []

    def save(name, content, max_length=None):
        """The disk fills up half-way through writing ``variant``: Django's own write leaves a partial file."""
        if f"-{variant}." not in name:
            return real_save(name, content, max_length)
        data = content.read()

        class FillsTheDisk(ContentFile):
            def chunks(self, chunk_size=None):
                yield data[: len(data) // 2]
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        try:
            return real_save(name, FillsTheDisk(data), max_length)
        finally:
            partial.extend(
                (name, path.stat().st_size) for path in stored_files(private_root) if path == private_root / name
            )

    monkeypatch.setattr(storage, "save", save)
    photo_id = str(uuid.uuid4())
    data = image_bytes("JPEG", color=(30, 200, 30))
    response = upload(client, visit["id"], data, photo_id=photo_id, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response.json() == STORAGE_UNAVAILABLE
    assert response["Retry-After"] == "30"
    assert len(partial) == 1 and partial[0][1] > 0  # the failed write had really left part of a file
    assert stored_files(private_root) == files_before  # ... and the upload removed it with its other files
    assert [str(p) for p in Photo.objects.values_list("id", flat=True)] == [kept.json()["id"]]
    assert visit_state(visit["id"]) == state_before

    monkeypatch.undo()  # space is freed: the phone's retry of the same upload goes through
    retry = upload(client, visit["id"], data, photo_id=photo_id)
    assert retry.status_code == 201 and retry.json()["id"] == photo_id
    photo = Photo.objects.get(pk=photo_id)
    assert sorted(stored_files(private_root)) == sorted(
        [*files_before, *(private_root / name for name in photo_files(photo))]
    )
    assert (private_root / photo.original.name).read_bytes() == data
    after = visit_state(visit["id"])
    assert (after["photos_present"], after["version"]) == (2, state_before["version"] + 1)
    assert_every_photo_has_its_files(private_root)


def test_database_failing_at_the_photo_insert_is_a_503_and_removes_the_files(world, clients, private_root):
    client = clients["worker"]
    visit = new_visit(client, world)
    state_before = visit_state(visit["id"])
    photo_id = str(uuid.uuid4())
    data = image_bytes("JPEG", color=(30, 30, 200))
    fault = FailingDatabase('INSERT INTO "agri_photo"')
    with connection.execute_wrapper(fault):
        response = upload(client, visit["id"], data, photo_id=photo_id, HTTP_ACCEPT_LANGUAGE="en")
    assert fault.raised == 1
    assert response.status_code == 503
    assert response.json() == RETRY_LATER
    assert Photo.objects.count() == 0
    assert stored_files(private_root) == []
    assert visit_state(visit["id"]) == state_before

    retry = upload(client, visit["id"], data, photo_id=photo_id)
    assert retry.status_code == 201
    assert stored_files(private_root) == sorted(
        private_root / name for name in photo_files(Photo.objects.get(pk=photo_id))
    )
    assert visit_state(visit["id"])["photos_present"] == 1


# --- a reply lost after the commit, then the phone's retry --------------------------------------------------------


def test_lost_reply_to_a_visit_post_then_retry_gives_one_row_and_the_same_body(world, clients):
    map_world(world)
    body = visit_body(world, "H1", HOME_LON, HOME_LAT)
    lost = clients["worker"].post("/api/v1/visits/", body, format="json")  # committed; the phone never hears
    retry = clients["worker"].post("/api/v1/visits/", body, format="json")
    assert (lost.status_code, retry.status_code) == (201, 200)
    assert retry.json() == lost.json()
    assert retry["ETag"] == lost["ETag"] == f'"{body["id"]}-1"'
    assert [str(v) for v in Visit.objects.values_list("id", flat=True)] == [body["id"]]
    assert created_events() == [body["id"]]
    assert sum(VisitRollup.objects.values_list("visits", flat=True)) == 1


def test_lost_reply_to_a_sync_batch_then_retry_gives_one_row_each_and_the_same_answers(world, clients):
    map_world(world)
    items = [visit_body(world, "H1", HOME_LON, HOME_LAT, notes=f"第{n}次") for n in range(5)]
    lost = clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json").json()
    retry = clients["worker"].post("/api/v1/sync/visits/", {"visits": items}, format="json").json()
    assert [r["status"] for r in lost["results"]] == ["created"] * 5
    # The same body, item for item, except that the items now say they were stored already.
    assert retry == {"results": [{**r, "status": "unchanged", "code": "unchanged"} for r in lost["results"]]}
    assert sorted(str(v) for v in Visit.objects.values_list("id", flat=True)) == sorted(v["id"] for v in items)
    assert created_events() == sorted(v["id"] for v in items)
    assert sum(VisitRollup.objects.values_list("visits", flat=True)) == 5


def test_lost_reply_to_a_photo_upload_then_retry_gives_one_row_and_the_same_body(world, clients, private_root):
    client = clients["worker"]
    visit = new_visit(client, world)
    photo_id = str(uuid.uuid4())
    data = image_bytes("JPEG", color=(120, 120, 20))
    lost = upload(client, visit["id"], data, photo_id=photo_id)
    state = visit_state(visit["id"])
    files = stored_files(private_root)
    retry = upload(client, visit["id"], data, photo_id=photo_id)
    assert (lost.status_code, retry.status_code) == (201, 200)
    assert retry.json() == lost.json()
    assert [str(p) for p in Photo.objects.values_list("id", flat=True)] == [photo_id]
    assert (
        stored_files(private_root)
        == files
        == sorted(private_root / n for n in photo_files(Photo.objects.get(pk=photo_id)))
    )
    assert visit_state(visit["id"]) == state  # the replay changed nothing, not even the version
    assert state["photos_present"] == 1


# --- two phones editing one visit from the same ETag ---------------------------------------------------------------
# tests/agri/api/test_visits.py::test_two_phones_editing_from_the_same_etag_one_wins covers the edits one after the
# other, where the second is refused by the view's ETag check. Here both pass that check before either writes, so
# the conditional UPDATE in visit_update is what decides.


@pytest.mark.django_db(transaction=True)
def test_two_phones_editing_from_the_same_etag_at_once_one_wins_the_other_gets_412(monkeypatch):
    world = map_world(build_world())
    user = world.users["worker"]
    body = visit_body(world, "H1", HOME_LON, HOME_LAT, participants=2)
    phones = [login(user, "phone a"), login(user, "phone b")]
    etag = phones[0].post("/api/v1/visits/", body, format="json")["ETag"]
    both_checked = threading.Barrier(2)
    real_update = visit_views.visit_update
    held = []  # one entry per edit that went through the patched visit_update

    def update_after_both_checked(**kwargs):
        held.append(threading.current_thread().name)
        both_checked.wait(timeout=30)
        return real_update(**kwargs)

    monkeypatch.setattr(visit_views, "visit_update", update_after_both_checked)
    responses, errors = {}, []

    def edit(phone, participants):
        try:
            responses[participants] = phone.patch(
                f"/api/v1/visits/{body['id']}/",
                {"participants": participants},
                format="json",
                HTTP_IF_MATCH=etag,
                HTTP_ACCEPT_LANGUAGE="en",
            )
        except Exception:  # recorded, so the assertion below names it
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(phone, n)) for phone, n in zip(phones, (5, 9), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    # Both edits waited in the patch before writing: the race was real, not two edits one after the other.
    assert len(held) == 2, f"the patched visit_update ran {len(held)} times: the view no longer calls it"
    assert sorted(r.status_code for r in responses.values()) == [200, 412]
    winner = next(n for n, r in responses.items() if r.status_code == 200)
    loser = responses[14 - winner]
    assert loser.json() == {
        "code": "precondition_failed",
        "message": "The visit was changed since you read it. Fetch it again and reapply your edit.",
        "fields": {},
    }
    assert responses[winner].json()["participants"] == winner
    assert responses[winner]["ETag"] == f'"{body["id"]}-2"'
    stored = Visit.objects.get(pk=body["id"])
    assert (stored.version, stored.participants) == (2, winner)
    events = list(VisitEvent.objects.filter(visit=stored).order_by("id").values_list("action", "changes"))
    assert events == [("create", {}), ("update", {"participants": [2, winner]})]
    assert sum(VisitRollup.objects.values_list("participants", flat=True)) == winner
    assert_rollup_matches_the_visits()


# --- a worker killed in the middle of an upload ------------------------------------------------------------------


def upload_in_a_worker_killed_midway(header: str, visit_id: str, photo_id: str, data: bytes, kill_point: str):
    """Fork a worker process that takes the upload and is SIGKILLed at ``kill_point``: right after its files are
    written (``files_written``), or after its row and the visit's roll-up are written but before they commit
    (``before_commit``). Returns the names of the files it wrote."""
    connections.close_all()  # the worker opens its own connection; none is shared across the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: it never returns into pytest
        try:
            os.close(read_end)
            real_insert = photo_service._insert

            def insert_then_die(photo, processed):
                if kill_point == "before_commit":
                    real_insert(photo, processed)
                os.write(write_end, json.dumps(photo_files(photo)).encode())
                os.kill(os.getpid(), signal.SIGKILL)

            photo_service._insert = insert_then_die
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=header)
            upload(client, visit_id, data, photo_id=photo_id)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)  # reached only if the kill point never was
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        written = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"worker exit status {status}"
    return json.loads(written)


@pytest.mark.parametrize("kill_point", ["files_written", "before_commit"])
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_upload_leaves_only_orphan_files_that_cleanup_removes(private_root, kill_point):
    world = build_world()
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    kept = upload(client, visit["id"], image_bytes("JPEG", color=(10, 160, 90)))
    assert kept.status_code == 201
    kept_files = stored_files(private_root)
    state_before = visit_state(visit["id"])

    photo_id = str(uuid.uuid4())
    data = image_bytes("JPEG", color=(160, 10, 90))
    header = client._credentials["HTTP_AUTHORIZATION"]
    written = upload_in_a_worker_killed_midway(header, visit["id"], photo_id, data, kill_point)

    strays = sorted(private_root / name for name in written)
    assert len(strays) == 3 and all(path.is_file() for path in strays)
    assert all(name.startswith(f"{photo_id[:2]}/{photo_id}-") for name in written)
    assert stored_files(private_root) == sorted([*kept_files, *strays])
    assert [str(p) for p in Photo.objects.values_list("id", flat=True)] == [kept.json()["id"]]
    assert visit_state(visit["id"]) == state_before
    assert_every_photo_has_its_files(private_root)

    # The worker might still be committing as far as the sweep can tell: young orphans are left alone.
    young = cleanup_orphans()
    assert "6 files checked: 3 in use, 3 orphans younger than 24 h kept, 0 orphans deleted (0 bytes)." in young
    assert stored_files(private_root) == sorted([*kept_files, *strays])
    # A day later every file is old; only the ones no row refers to go.
    for path in stored_files(private_root):
        then = path.stat().st_mtime - 25 * 3600
        os.utime(path, (then, then))
    size = sum(path.stat().st_size for path in strays)
    report = cleanup_orphans()
    assert f"6 files checked: 3 in use, 0 orphans younger than 24 h kept, 3 orphans deleted ({size} bytes)." in report
    assert stored_files(private_root) == kept_files
    assert_every_photo_has_its_files(private_root)

    # The phone never got an answer, so it uploads the photo again: stored once, with its files.
    retry = upload(client, visit["id"], data, photo_id=photo_id)
    assert retry.status_code == 201
    photo = Photo.objects.get(pk=photo_id)
    assert stored_files(private_root) == sorted([*kept_files, *(private_root / name for name in photo_files(photo))])
    assert (private_root / photo.original.name).read_bytes() == data
    after = visit_state(visit["id"])
    assert (after["photos_present"], after["version"]) == (2, state_before["version"] + 1)
    assert_every_photo_has_its_files(private_root)


# --- a connection cut in the middle of a request body -------------------------------------------------------------


class CutStream:
    """A request body that stops part-way, as a phone's connection reset in the middle of an upload does: the first
    ``keep`` bytes, then the socket error the server reads."""

    def __init__(self, data: bytes, keep: int):
        self.data, self.keep, self.position = data, keep, 0

    def read(self, size=-1):
        if self.position >= self.keep:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        end = self.keep if size is None or size < 0 else min(self.keep, self.position + size)
        chunk, self.position = self.data[self.position : end], end
        return chunk

    def readline(self, size=-1):
        return self.read(size)


@pytest.mark.django_db
def test_a_body_cut_by_the_network_is_a_400_and_keeps_nothing(private_root):
    """The phone is gone by then, but the server must not log a 500 for it, and must keep nothing half-read: a JSON
    push and a multipart photo upload whose connection resets half-way through the body."""
    world = map_world(build_world())
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    body = json.dumps(visit_body(world, "H1", HOME_LON, HOME_LAT)).encode()
    cut = {"wsgi.input": CutStream(body, len(body) // 2), "CONTENT_LENGTH": str(len(body))}
    response = client.generic("POST", "/api/v1/visits/", body, content_type="application/json", **cut)
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("parse_error", "incomplete_request")  # what came is not whole JSON
    assert Visit.objects.count() == 1  # the visit made by new_visit only

    boundary = "cut-boundary"
    photo = image_bytes()
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{uuid.uuid4()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    cut = {"wsgi.input": CutStream(multipart, len(multipart) // 2), "CONTENT_LENGTH": str(len(multipart))}
    response = client.generic(
        "POST",
        f"/api/v1/visits/{visit['id']}/photos/",
        multipart,
        content_type=f"multipart/form-data; boundary={boundary}",
        HTTP_ACCEPT_LANGUAGE="en",
        **cut,
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "incomplete_request"
    assert "connection" in response.json()["message"].lower()
    assert Photo.objects.count() == 0
    assert stored_files(private_root) == []
