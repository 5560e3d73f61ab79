"""Helpers for the photo tests: a private storage per test, visits made through the API, and test images."""

import io
import struct
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from PIL import ExifTags, Image

from bench.decode_memory import zeros_png  # noqa: F401  (one builder of hostile PNGs, for the tests too)
from tests.agri.map_support import HOME_LAT, HOME_LON  # the visits below are made at the world's households

DATA = Path(__file__).resolve().parents[1] / "data" / "photos"
BUCKET = "nongji-photos"  # the private bucket of the tests on S3 (moto)
SAMPLES = sorted(p.name for p in DATA.iterdir() if p.suffix.lower() in (".jpg", ".heic", ".heif"))


def use_private_storage(settings, root: Path) -> Path:
    """Point STORAGES["photos"] at a fresh directory for one test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "photos": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def cleanup_orphans(*args) -> str:
    """Run ``manage.py cleanup_orphan_photos`` with ``args``; what it printed."""
    out = io.StringIO()
    call_command("cleanup_orphan_photos", *args, stdout=out)
    return out.getvalue()


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def new_visit(client, world, **overrides) -> dict:
    """A visit pushed by ``client`` (a worker) to household H1, started two hours ago at the household."""
    started = timezone.now() - timedelta(hours=2)
    body = {
        "id": str(uuid.uuid4()),
        "kind": "diagnosis",
        "industry": "citrus",
        "household": str(world["H1"].pk),
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=1)).isoformat(),
        "lat": HOME_LAT,
        "lon": HOME_LON,
        "accuracy_m": 8.0,
        "source_crs": "wgs84",
        "notes": "柑橘溃疡病",
        "photos_expected": 2,
    }
    body.update(overrides)
    response = client.post("/api/v1/visits/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def upload(client, visit_id: str, data: bytes, *, photo_id: str | None = None, filename="IMG_0001.jpg", **extra):
    """POST one photo as a phone does: multipart with the client's UUID and the file."""
    body = {"id": photo_id or str(uuid.uuid4()), "file": SimpleUploadedFile(filename, data, content_type="image/jpeg")}
    return client.post(f"/api/v1/visits/{visit_id}/photos/", body, format="multipart", **extra)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def with_exif(
    base: bytes,
    *,
    lat: float | None = None,
    lon: float | None = None,
    taken_at: datetime | None = None,
    orientation: int | None = None,
    quality: int = 92,
) -> bytes:
    """A JPEG copy of ``base`` with GPS, time (local time plus OffsetTimeOriginal) or orientation written through
    Pillow's Exif API; the rest of its EXIF is kept."""
    im = Image.open(io.BytesIO(base))
    exif = im.getexif()
    if lat is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps.clear()
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
        exif[ExifTags.IFD.GPSInfo] = gps
    if taken_at is not None:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        offset = taken_at.strftime("%z")
        sub[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
        exif[ExifTags.IFD.Exif] = sub
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=quality)
    return buf.getvalue()


def image_bytes(fmt: str = "PNG", size=(64, 48), color=(40, 120, 60), **save_args) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt, **save_args)
    return buf.getvalue()


def gps_exif(*, pointer: int | None = None, lat_count: int = 3, lat_at: int | None = None) -> bytes:
    """A raw little-endian EXIF block, built byte by byte as a hostile client would: IFD0 holds only the GPS IFD
    pointer (``pointer``, by default where the GPS IFD really is), and the GPS IFD holds a well-formed position
    (30°50'N 108°55'E) whose latitude may claim ``lat_count`` rationals stored at ``lat_at``."""
    gps_ifd_at = 8 + 2 + 12 + 4
    data_at = gps_ifd_at + 2 + 4 * 12 + 4
    entries = [
        (1, 2, 2, b"N\x00\x00\x00"),  # GPSLatitudeRef, ASCII
        (2, 5, lat_count, struct.pack("<L", data_at if lat_at is None else lat_at)),  # GPSLatitude, RATIONAL
        (3, 2, 2, b"E\x00\x00\x00"),  # GPSLongitudeRef
        (4, 5, 3, struct.pack("<L", data_at + 24)),  # GPSLongitude
    ]
    ifd0 = struct.pack("<HHHLL", 1, 0x8825, 4, 1, gps_ifd_at if pointer is None else pointer) + struct.pack("<L", 0)
    gps = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHL", *e[:3]) + e[3] for e in entries)
    values = struct.pack("<6L", 30, 1, 50, 1, 0, 1) + struct.pack("<6L", 108, 1, 55, 1, 0, 1)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<L", 8) + ifd0 + gps + struct.pack("<L", 0) + values


def jpeg_with_exif(exif: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 60)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def objects(client) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}
