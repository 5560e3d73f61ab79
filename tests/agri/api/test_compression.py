"""Compression of responses (agri.middleware.CompressionMiddleware) for phones on 2G/3G: gzip, zstd and Brotli
when asked, ETags strong and unchanged, streams compressed as they stream, secrets never compressed."""

import gzip
import io
import uuid
import zipfile
from datetime import timedelta

import brotli
import numpy as np
import pytest
import zstandard
from django.utils import timezone
from PIL import Image

from agri import middleware
from tests import factories as f
from tests.agri.photo_support import upload, use_private_storage

PULL = "/api/v1/visits/"
PULL_QUERY = {"updated_since": "1970-01-01T00:00:00Z", "page_size": 1000}
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip"}
HOME_LON, HOME_LAT = 108.7, 30.95  # the world's households (tests/factories.py)


def visit_body(world, n: int, **overrides) -> dict:
    start = (timezone.now() - timedelta(days=1 + n % 20, hours=2, minutes=n)).replace(microsecond=0)
    body = {
        "id": str(uuid.uuid4()),
        "kind": ("guidance", "diagnosis", "training")[n % 3],
        "industry": "citrus",
        "household": str(world["H1"].pk),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=1)).isoformat(),
        "lat": round(HOME_LAT + n * 0.00013, 6),
        "lon": round(HOME_LON + n * 0.00011, 6),
        "accuracy_m": 5 + n % 7,
        "source_crs": "wgs84",
        "notes": f"柑橘溃疡病防治指导：剪除病枝，喷施铜制剂（第{n}次）",
        "participants": 1 + n % 4,
        "photos_expected": n % 3,
    }
    body.update(overrides)
    return body


@pytest.fixture
def worker(clients):
    return clients["worker"]


@pytest.fixture
def visits(world, worker):
    """80 visits pushed the way a phone does: one sync batch."""
    items = [visit_body(world, n) for n in range(80)]
    response = worker.post("/api/v1/sync/visits/", {"visits": items}, format="json")
    assert response.status_code == 200, response.content
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    return items


def vary(response) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",")}


# --- the pull page -----------------------------------------------------------------------------------------------


def test_a_gzipped_pull_page_is_small_and_decompresses_to_the_raw_bytes(visits, worker):
    raw = worker.get(PULL, PULL_QUERY)
    packed = worker.get(PULL, PULL_QUERY, **GZIP)
    assert raw.status_code == packed.status_code == 200
    assert len(raw.json()["results"]) == 80
    assert not raw.has_header("Content-Encoding")  # no Accept-Encoding: identity
    assert packed["Content-Encoding"] == "gzip"
    assert "accept-encoding" in vary(packed) and "accept-encoding" in vary(raw)
    assert int(packed["Content-Length"]) == len(packed.content)
    assert len(packed.content) * 5 <= len(raw.content), (len(raw.content), len(packed.content))
    assert gzip.decompress(packed.content) == raw.content
    # The ETag names the content: the same, strong, with or without compression.
    assert raw["ETag"] == packed["ETag"] and packed["ETag"].startswith('"')


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br, zstd", "zstd"),  # a tie goes to the server's order: zstd, br, gzip
        ("gzip;q=1.0, br;q=0.5", "gzip"),  # the client's q-values first
        ("br;q=0.9, gzip;q=0.8, zstd;q=0", "br"),
        ("deflate, gzip;q=0.1", "gzip"),
        ("identity", None),
        ("gzip;q=0", None),
        ("", None),
    ],
)
def test_the_coding_follows_the_clients_q_values(visits, worker, accept, coding):
    raw = worker.get(PULL, PULL_QUERY).content
    response = worker.get(PULL, PULL_QUERY, HTTP_ACCEPT_ENCODING=accept)
    assert response.get("Content-Encoding") == coding
    decode = {
        "gzip": gzip.decompress,
        "br": brotli.decompress,
        "zstd": lambda data: zstandard.ZstdDecompressor().decompress(data),
        None: bytes,
    }[coding]
    assert decode(response.content) == raw


def test_if_none_match_with_the_etag_of_a_gzipped_page_gets_a_304(world, visits, worker):
    packed = worker.get(PULL, PULL_QUERY, **GZIP)
    assert packed["Content-Encoding"] == "gzip"
    again = worker.get(PULL, PULL_QUERY, HTTP_IF_NONE_MATCH=packed["ETag"], **GZIP)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == packed["ETag"] and not again.has_header("Content-Encoding")
    assert "accept-encoding" in vary(again)
    # Weakened by a proxy on the way, it still matches (If-None-Match compares weakly).
    weak = worker.get(PULL, PULL_QUERY, HTTP_IF_NONE_MATCH="W/" + packed["ETag"], **GZIP)
    assert weak.status_code == 304
    # Once a visit is added, the page is new.
    assert worker.post("/api/v1/visits/", visit_body(world, 99), format="json").status_code == 201
    changed = worker.get(PULL, PULL_QUERY, HTTP_IF_NONE_MATCH=packed["ETag"], **GZIP)
    assert changed.status_code == 200 and changed["ETag"] != packed["ETag"]
    assert gzip.decompress(changed.content).count(b'"started_at"') == 81


