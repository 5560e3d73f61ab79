"""``python -m bench.field_day`` (``make field-day``): a field worker's day over a weak mobile link, measured.

    --profile 2g           the link (bench.netem's profiles: 2g, 3g)
    --photos 20            photos of the day, two per visit at most
    --photo-mb 3-5         their sizes in MB (JPEGs made at run time, 4000x3000 from 3 MB up, EXIF GPS and time)
    --visits 10            visits, pushed as one sync batch
    --modes multipart,tus  how photos go: one multipart POST each, started again from zero after a cut (a naive
                           retry), or tus 1.0 uploads resumed from the server's offset by tuspy, a third-party client
    --max-attempts 5       multipart attempts per photo before the phone gives up on it (a photo bigger than the
                           2g cut never gets through: each attempt ends at the next cut)
    --backoff 2            seconds between a failed request and its retry (both modes)
    --chunk-kb 256         tus PATCH size
    --report FILE          print a saved result's table again

A fresh SQLite database (``.bench/field-day.sqlite3``) is migrated and seeded with the Yunyang demo; gunicorn
(``bench.wsgi``, 2 sync workers, a 15-minute worker timeout, as behind a proxy that lets uploads stream) serves
it on 127.0.0.1, and ``bench.netem`` puts the link in front of it, one fresh link per mode. Then, as
``demo-worker``, for each mode: push the day's visits in one batch to ``/api/v1/sync/visits/``, upload the
photos, and pull the slice (``GET /api/v1/sync/`` to its last page, gzip). Every request that a cut breaks is
sent again after the backoff. Afterwards each photo the phone was told stored is checked on the server directly
(same sha256 as the file).

Reported per mode and phase: requests, bytes on the wire each way (headers, retries and bytes lost to cuts
included), wall time, cuts; and the ideal: the payload (batch body, photo files, pull bodies as sent) over the
link's rate in each direction, with no round trips, no headers and no cuts. Writes ``.bench/field-day-<time>.json``.
"""

import argparse
import gzip
import http.client
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import orjson

from bench import data, loadgen
from bench.netem import PROFILES, Netem, Profile

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
ACCOUNT = "demo-worker"
BASE_PHOTOS = ["ianare_jpg_gps_DSCN0010.jpg", "ianare_jpg_gps_DSCN0012.jpg", "ianare_jpg_gps_DSCN0021.jpg"]
PHOTO_SIZE = (4000, 3000)  # a 12-megapixel phone camera
TIMEOUT_S = 120  # one request through the link; a 1 MB multipart attempt at 30 KB/s takes about 35 s
WORKER_TIMEOUT_S = 900
SEED = data.SEED


# ---------------------------------------------------------------- the database (in a child process, with Django)


