"""Photo reads: the bureau's bulk download of the photos of a set of visits, as one streamed ZIP."""

import csv
import io
import zipfile
from pathlib import PurePosixPath

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from agri.models import Photo, PhotoFlag, VisitFlag
from agri.models.photos import EXIF_COLUMNS, photo_storage, taken_at_iso

MANIFEST_HEADER = (
    "visit",
    "visit_date",
    "visit_kind",
    "actor",
    "village_code",
    "village",
    "visit_flags",
    "photo",
    "file",
    *EXIF_COLUMNS,
    "flags",
    "sha256",
)
ARCHIVE_VALUES = (
    "id",
    "visit_id",
    "visit__visit_date",
    "visit__kind",
    "actor",
    "visit__division_id",
    "visit__division__name",
    "visit__flag_bits",
    "content_type",
    "taken_at",
    "taken_at_offset_min",
    "exif_lat",
    "exif_lon",
    "exif_alt_m",
    "camera",
    "flag_bits",
    "sha256",
    "original",
    "display",
    "created_at",
)


class _ZipSink:
    """The file zipfile writes to: the response takes the bytes out as they come. zipfile cannot seek in it, so it
    writes each member's sizes after the data (a data descriptor) instead of going back to its header."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _manifest_row(row: dict, arcname: str) -> list:
    return [
        row["visit_id"],
        row["visit__visit_date"].isoformat(),
        row["visit__kind"],
        row["actor"] or "",
        row["visit__division_id"] or "",
        row["visit__division__name"] or "",
        ";".join(VisitFlag.decode(row["visit__flag_bits"])),
        row["id"],
        arcname,
        row["content_type"],
        taken_at_iso(row["taken_at"], row["taken_at_offset_min"]) or "",
        "" if row["exif_lat"] is None else f"{row['exif_lat']:.6f}",
        "" if row["exif_lon"] is None else f"{row['exif_lon']:.6f}",
        "" if row["exif_alt_m"] is None else f"{row['exif_alt_m']:.1f}",
        row["camera"],
        ";".join(PhotoFlag.decode(row["flag_bits"])),
        row["sha256"],
    ]


def photo_archive_stream(rows: list[dict], variant: str, on_photo=None):
    """A ZIP, chunk by chunk: ``manifest.csv`` (UTF-8 with a BOM, so that Excel reads the Chinese) and then the
    files, one folder per visit. Photos are already compressed, so members are stored, not deflated. ``on_photo()``
    is called after each photo written (a job's progress)."""
    storage = photo_storage()
    sink = _ZipSink()
    members = [(row, f"{row['visit__visit_date']:%Y%m%d}_{row['visit_id']}/{row['id']}") for row in rows]
    members = [(row, base + PurePosixPath(row[variant]).suffix) for row, base in members]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        with archive.open("manifest.csv", "w") as manifest:
            text = io.StringIO()
            text.write("\ufeff")
            writer = csv.writer(text)
            writer.writerow(MANIFEST_HEADER)
            for row, arcname in members:
                writer.writerow(_manifest_row(row, arcname))
                if text.tell() > 64 * 1024:
                    manifest.write(text.getvalue().encode("utf-8"))
                    text.seek(0)
                    text.truncate()
                    yield sink.take()
            manifest.write(text.getvalue().encode("utf-8"))
        yield sink.take()
        for row, arcname in members:
            info = zipfile.ZipInfo(arcname, date_time=timezone.localtime(row["created_at"]).timetuple()[:6])
            with archive.open(info, "w") as member, storage.open(row[variant], "rb") as source:
                for chunk in source.chunks():
                    member.write(chunk)
                    yield sink.take()
            yield sink.take()
            if on_photo is not None:
                on_photo()
    yield sink.take()


def photo_archive_rows(visits: QuerySet) -> list[dict]:
    """The photos of ``visits`` (already scoped and filtered) with what the manifest shows, in archive order."""
    return list(
        Photo.objects.filter(visit__in=visits.values("pk"))
        .annotate(actor=Coalesce("visit__worker__name", "visit__expert__name", "visit__commissioner__name"))
        .order_by("visit__visit_date", "visit_id", "created_at", "id")
        .values(*ARCHIVE_VALUES)
    )
