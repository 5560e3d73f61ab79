"""Photo writes: idempotent ingest on the client UUID, evidence checks, and their roll-up to the visits.

The files go to storage first and the database row is committed last, so a crash leaves at worst files that
no row refers to; ``manage.py cleanup_orphan_photos`` removes those once they are a day old. Every write uses
names of its own (a random token), so a loser of a race deletes only its own files. A write that fails (disk
full, database gone) removes what it wrote, so the store keeps no partial file and nothing half-written.
"""

import hashlib
import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agri import errors
from agri.imaging import ProcessedPhoto, process_photo
from agri.models import Photo, PhotoFlag, Visit, VisitFlag
from agri.models.photos import photo_storage
from geo.geometry import distance_m

logger = logging.getLogger(__name__)
# A store that cannot take a file: the local disk (full, read-only, gone) or an S3 store (unreachable, refusing).
STORE_ERRORS = (OSError, BotoCoreError, ClientError)


class PhotoConflict(errors.Conflict):
    """The photo id is already stored with other bytes or on another visit; the stored photo is unchanged."""


class StorageUnavailable(errors.Unavailable):
    """The photo store refused a write (disk full, read-only, gone). Nothing of the upload was kept."""

    default_code = "storage_unavailable"
    default_message = gettext_lazy(
        "The photo store cannot take files just now. Nothing was kept; upload the photo again later."
    )


