"""Phones retry uploads over bad networks, often at once: concurrent uploads stay exactly-once and counted right."""

import threading
import uuid

import pytest
from django.db import connection
from django.test.client import encode_multipart
from rest_framework.test import APIClient

from agri.models import Photo, Visit
from tests.agri.photo_support import image_bytes, new_visit, sample, stored_files, use_private_storage
from tests.support import build_world, login

BOUNDARY = "photo-test-boundary"


def run_at_once(header: str, requests: list[tuple[str, bytes]]) -> tuple[list[int], list[str]]:
    """POST each (url, multipart body) from its own thread and connection, all released together."""
    statuses, errors = [], []
    barrier = threading.Barrier(len(requests))

    def post(url, body):
        try:
            barrier.wait(timeout=30)
            response = APIClient().post(
                url, body, content_type=f"multipart/form-data; boundary={BOUNDARY}", HTTP_AUTHORIZATION=header
            )
            statuses.append(response.status_code)
        except Exception as exc:  # recorded, so the assertion names it
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses, errors


def multipart(photo_id: str, data: bytes) -> bytes:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return encode_multipart(BOUNDARY, {"id": photo_id, "file": SimpleUploadedFile("p.jpg", data)})


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_photo_store_it_once(settings, tmp_path):
    root = use_private_storage(settings, tmp_path / "photos")
    world = build_world()
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    url = f"/api/v1/visits/{visit['id']}/photos/"
    body = multipart(str(uuid.uuid4()), sample("ianare_jpg_gps_DSCN0010.jpg"))
    statuses, errors = run_at_once(client._credentials["HTTP_AUTHORIZATION"], [(url, body)] * 8)
    assert errors == []
    assert sorted(statuses) == [200] * 7 + [201]
    assert Photo.objects.count() == 1
    assert len(stored_files(root)) == 3  # the losers of the race removed their own files
    assert Visit.objects.get(pk=visit["id"]).photos_present == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_different_photos_are_all_counted(settings, tmp_path):
    use_private_storage(settings, tmp_path / "photos")
    world = build_world()
    client = login(world.users["worker"])
    visit = new_visit(client, world)
    url = f"/api/v1/visits/{visit['id']}/photos/"
    bodies = [(url, multipart(str(uuid.uuid4()), image_bytes("PNG", color=(i * 40, 90, 30)))) for i in range(6)]
    statuses, errors = run_at_once(client._credentials["HTTP_AUTHORIZATION"], bodies)
    assert errors == []
    assert statuses == [201] * 6
    stored = Visit.objects.get(pk=visit["id"])
    assert stored.photos_present == Photo.objects.filter(visit=stored).count() == 6
    assert stored.version == 7  # created at 1, then one bump per photo: no update was lost