def prepare() -> dict:
    """Fresh database with the demo; ``demo-worker`` gets a random password."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection

    from agri.models import User
    from bench.runner import _reset_database

    started = time.perf_counter()
    _reset_database()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", verbosity=0)
    password = secrets.token_urlsafe(18)
    User.objects.filter(username=ACCOUNT).update(password=make_password(password))
    connection.close()
    return {"password": password, "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------- photos


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def make_photo(rng, target_bytes: int, lat: float, lon: float, taken_at: datetime, base: str) -> bytes:
    """A 12-megapixel JPEG of about ``target_bytes`` (within 4 %): a real photo enlarged, with sensor-like grain
    (its strength found by bisection sets the size), and the EXIF a phone writes (make, model, time, GPS)."""
    from PIL import ExifTags, Image

    shrink = min(1.0, (target_bytes / 3_000_000) ** 0.5)  # below 3 MB a smaller sensor: grain alone cannot
    size = (int(PHOTO_SIZE[0] * shrink), int(PHOTO_SIZE[1] * shrink))
    with Image.open(ROOT / "tests" / "data" / "photos" / base) as im:
        pixels = np.asarray(im.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    grain = rng.normal(0, 1, pixels.shape[:2] + (1,)).astype(np.float32)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    exif[ExifTags.Base.Model] = "nova 9"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    offset = taken_at.strftime("%z")
    sub[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    exif[ExifTags.IFD.Exif] = sub
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
    gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
    gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
    exif[ExifTags.IFD.GPSInfo] = gps

    def encode(sigma: float) -> bytes:
        noisy = np.clip(pixels + grain * sigma, 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(noisy).save(buf, "JPEG", quality=90, exif=exif)
        return buf.getvalue()

    low, high = 0.0, 40.0
    best = encode(6.0)
    sigma = 6.0
    for _ in range(8):
        if abs(len(best) - target_bytes) <= 0.04 * target_bytes:
            break
        if len(best) < target_bytes:
            low = sigma
        else:
            high = sigma
        sigma = (low + high) / 2
        best = encode(sigma)
    return best


# ---------------------------------------------------------------- the phone


class Cut(Exception):
    """A request that the link broke (connection reset, refused, closed early or timed out)."""


@dataclass
class Phase:
    name: str
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    payload_up: int = 0  # what the phase had to move, without protocol: batch body, photo files
    payload_down: int = 0  # the pull's response bodies as sent
    wire: dict = field(default_factory=dict)  # LinkStats of the phase
    photos: int = 0
    delivered: int = 0
    attempts: int = 0
    notes: list = field(default_factory=list)


class Phone:
    def __init__(self, port: int, token: str, backoff: float):
        self.port = port
        self.token = token
        self.backoff = backoff
        self.phase: Phase | None = None

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body); raises ``Cut`` when the link broke the request."""
        hdrs = {"Accept": "application/json", "Accept-Language": "en", "Authorization": f"Token {self.token}"}
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        if self.phase:
            self.phase.requests += 1
        try:
            conn.request(method, path, body, hdrs)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Cut(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    def call_retrying(self, method, path, body=None, headers=None, attempts: int = 30):
        """A request sent again after each cut (pushes replay idempotently, pages are reads)."""
        for attempt in range(attempts):
            try:
                return self.call(method, path, body, headers)
            except Cut:
                if attempt == attempts - 1:
                    raise
                self.phase.retries += 1
                time.sleep(self.backoff)
        raise AssertionError("unreachable")


def push(phone: Phone, items: list[dict]) -> None:
    body = orjson.dumps({"visits": items})
    phone.phase.payload_up += len(body)
    status, _h, content = phone.call_retrying("POST", f"{API}/sync/visits/", body, {"Content-Type": "application/json"})
    results = orjson.loads(content).get("results") if status == 200 else None
    if not results or any(r.get("status") not in ("created", "unchanged") for r in results):
        raise RuntimeError(f"sync push: HTTP {status} {content[:300]!r}")


def pull(phone: Phone) -> int:
    """The whole slice, page after page; returns the number of records."""
    path, records = f"{API}/sync/", 0
    while path:
        status, headers, content = phone.call_retrying("GET", path, headers={"Accept-Encoding": "gzip"})
        if status != 200:
            raise RuntimeError(f"sync pull: HTTP {status} {content[:300]!r}")
        phone.phase.payload_down += len(content)
        if headers.get("content-encoding") == "gzip":
            content = gzip.decompress(content)
        page = orjson.loads(content)
        records += len(page["results"])
        path = urlsplit(page["next"])._replace(scheme="", netloc="").geturl() if page["next"] else None
    return records


def multipart_body(photo_id: str, name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "fieldday" + secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{photo_id}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload_multipart(phone: Phone, photo: dict, max_attempts: int) -> bool:
    """One POST of the whole file; after a cut, the same POST from its first byte, up to ``max_attempts``."""
    body, ctype = multipart_body(photo["id"], photo["name"], photo["content"])
    for attempt in range(1, max_attempts + 1):
        phone.phase.attempts += 1
        try:
            status, _h, content = phone.call(
                "POST", f"{API}/visits/{photo['visit']}/photos/", body, {"Content-Type": ctype}
            )
        except Cut:
            if attempt < max_attempts:
                phone.phase.retries += 1
                time.sleep(phone.backoff)
            continue
        if status in (200, 201):
            return True
        raise RuntimeError(f"multipart upload: HTTP {status} {content[:300]!r}")
    return False


def upload_tus(phone: Phone, photo: dict, chunk: int, retries: int) -> bool:
    """tuspy's Uploader: creation, then PATCHes of ``chunk`` bytes; after a cut it asks the server for the offset
    (HEAD) and goes on from there. A creation that a cut breaks is made again (the lost one expires)."""
    from tusclient.client import TusClient
    from tusclient.exceptions import TusCommunicationError, TusUploadFailed

    client = TusClient(
        f"http://127.0.0.1:{phone.port}{API}/uploads/", headers={"Authorization": f"Token {phone.token}"}
    )
    metadata = {"visit": photo["visit"], "id": photo["id"], "filename": photo["name"], "filetype": "image/jpeg"}
    uploader = None
    for _attempt in range(retries):
        try:
            if uploader is None:
                phone.phase.attempts += 1
                uploader = client.uploader(
                    file_stream=io.BytesIO(photo["content"]),
                    chunk_size=chunk,
                    metadata=metadata,
                    retries=retries,
                    retry_delay=phone.backoff,
                )
            uploader.upload()
            return True
        except (TusCommunicationError, TusUploadFailed) as exc:
            if getattr(exc, "status_code", None) and exc.status_code < 500:
                raise RuntimeError(f"tus upload: HTTP {exc.status_code} {exc.response_content!r:.300}") from exc
            phone.phase.retries += 1
            if uploader is not None and not uploader.url:
                uploader = None
            time.sleep(phone.backoff)
    return False


# ---------------------------------------------------------------- one day


def day(mode: str, server_port: int, token: str, profile: Profile, cfg, households, rng) -> dict:
    """One mode's day through a fresh link: push, photos, pull. Returns the phases and the photos sent."""
    items = data.phone_visits(rng, households, cfg.visits)
    for item in items:
        item["photos_expected"] = 0
    wgs84 = {h[0]: (h[1], h[2]) for h in households}
    photos = []
    sizes = rng.uniform(cfg.photo_mb[0], cfg.photo_mb[1], cfg.photos) * 1_000_000
    print(f"[field-day] {mode}: making {cfg.photos} photos ({sizes.sum() / 1e6:.1f} MB)", file=sys.stderr, flush=True)
    for i in range(cfg.photos):
        item = items[i % len(items)]
        item["photos_expected"] += 1
        lat, lon = wgs84[item["household"]]
        lat += float(rng.normal(0, 20)) / 111_320
        lon += float(rng.normal(0, 20)) / 95_000
        taken = datetime.fromisoformat(item["started_at"]) + timedelta(minutes=int(rng.integers(5, 40)))
        content = make_photo(rng, int(sizes[i]), lat, lon, taken, BASE_PHOTOS[i % len(BASE_PHOTOS)])
        photos.append(
            {"id": str(uuid.uuid4()), "visit": item["id"], "name": f"IMG_{20250000 + i:08d}.jpg", "content": content}
        )

    phone = Phone(0, token, cfg.backoff)
    phases = []
    with Netem(("127.0.0.1", server_port), profile) as link:
        phone.port = link.port
        day_started = time.perf_counter()

        def run(name, fn):
            phase = Phase(name)
            phone.phase = phase
            before, started = link.stats(), time.perf_counter()
            fn(phase)
            phase.seconds = time.perf_counter() - started
            phase.wire = asdict(link.stats() - before)
            phases.append(phase)
            print(
                f"[field-day] {mode} {name}: {phase.seconds:.0f} s, {phase.wire['up_bytes']:,} B up, "
                f"{phase.wire['down_bytes']:,} B down, {phase.wire['cuts']} cuts",
                file=sys.stderr,
                flush=True,
            )

        run("push", lambda phase: push(phone, items))

        def send_photos(phase):
            for photo in photos:
                phase.photos += 1
                phase.payload_up += len(photo["content"])
                if mode == "multipart":
                    ok = upload_multipart(phone, photo, cfg.max_attempts)
                else:
                    ok = upload_tus(phone, photo, cfg.chunk_kb * 1024, cfg.tus_retries)
                photo["delivered"] = ok
                phase.delivered += ok
                print(
                    f"[field-day] {mode} photo {phase.photos}/{len(photos)} ({len(photo['content']):,} B): "
                    f"{'stored' if ok else 'given up'}; link {link.stats()}",
                    file=sys.stderr,
                    flush=True,
                )

        run("photos", send_photos)
        run("pull", lambda phase: phase.notes.append(f"{pull(phone)} records"))
        seconds = time.perf_counter() - day_started
        total = link.stats()
    return {"phases": [asdict(p) for p in phases], "seconds": seconds, "wire": asdict(total), "photos": photos}


def verify(port: int, token: str, photos: list[dict]) -> list[str]:
    """Each photo the phone was told stored is on the server with the file's sha256 (asked directly)."""
    import hashlib

    phone = Phone(port, token, 0)
    problems = []
    for photo in photos:
        status, _h, content = phone.call("GET", f"{API}/photos/{photo['id']}/")
        if photo["delivered"]:
            sha = hashlib.sha256(photo["content"]).hexdigest()
            if status != 200 or orjson.loads(content).get("sha256") != sha:
                problems.append(f"photo {photo['id']}: HTTP {status} {content[:200]!r}")
        elif status == 200:
            problems.append(f"photo {photo['id']}: given up by the phone but stored")
    return problems


# ---------------------------------------------------------------- the report


def summarise(result: dict, profile: dict) -> dict:
    """Totals and ratios to the ideal of each mode's day and of its photos."""
    up, down = profile["up_bps"], profile["down_bps"]
    for mode in result["modes"].values():
        phases = {p["name"]: p for p in mode["phases"]}
        photos = phases["photos"]
        payload_up = sum(p["payload_up"] for p in mode["phases"])
        payload_down = sum(p["payload_down"] for p in mode["phases"])
        ideal_s = payload_up / up + payload_down / down
        photo_ideal_s = photos["payload_up"] / up
        mode["summary"] = {
            "payload_bytes": payload_up + payload_down,
            "ideal_s": ideal_s,
            "wire_bytes": mode["wire"]["up_bytes"] + mode["wire"]["down_bytes"],
            "bytes_ratio": (mode["wire"]["up_bytes"] + mode["wire"]["down_bytes"]) / (payload_up + payload_down),
            "time_ratio": mode["seconds"] / ideal_s,
            "photo_bytes": photos["payload_up"],
            "photo_wire_bytes": photos["wire"]["up_bytes"] + photos["wire"]["down_bytes"],
            "photo_bytes_ratio": (photos["wire"]["up_bytes"] + photos["wire"]["down_bytes"]) / photos["payload_up"],
            "photo_ideal_s": photo_ideal_s,
            "photo_time_ratio": photos["seconds"] / photo_ideal_s,
            "delivered": photos["delivered"],
            "photos": photos["photos"],
        }
    return result


def render(result: dict) -> str:
    cfg, profile = result["config"], result["profile"]
    lines = [
        f"Field day of {ACCOUNT} over {profile['name']} ({result['profile_text']}): {cfg['visits']} visits in one "
        f"batch, {cfg['photos']} photos of {cfg['photo_mb'][0]:g}-{cfg['photo_mb'][1]:g} MB, one pull of the slice",
        "",
        "| mode | phase | connections | up bytes | down bytes | cuts | wall s | ideal s | photos stored |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, mode in result["modes"].items():
        for p in mode["phases"]:
            ideal = p["payload_up"] / profile["up_bps"] + p["payload_down"] / profile["down_bps"]
            stored = f"{p['delivered']}/{p['photos']}" if p["name"] == "photos" else ""
            lines.append(
                f"| {name} | {p['name']} | {p['wire']['connections']} | {p['wire']['up_bytes']:,} | "
                f"{p['wire']['down_bytes']:,} | {p['wire']['cuts']} | {p['seconds']:.1f} | {ideal:.1f} | {stored} |"
            )
    lines += [
        "",
        "| mode | photos stored | photo bytes | on the wire | × ideal bytes | photo wall s | × ideal time "
        "| day on the wire | day × ideal bytes | day wall s | day × ideal time |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, mode in result["modes"].items():
        s = mode["summary"]
        lines.append(
            f"| {name} | {s['delivered']}/{s['photos']} | {s['photo_bytes']:,} | {s['photo_wire_bytes']:,} | "
            f"{s['photo_bytes_ratio']:.2f} | {mode['phases'][1]['seconds']:.0f} | {s['photo_time_ratio']:.2f} | "
            f"{s['wire_bytes']:,} | {s['bytes_ratio']:.2f} | {mode['seconds']:.0f} | {s['time_ratio']:.2f} |"
        )
    if result.get("problems"):
        lines += ["", "Problems:", *[f"- {p}" for p in result["problems"]]]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


@dataclass
class Config:
    profile: str
    photos: int
    photo_mb: tuple
    visits: int
    modes: list
    max_attempts: int
    backoff: float
    chunk_kb: int
    tus_retries: int
    seed: int


def _range(text: str) -> tuple[float, float]:
    low, _sep, high = text.partition("-")
    return float(low), float(high or low)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.field_day", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env = os.environ.get
    parser.add_argument("--profile", choices=PROFILES, default=env("FIELD_DAY_PROFILE") or "2g")
    parser.add_argument("--photos", type=int, default=int(env("FIELD_DAY_PHOTOS") or 20))
    parser.add_argument("--photo-mb", type=_range, default=_range(env("FIELD_DAY_PHOTO_MB") or "3-5"))
    parser.add_argument("--visits", type=int, default=10)
    parser.add_argument("--modes", default=env("FIELD_DAY_MODES") or "multipart,tus")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--backoff", type=float, default=2.0)
    parser.add_argument("--chunk-kb", type=int, default=256)
    parser.add_argument("--tus-retries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep", action="store_true", help="keep the database and the photo files")
    parser.add_argument("--report", type=Path, help="print the table of a saved .bench/field-day-*.json again")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare()))
        return 0
    if args.report:
        print(render(json.loads(args.report.read_text())))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    if set(modes) - {"multipart", "tus"} or not modes:
        parser.error("--modes: multipart, tus or both")
    if args.visits < 1 or args.photos < 0 or args.photo_mb[0] <= 0 or args.photo_mb[0] > args.photo_mb[1]:
        parser.error("--visits at least 1, --photos at least 0, --photo-mb LOW-HIGH with 0 < LOW <= HIGH")
    cfg = Config(
        args.profile, args.photos, args.photo_mb, args.visits, modes, args.max_attempts, args.backoff,
        args.chunk_kb, args.tus_retries, args.seed,
    )  # fmt: skip
    profile = PROFILES[cfg.profile]

    bench_dir = Path(os.environ.get("BENCH_DIR", ROOT / ".bench")).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    media = bench_dir / "field-day-media"
    shutil.rmtree(media, ignore_errors=True)
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{bench_dir / 'field-day.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "MEDIA_ROOT": str(media),
            "PHOTO_ROOT": str(media / "photos"),
            "STORAGE_BACKEND": "local",
        }
    )
    print("[field-day] fresh database, migrate, seed_demo ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.field_day", "--prepare"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    prep = json.loads(done.stdout.strip().splitlines()[-1])
    port = loadgen._free_port()
    server = loadgen.start_server(port, ("--timeout", str(WORKER_TIMEOUT_S)))
    result = {
        "config": asdict(cfg),
        "profile": asdict(profile),
        "profile_text": profile.describe(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "modes": {},
        "problems": [],
    }
    try:
        direct = Phone(port, "", 0)
        body = orjson.dumps({"username": ACCOUNT, "password": prep["password"], "device": "field day"})
        status, _h, content = direct.call("POST", f"{API}/auth/login/", body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"login: HTTP {status} {content[:300]!r}")
        token = orjson.loads(content)["token"]
        direct.token = token
        _s, _h, content = direct.call("GET", f"{API}/model-households/?page_size=500")
        households = [(r["id"], r["lat"], r["lon"]) for r in orjson.loads(content)["results"] if r.get("lat")]
        for index, mode in enumerate(modes):
            rng = np.random.default_rng([cfg.seed, index])
            outcome = day(mode, port, token, profile, cfg, households, rng)
            problems = verify(port, token, outcome["photos"])
            result["problems"] += [f"{mode}: {p}" for p in problems]
            for photo in outcome["photos"]:
                photo["bytes"] = len(photo.pop("content"))
            result["modes"][mode] = outcome
    finally:
        loadgen.stop_server(server)
        if not args.keep:
            shutil.rmtree(media, ignore_errors=True)
    summarise(result, result["profile"])
    table = render(result)
    print()
    print(table)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = bench_dir / f"field-day-{stamp}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
