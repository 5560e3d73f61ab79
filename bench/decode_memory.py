"""Benchmark: peak memory of a worker process decoding hostile PNGs through the real upload endpoint.

    .venv/bin/python bench/decode_memory.py [--database sqlite:///path]
    .venv/bin/python bench/decode_memory.py --calibrate


Seeds the demo into a fresh SQLite database (or uses the one named, which must hold it). Then, for each case, a
process of its own (as a gunicorn worker is) logs in as ``demo-worker``, pushes a visit, uploads one ordinary
photo to warm every import and cache, and records its peak RSS (``ru_maxrss``). It then uploads the case's files
to ``POST /api/v1/visits/{id}/photos/`` and records the peak again: the growth is what the upload cost the worker.

Cases: a 7 kB 59-megapixel 1-bit PNG; a 460 kB 59-megapixel 16-bit RGBA PNG; six of them (three of each) sent at
once from six threads of one process (a threaded worker; a sync worker takes one request at a time); and the same
for a 36-megapixel 8-bit RGB PNG, which is within the budget and so decoded. The files are all zeros, compressed
row by row, so that building them costs no memory. The bound is the worker's decode
budget: ``PHOTO_MAX_DECODE_BYTES`` times ``PHOTO_DECODE_CONCURRENCY`` (the settings' defaults, or the environment).

``--calibrate`` checks ``agri.imaging.decode_bytes`` against what decoding really takes: for noise images of every
mode and format the pipeline meets (and the real HEIC samples), a process of its own runs ``process_photo`` with no
budget and records its peak RSS growth, next to the estimate. The estimate must be the larger.
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
    "36 MP RGB PNG": [("rgb36", 1)],
    "six 36 MP at once": [("rgb36", 6)],
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
    # Within the default budget (an estimate of 194 MB): it is decoded, and shows what an accepted upload costs.
    "rgb36": lambda: zeros_png(6000, 6000, bit_depth=8, color_type=2),
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


def calibration_files() -> dict:
    """name -> file bytes: noise (incompressible, as a camera's) of each mode and format, and the real HEICs."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    w, h = 4000, 3000

    def noise(channels: int):
        return rng.integers(0, 256, (h, w, channels) if channels > 1 else (h, w), dtype=np.uint8)

    def save(im, fmt, **kw) -> bytes:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        return buf.getvalue()

    files = {
        "PNG 1-bit": save(Image.fromarray(noise(1) > 127), "PNG"),
        "PNG L": save(Image.fromarray(noise(1)), "PNG", compress_level=1),
        "PNG P": save(Image.fromarray(noise(3)).quantize(64), "PNG", compress_level=1),
        "PNG RGB": save(Image.fromarray(noise(3)), "PNG", compress_level=1),
        "PNG RGBA": save(Image.fromarray(noise(4)), "PNG", compress_level=1),
        "PNG 16-bit grey": save(Image.fromarray(noise(1).astype(np.uint16) * 257), "PNG", compress_level=1),
        "WebP RGB": save(Image.fromarray(noise(3)), "WEBP", quality=60),
        "WebP RGBA": save(Image.fromarray(noise(4)), "WEBP", quality=60),
        "JPEG": save(Image.fromarray(noise(3)), "JPEG", quality=85),
        "JPEG progressive": save(Image.fromarray(noise(3)), "JPEG", quality=85, progressive=True),
    }
    for path in sorted((ROOT / "tests" / "data" / "photos").glob("*.[hH][eE][iI][cCfF]")):
        files[f"HEIC {path.name}"] = path.read_bytes()
    return files


def calibrate_one(path: str) -> dict:
    """In a fresh process: the estimate for one file, and the peak RSS growth of processing it with no budget."""
    import io
    from zoneinfo import ZoneInfo

    import django

    django.setup()
    from PIL import Image

    from agri import imaging

    data = Path(path).read_bytes()
    im = Image.open(io.BytesIO(data))
    full = im.size
    if im.format in ("JPEG", "MPO"):
        im.draft(None, imaging._fit(im.size, 1600))
    estimate = len(data) + imaging.decode_bytes(im, display_px=1600, full_size=full)
    mode, size = im.mode, f"{full[0]}x{full[1]}"
    del im, data
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = Path(path).read_bytes()
    imaging.process_photo(
        data, max_pixels=10**9, display_px=1600, thumbnail_px=320, default_tz=ZoneInfo("Asia/Shanghai")
    )
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"mode": mode, "size": size, "estimate_mb": estimate / 2**20, "measured_mb": growth}


def calibrate() -> int:
    print(f"{'file':48} {'size':>10} {'mode':>5} {'estimate MB':>12} {'measured MB':>12}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="nongji-calibrate-") as folder:
        # The files are made in a process of their own: Linux carries a parent's peak RSS into a child's ru_maxrss
        # across fork and exec, and the images take hundreds of MB to make.
        subprocess.run([sys.executable, __file__, "--calibrate-make", folder], check=True)
        for path in sorted(Path(folder).iterdir()):
            name = path.name
            out = subprocess.run(
                [sys.executable, __file__, "--calibrate-one", str(path)], check=True, capture_output=True, text=True
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            worst = max(worst, row["measured_mb"] / row["estimate_mb"])
            figures = f"{row['estimate_mb']:12.1f} {row['measured_mb']:12.1f}"
            print(f"{name[:48]:48} {row['size']:>10} {row['mode']:>5} {figures}")
    print(f"largest measured / estimate: {worst:.2f} ({'the estimate is an upper bound' if worst <= 1 else 'UNDER'})")
    return 0 if worst <= 1 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="")
    parser.add_argument("--calibrate", action="store_true", help="check the estimate against measured decodes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--calibrate-one", help=argparse.SUPPRESS)
    parser.add_argument("--calibrate-make", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if args.calibrate:
        return calibrate()
    if args.calibrate_make:
        for index, (name, data) in enumerate(calibration_files().items()):
            (Path(args.calibrate_make) / f"{index:02d} {name}").write_bytes(data)
        return 0
    if args.calibrate_one:
        print(json.dumps(calibrate_one(args.calibrate_one)))
        return 0
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
        answers = ", ".join(row["answers"])
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