def file_too_large(limit: int) -> errors.TooLarge:
    return errors.TooLarge(
        _("The file is larger than %(megabytes)d MB.") % {"megabytes": limit // (1024 * 1024)}, code="file_too_large"
    )


def too_many_photos(limit: int) -> errors.Unprocessable:
    return errors.Unprocessable(
        _("This visit already has %(limit)d photos, the most it may have.") % {"limit": limit}, code="too_many_photos"
    )


def photo_visit(*, user, visit_id) -> Visit:
    """The visit that ``user`` may add photos to: visible and live (else ``NotFoundError``: the phone syncs the visit
    before its photos) and recorded by ``user`` (else ``NotAllowed``)."""
    visit = Visit.objects.visible_to(user).alive().filter(pk=visit_id).first()
    if visit is None:
        raise errors.NotFoundError(_("Visit not found. Sync the visit before its photos."))
    if visit.user_id != user.pk:
        raise errors.NotAllowed(_("Only the person who recorded a visit may add photos to it."))
    return visit


def photo_ingest(*, user, visit: Visit, photo_id: uuid.UUID, upload) -> tuple[Photo, bool]:
    """Store an uploaded photo of ``visit`` exactly once. Returns the photo and whether this call created it.

    The same id with the same bytes on the same visit returns the stored photo; anything else under a stored id
    raises ``PhotoConflict``. Unacceptable files raise ``TooLarge``, ``UnsupportedContent`` or ``Unprocessable``
    (``agri.errors``); a store that cannot take the files raises ``StorageUnavailable``. Whatever fails, no file of
    this call is left behind.
    """
    limits = settings.PHOTOS
    if upload.size > limits["max_bytes"]:
        raise file_too_large(limits["max_bytes"])
    data = upload.read()
    sha256 = hashlib.sha256(data).hexdigest()
    stored = Photo.objects.filter(pk=photo_id).first()
    if stored is not None:
        return _replay(stored, visit, sha256), False
    if Photo.objects.filter(visit=visit).count() >= limits["max_per_visit"]:
        raise too_many_photos(limits["max_per_visit"])
    processed = process_photo(
        data,
        max_pixels=limits["max_pixels"],
        display_px=limits["display_px"],
        thumbnail_px=limits["thumbnail_px"],
        default_tz=ZoneInfo(settings.TIME_ZONE),
    )
    photo = Photo(
        id=photo_id,
        visit=visit,
        user=user,
        sha256=sha256,
        size_bytes=len(data),
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
        orientation=processed.exif.orientation,
        taken_at=processed.exif.taken_at,
        taken_at_offset_min=processed.exif.offset_min,
        exif_lat=processed.exif.lat,
        exif_lon=processed.exif.lon,
        exif_alt_m=processed.exif.alt_m,
        camera=processed.exif.camera,
        phash=processed.phash,
    )
    names = _save_files(photo_id, data, processed)
    photo.original, photo.display, photo.thumbnail = names["original"], names["display"], names["thumbnail"]
    try:
        with transaction.atomic():
            _insert(photo, processed)
    except IntegrityError:
        _delete_files(names)
        stored = Photo.objects.filter(pk=photo_id).first()
        if stored is None:
            raise
        return _replay(stored, visit, sha256), False  # a concurrent upload of the same id won
    except BaseException:
        _delete_files(names)
        raise
    return photo, True


def _replay(stored: Photo, visit: Visit, sha256: str) -> Photo:
    if stored.sha256 != sha256 or stored.visit_id != visit.pk:
        raise PhotoConflict()
    return stored


def _save_files(photo_id: uuid.UUID, data: bytes, processed: ProcessedPhoto) -> dict[str, str]:
    storage = photo_storage()
    stem = f"{photo_id.hex[:2]}/{photo_id}-{uuid.uuid4().hex[:12]}"
    names: dict[str, str] = {}
    try:
        for variant, content, extension in (
            ("original", data, processed.extension),
            ("display", processed.display, "jpg"),
            ("thumbnail", processed.thumbnail, "jpg"),
        ):
            # A write that fails part-way (a full disk) can leave part of the file under the name asked for;
            # the name is this call's own, so it is removed with the rest.
            names[variant] = f"{stem}-{variant}.{extension}"
            names[variant] = storage.save(names[variant], ContentFile(content))
    except BaseException as exc:
        _delete_files(names)
        if isinstance(exc, STORE_ERRORS):
            logger.error("photo store write failed: %s", exc)
            raise StorageUnavailable() from exc
        raise
    return names


def _delete_files(names: dict[str, str]) -> None:
    """Remove this call's files. One that cannot be removed now is logged and left to ``cleanup_orphan_photos``."""
    storage = photo_storage()
    for name in names.values():
        try:
            storage.delete(name)
        except STORE_ERRORS:
            logger.warning("could not remove photo file %s; cleanup_orphan_photos will", name, exc_info=True)


def _insert(photo: Photo, processed: ProcessedPhoto) -> None:
    """Insert the row with its evidence flags, flag the photos it duplicates, and roll everything up to the visits.

    Every visit involved is locked first, in id order, so that concurrent uploads count and flag consistently.
    """
    reused = list(Photo.objects.filter(sha256=photo.sha256).values_list("pk", "visit_id", "flag_bits"))
    near = _near_duplicates(photo)
    # Only the matches not flagged yet change (flags are never cleared): the thousandth copy of a picture locks
    # and bumps its own visit, not the visits of the 999 copies before it.
    to_flag = {
        code: [(pk, visit_id) for pk, visit_id, bits in matches if not bits & PhotoFlag.BITS[code]]
        for matches, code in ((reused, PhotoFlag.REUSED), (near, PhotoFlag.NEAR_DUPLICATE))
    }
    involved = sorted({photo.visit_id, *(v for changes in to_flag.values() for _, v in changes)})
    locked = {v.pk: v for v in Visit.objects.select_for_update().filter(pk__in=involved).order_by("pk")}
    limit = settings.PHOTOS["max_per_visit"]
    if Photo.objects.filter(visit_id=photo.visit_id).count() >= limit:
        raise too_many_photos(limit)
    photo.flag_bits = _evidence_bits(locked[photo.visit_id], processed)
    for matches, code in ((reused, PhotoFlag.REUSED), (near, PhotoFlag.NEAR_DUPLICATE)):
        if matches:
            photo.flag_bits |= PhotoFlag.BITS[code]
        if to_flag[code]:
            Photo.objects.filter(pk__in=[pk for pk, _ in to_flag[code]]).update(
                flag_bits=F("flag_bits").bitor(PhotoFlag.BITS[code])
            )
    photo.save(force_insert=True)
    _roll_up(locked.values())


def _evidence_bits(visit: Visit, processed: ProcessedPhoto) -> int:
    """The checks of one photo against its visit: where and when it was taken, and whether it says at all."""
    checks = settings.PHOTO_CHECKS
    exif = processed.exif
    bits = 0
    if not exif.present:
        bits |= PhotoFlag.BITS[PhotoFlag.NO_EXIF]
    if exif.invalid:
        bits |= PhotoFlag.BITS[PhotoFlag.EXIF_INVALID]
    if (
        exif.lat is not None
        and float(distance_m(exif.lon, exif.lat, visit.lon, visit.lat)) > checks["max_visit_distance_m"]
    ):
        bits |= PhotoFlag.BITS[PhotoFlag.FAR_FROM_VISIT]
    if exif.taken_at is not None:
        gap = timedelta(hours=checks["max_time_gap_hours"])
        if not visit.started_at - gap <= exif.taken_at <= (visit.ended_at or visit.started_at) + gap:
            bits |= PhotoFlag.BITS[PhotoFlag.TIME_MISMATCH]
    return bits


def _near_duplicates(photo: Photo) -> list[tuple]:
    """(id, visit id, flag bits) of the photos on the account's other visits whose perceptual hash is within the
    threshold.

    Exact copies are left to the SHA-256 check. Hamming distances are computed here, over one indexed read of the
    account's hashes (64 bits each).
    """
    if not photo.phash:
        return []
    limit = settings.PHOTO_CHECKS["near_duplicate_bits"]
    mine = int(photo.phash, 16)
    candidates = (
        Photo.objects.filter(user_id=photo.user_id)
        .exclude(visit_id=photo.visit_id)
        .exclude(sha256=photo.sha256)
        .exclude(phash="")
        .values_list("pk", "visit_id", "phash", "flag_bits")
    )
    return [
        (pk, visit_id, bits) for pk, visit_id, other, bits in candidates if (mine ^ int(other, 16)).bit_count() <= limit
    ]


def _roll_up(visits) -> None:
    """Set each (locked) visit's photo count and photo flags, and bump it so that phones pull the change."""
    visits = list(visits)
    counts: dict = defaultdict(int)
    flags: dict = defaultdict(int)
    for visit_id, bits in Photo.objects.filter(visit_id__in=[v.pk for v in visits]).values_list(
        "visit_id", "flag_bits"
    ):
        counts[visit_id] += 1
        flags[visit_id] |= PhotoFlag.visit_bits(bits)
    now = timezone.now()
    for visit in visits:
        flag_bits = (visit.flag_bits & ~VisitFlag.PHOTO_MASK) | flags[visit.pk]
        if (flag_bits, counts[visit.pk]) == (visit.flag_bits, visit.photos_present):
            continue
        Visit.objects.filter(pk=visit.pk).update(
            flag_bits=flag_bits, photos_present=counts[visit.pk], updated_at=now, version=visit.version + 1
        )