# --- a visit: GET with gzip, then PATCH with its ETag ---------------------------------------------------------------


def test_patch_with_the_etag_of_a_gzipped_visit_is_accepted(world, worker):
    body = visit_body(world, 1, notes="柑橘溃疡病防治指导，" * 60)  # long enough to be compressed
    assert worker.post("/api/v1/visits/", body, format="json").status_code == 201
    got = worker.get(f"/api/v1/visits/{body['id']}/", **GZIP)
    assert got.status_code == 200
    assert got["Content-Encoding"] == "gzip"
    assert got["ETag"] == f'"{body["id"]}-1"'  # strong, as the view set it
    patched = worker.patch(
        f"/api/v1/visits/{body['id']}/",
        {"notes": "复查：病斑已控制"},
        format="json",
        HTTP_IF_MATCH=got["ETag"],
        **GZIP,
    )
    assert patched.status_code == 200, patched.content
    assert patched["ETag"] == f'"{body["id"]}-2"'
    stale = worker.patch(
        f"/api/v1/visits/{body['id']}/", {"notes": "再改"}, format="json", HTTP_IF_MATCH=got["ETag"], **GZIP
    )
    assert stale.status_code == 412


# --- never compressed ---------------------------------------------------------------------------------------------


@pytest.fixture
def compress_everything(monkeypatch):
    """No size floor: what is left uncompressed is so for another reason than its size."""
    monkeypatch.setattr(middleware, "COMPRESS_MIN_BYTES", 1)


def test_the_login_response_is_never_compressed(world, client, compress_everything):
    user = world.users["worker"]
    response = client.post(
        "/api/v1/auth/login/",
        {"username": user.username, "password": f.PASSWORD, "device": "phone"},
        content_type="application/json",
        **GZIP,
    )
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert response.json()["token"]
    # The same floor compresses an ordinary small answer, so it is the mark that keeps the token out.
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {response.json()['token']}", **GZIP)
    assert me["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api-auth/login/"])
def test_pages_with_a_csrf_token_are_never_compressed(db, client, compress_everything, path):
    response = client.get(path, **GZIP)
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    assert not response.has_header("Content-Encoding")
    assert not response.has_header("ETag")


def test_small_responses_are_not_compressed(world, worker):
    response = worker.get("/api/v1/me/", **GZIP)
    assert response.status_code == 200 and len(response.content) < 1024
    assert not response.has_header("Content-Encoding")


def test_head_is_not_compressed(visits, worker):
    response = worker.head(PULL, PULL_QUERY, **GZIP)
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")


def _noisy_jpeg() -> bytes:
    """A JPEG of noise: large enough for any floor, and incompressible like any photo."""
    pixels = np.random.default_rng(7).integers(0, 255, (400, 600, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_images_and_zips_are_not_compressed(world, clients, worker, settings, tmp_path):
    use_private_storage(settings, tmp_path / "photos")
    body = visit_body(world, 2)
    assert worker.post("/api/v1/visits/", body, format="json").status_code == 201
    data = _noisy_jpeg()
    photo = upload(worker, body["id"], data)
    assert photo.status_code == 201, photo.content
    original = worker.get(f"/api/v1/photos/{photo.json()['id']}/original/", **GZIP)
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert not original.has_header("Content-Encoding")
    assert b"".join(original.streaming_content) == data

    archive = clients["admin"].get("/api/v1/exports/photos/", **GZIP)
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    assert not archive.has_header("Content-Encoding")
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert len(names) == 2  # manifest.csv and the photo


# --- streams ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query"),
    [("/api/v1/exports/visits/", {"format": "geojson"}), ("/api/v1/visits.geojson", {})],
)
def test_a_streamed_geojson_export_is_compressed_as_it_streams(visits, clients, path, query):
    admin = clients["admin"]
    raw = admin.get(path, query)
    packed = admin.get(path, query, **GZIP)
    assert raw.status_code == packed.status_code == 200
    assert raw.streaming and packed.streaming
    assert packed["Content-Encoding"] == "gzip" and "accept-encoding" in vary(packed)
    assert not packed.has_header("Content-Length")
    expected = b"".join(raw.streaming_content)
    assert expected.count(b'"Feature"') == 80
    assert gzip.decompress(b"".join(packed.streaming_content)) == expected


def test_the_stream_is_compressed_chunk_by_chunk_not_buffered():
    """Output comes out while the input is still being produced: nothing waits for the whole stream."""
    produced = []

    def rows():
        for n in range(2000):
            produced.append(n)
            yield f'{{"type": "Feature", "id": "{uuid.uuid4()}", "n": {n}}},\n'.encode()

    stream = middleware._compressed_stream("gzip", rows())
    first = next(stream)
    assert first and len(produced) < 2000
    rest = b"".join(stream)
    assert gzip.decompress(first + rest).count(b'"Feature"') == 2000


def test_an_unasked_client_gets_identity_and_a_vary(visits, clients):
    response = clients["admin"].get("/api/v1/exports/visits/", {"format": "geojson"})
    assert response.streaming and not response.has_header("Content-Encoding")
    assert "accept-encoding" in vary(response)
    assert b"".join(response.streaming_content).startswith(b"{")
