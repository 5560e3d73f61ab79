"""Benchmark: peak memory of a worker process decoding hostile PNGs through the real upload endpoint.

    .venv/bin/python bench/decode_memory.py [--database sqlite:///path]

Seeds the demo into a fresh SQLite database (or uses the one named, which must hold it). Then, for each case, a
process of its own (as a gunicorn worker is) logs in as ``demo-worker``, pushes a visit, uploads one ordinary
photo to warm every import and cache, and records its peak RSS (``ru_maxrss``). It then uploads the case's files
to ``POST /api/v1/visits/{id}/photos/`` and records the peak again: the growth is what the upload cost the worker.

Cases: a 7 kB 59-megapixel 1-bit PNG; a 460 kB 59-megapixel 16-bit RGBA PNG; and six of them (three of each) sent
at once from six threads of one process (a threaded worker; a sync worker takes one request at a time). The files
are all zeros, compressed row by row, so that building them costs no memory. The bound is the worker's decode
budget: ``PHOTO_MAX_DECODE_BYTES`` times ``PHOTO_DECODE_CONCURRENCY`` (the settings' defaults, or the environment).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "tests" / "data" / "photos" / "ianare_jpg_gps_DSCN0010.jpg"
SIDE = 7680  # 7680 x 7680 = 59.0 megapixels, under the default 60 MP pixel limit and Pillow's 89 MP warning
CASES = {
    "1-bit PNG": [("1bit", 1)],
    "16-bit RGBA PNG": [("rgba16", 1)],
    "six at once": [("1bit", 3), ("rgba16", 3)],
}


def zeros_png(width: int, height: int, *, bit_depth: int, color_type: int) -> bytes:
    """A PNG of zeros (black, or transparent), built row by row without ever holding its pixels."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = bytes(1 + (width * channels * bit_depth + 7) // 8)
    deflate = zlib.compressobj(9)
    idat = b"".join([deflate.compress(row) for _ in range(height)] + [deflate.flush()])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([bit_depth, color_type, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


HOSTILE = {
    "1bit": lambda: zeros_png(SIDE, SIDE, bit_depth=1, color_type=0),
    "rgba16": lambda: zeros_png(SIDE, SIDE, bit_depth=16, color_type=6),
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(case: str) -> dict:
    """One worker process: warm up, then upload the case's files (at once when there are several)."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.utils import timezone

    files = [(kind, HOSTILE[kind]()) for kind, count in CASES[case] for _ in range(count)]
    password = os.environ.get("DEMO_PASSWORD", "nongji-demo-2026")
    login = Client().post(
        "/api/v1/auth/login/", {"username": "demo-worker", "password": password, "device": "bench"}, "application/json"
    )
    token = login.json()["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT_LANGUAGE="en")
    household = client.get("/api/v1/model-households/", {"page_size": 1}).json()["results"][0]
    visit = {
        "id": str(uuid.uuid4()),
        "kind": "diagnosis",
        "industry": household["industries"][0],
        "household": household["id"],
        "started_at": timezone.now().isoformat(),
        "lat": household["lat"],
        "lon": household["lon"],
        "accuracy_m": 8.0,
        "source_crs": "wgs84",
    }
    response = client.post("/api/v1/visits/", visit, "application/json")
    assert response.status_code == 201, response.content[:300]

    def send(data: bytes) -> tuple[int, str, float]:
        t0 = time.perf_counter()
        body = {"id": str(uuid.uuid4()), "file": SimpleUploadedFile("IMG_0001.png", data, "image/png")}
        answer = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT_LANGUAGE="en").post(
            f"/api/v1/visits/{visit['id']}/photos/", body
        )
        code = answer.json().get("code", "") if answer.status_code >= 400 else ""
        return answer.status_code, code, time.perf_counter() - t0

    warm = send(SAMPLE.read_bytes())
    assert warm[0] == 201, warm
    baseline = peak_mb()
    results: list = [None] * len(files)

    def run(index: int) -> None:
        results[index] = send(files[index][1])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    photos = settings.PHOTOS
    return {
        "case": case,
        "files": [f"{kind} {len(data):,} B" for kind, data in files],
        "answers": [f"{status} {code}".strip() + f" ({seconds:.1f} s)" for status, code, seconds in results],
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak_mb(), 1),
        "growth_mb": round(peak_mb() - baseline, 1),
        "bound_mb": round(photos.get("max_decode_bytes", 0) * photos.get("decode_concurrency", 1) / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    database = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='nongji-decode-')}/demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": database}
    media = tempfile.mkdtemp(prefix="nongji-decode-media-")
    env.setdefault("PHOTO_ROOT", media)
    if not args.database:
        for command in (["migrate"], ["seed_demo"]):
            subprocess.run([sys.executable, str(ROOT / "manage.py"), *command, "-v0"], env=env, check=True)
    print(f"{'case':18} {'baseline MB':>12} {'peak MB':>8} {'growth MB':>10} {'bound MB':>9}  answers")
    worst = 0.0
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", case], env=env, check=True, capture_output=True, text=True
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        worst = max(worst, row["growth_mb"])
        answers = ", ".join(sorted(set(row["answers"]), key=row["answers"].index))
        print(
            f"{case:18} {row['baseline_mb']:12.1f} {row['peak_mb']:8.1f} {row['growth_mb']:10.1f} "
            f"{row['bound_mb']:9.1f}  {answers}"
        )
    bound = row["bound_mb"]
    verdict = "under the bound" if bound and worst <= bound else "OVER THE BOUND" if bound else "no bound configured"
    print(f"largest growth {worst:.1f} MB: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
