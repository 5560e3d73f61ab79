"""Resumable photo uploads (tus 1.0): a photo's bytes received in pieces, kept in the photo storage, and made into
the photo by ``photo_ingest`` once the last one is in.

Where the bytes wait. Each piece a request brings is written as one new object of its own under
``uploads/<upload id>/`` in the photo storage (``photo_storage()``: a local or shared directory, or an S3-compatible
bucket), so that any app server can take the next piece. On S3 the pieces are gathered into a multipart upload as
soon as they add up to a part (``PHOTO_UPLOADS["s3_part_bytes"]``, at least S3's minimum of 5 MiB); only the last
part may be smaller. A photo under that size never needs a multipart upload at all.

No lock is held while bytes trickle in. A piece is committed by a compare-and-swap on the offset (an UPDATE that
only matches the offset the piece was written at), so two requests racing on one upload (a phone retrying while its
old connection still hangs on a server) cannot both append: the loser removes its own object and gets
``OffsetMismatch``. S3 part numbers are handed out once each, so a loser's part never replaces a committed one.

The SHA-256. A hash object cannot be stored between requests, and keeping one per upload in a process would tie
the upload to that process. The completion reads the assembled bytes anyway (the image is decoded and checked), and
``photo_ingest`` hashes them there exactly as it hashes a multipart upload: one pass over at most
``PHOTOS["max_bytes"]``, and the hash is of the bytes as stored, whatever happened between the pieces. Each piece's
own checksum (``Upload-Checksum``) is checked before it is written.
"""

import hashlib
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from storages.backends.s3 import S3Storage

from agri import errors
from agri.imaging import SNIFF_BYTES, check_head
from agri.models import PhotoUpload, Visit
from agri.models.photos import photo_storage
from agri.services.photos import STORE_ERRORS, StorageUnavailable, file_too_large, photo_ingest, photo_visit

logger = logging.getLogger(__name__)


class OffsetMismatch(errors.Conflict):
    """A piece sent for another offset than the upload has reached (409); the client asks (HEAD) and resumes."""

    default_code = "offset_mismatch"
    default_message = gettext_lazy(
        "The upload is not at this offset. Ask for its offset (HEAD) and send the rest from there."
    )


class UploadExpired(errors.Gone):
    default_code = "upload_expired"
    default_message = gettext_lazy("This upload expired unfinished and was removed. Start the upload again.")


# The Upload-Checksum algorithms taken (tus names), strongest first.
CHECKSUM_ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}


def upload_expiry(now=None):
    return (now or timezone.now()) + timedelta(hours=settings.PHOTO_UPLOADS["expiry_hours"])


def open_uploads(user):
    """The account's uploads still waiting for bytes."""
    return PhotoUpload.objects.filter(user=user, completed_at__isnull=True, expires_at__gt=timezone.now())


def upload_create(*, user, visit: Visit, photo_id: uuid.UUID, length: int, metadata: dict) -> PhotoUpload:
    """Open an upload of ``length`` bytes for photo ``photo_id`` of ``visit`` (a visit ``photo_visit`` returned).

    Raises ``TooLarge`` for a file over ``PHOTOS["max_bytes"]`` or over what the account may have pending, and
    ``LimitReached`` when the account already has ``PHOTO_UPLOADS["max_open"]`` uploads open.
    """
    limits = settings.PHOTO_UPLOADS
    if length > settings.PHOTOS["max_bytes"]:
        raise file_too_large(settings.PHOTOS["max_bytes"])
    if length <= 0:
        raise errors.InvalidInput(_("The file is empty."), code="empty")
    pending = open_uploads(user).aggregate(count=Count("pk"), declared=Sum("length"))
    if pending["count"] >= limits["max_open"]:
        raise errors.LimitReached(
            _("You have %(limit)d unfinished uploads, the most allowed. Finish or cancel one first.")
            % {"limit": limits["max_open"]},
            code="too_many_uploads",
        )
    if (pending["declared"] or 0) + length > limits["max_pending_bytes"]:
        raise errors.TooLarge(
            _("Your unfinished uploads would hold more than %(megabytes)d MB. Finish or cancel one first.")
            % {"megabytes": limits["max_pending_bytes"] // (1024 * 1024)},
            code="pending_uploads_too_large",
        )
    return PhotoUpload.objects.create(
        user=user, visit=visit, photo_id=photo_id, length=length, metadata=metadata, expires_at=upload_expiry()
    )


def upload_append(
    *, upload: PhotoUpload, offset: int, data: bytes, checksum: tuple[str, bytes] | None = None
) -> PhotoUpload:
    """Add ``data``, sent for ``offset``, to ``upload``; make the photo when it was the last piece.

    ``checksum`` is the piece's (algorithm, digest) from ``Upload-Checksum``: a piece that does not match raises
    ``ChecksumMismatch`` and nothing of it is kept.

    Returns the upload as stored now (``offset`` moved on, ``completed_at`` set once the photo is made). Raises
    ``OffsetMismatch`` when the upload is at another offset, ``UploadExpired``, ``UnsupportedContent`` as soon as the
    first bytes show a file that is not an accepted photo (the upload is then removed), and whatever
    ``photo_ingest`` raises for the whole file (see ``upload_finish``).
    """
    _reload(upload)  # the body took a while to arrive: another request may have moved the upload on
    upload_check_piece(upload=upload, offset=offset, size=len(data))
    if checksum is not None and CHECKSUM_ALGORITHMS[checksum[0]](data).digest() != checksum[1]:
        raise errors.ChecksumMismatch()
    if upload.completed_at is not None or not data:
        return upload_finish(upload=upload) if upload.offset == upload.length else upload
    head_needed = min(SNIFF_BYTES, upload.length)
    if offset < head_needed <= offset + len(data):
        try:
            check_head((_read_head(upload, offset) + data)[:head_needed])
        except errors.ApplicationError:
            upload_terminate(upload=upload)
            raise
    store = _store()
    name = _save(f"{upload.storage_prefix}/{offset:012d}-{uuid.uuid4().hex[:8]}.part", data)
    parts = {**upload.parts, "chunks": [*upload.parts.get("chunks", []), [name, len(data)]]}
    gathered: list[str] = []
    try:
        if isinstance(store, S3Storage):
            parts, gathered = _gather_part(upload, parts, final=False)
        with transaction.atomic():
            moved = PhotoUpload.objects.filter(pk=upload.pk, offset=offset, completed_at__isnull=True).update(
                offset=offset + len(data), parts=parts, expires_at=upload_expiry()
            )
    except BaseException:
        _discard(upload, name, parts)
        raise
    if not moved:
        _discard(upload, name, parts)  # another request carried this offset first: its bytes stand, this one's go
        raise OffsetMismatch()
    _delete(gathered)
    _reload(upload)
    if upload.offset == upload.length:
        return upload_finish(upload=upload)
    return upload


def upload_check_live(*, upload: PhotoUpload) -> None:
    """Raise ``UploadExpired`` for an unfinished upload past its expiry (the sweep may not have removed it yet)."""
    if upload.completed_at is None and upload.expires_at <= timezone.now():
        raise UploadExpired()


def upload_check_piece(*, upload: PhotoUpload, offset: int, size: int) -> None:
    """What can be refused of a piece before its bytes are read: an expired upload, another offset than the
    upload's (``OffsetMismatch``), bytes past the declared length (``TooLarge``)."""
    upload_check_live(upload=upload)
    if offset + size > upload.length:
        raise errors.TooLarge(_("The bytes sent go past the upload's declared length."), code="upload_length_exceeded")
    if offset != upload.offset:
        raise OffsetMismatch()


def upload_finish(*, upload: PhotoUpload) -> PhotoUpload:
    """Make the photo of a complete upload with ``photo_ingest``, exactly as a multipart upload of the same bytes.

    A replay of the same bytes under a stored id gives the stored photo. What the photo service refuses for good
    (``PhotoConflict``, ``TooLarge``, ``UnsupportedContent``, ``Unprocessable``) removes the upload and is raised; a
    store or database that cannot take the photo just now (``Unavailable``) keeps it, so that a PATCH with no bytes
    at the final offset tries again.
    """
    if upload.completed_at is not None:
        return upload
    try:
        # The checks of the multipart upload, now that the photo is made: the visit may have gone meanwhile.
        visit = photo_visit(user=upload.user, visit_id=upload.visit_id)
        data = _assemble(upload)
        photo_ingest(user=upload.user, visit=visit, photo_id=upload.photo_id, upload=ContentFile(data))
    except errors.Unavailable:
        raise
    except errors.ApplicationError:
        upload_terminate(upload=upload)
        raise
    PhotoUpload.objects.filter(pk=upload.pk).update(completed_at=timezone.now(), expires_at=upload_expiry())
    _remove_stored(upload)
    upload.refresh_from_db()
    return upload


def upload_terminate(*, upload: PhotoUpload) -> int:
    """Remove the upload and every byte it stored (tus termination, expiry). Returns the bytes freed in the store."""
    freed = _remove_stored(upload)
    PhotoUpload.objects.filter(pk=upload.pk).delete()
    return freed


def uploads_expire(*, now=None, dry_run: bool = False) -> list[tuple[PhotoUpload, int]]:
    """Remove the uploads whose expiry has passed (unfinished ones, and the records of finished ones) with their
    stored bytes. Returns each removed upload and the bytes it freed (what it would free, with ``dry_run``)."""
    now = now or timezone.now()
    removed = []
    for upload in PhotoUpload.objects.filter(expires_at__lte=now).order_by("expires_at").iterator():
        removed.append((upload, _stored_bytes(upload) if dry_run else upload_terminate(upload=upload)))
    return removed


def live_upload_ids(ids) -> set[str]:
    """Which of the upload ids (strings) still belong to a live upload row, for the orphan-file sweep."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    return {str(pk) for pk in PhotoUpload.objects.filter(pk__in=valid).values_list("pk", flat=True)}


def _reload(upload: PhotoUpload) -> None:
    """Read the upload's row again; one removed meanwhile (cancelled, expired) is not found."""
    try:
        upload.refresh_from_db(fields=["offset", "parts", "parts_issued", "expires_at", "completed_at"])
    except PhotoUpload.DoesNotExist as exc:
        raise errors.NotFoundError() from exc


def _discard(upload: PhotoUpload, name: str, parts: dict) -> None:
    """Remove what a request that lost (or failed) wrote: its piece, and a multipart upload it started."""
    _delete([name])
    started = parts.get("s3")
    if started and not upload.parts.get("s3"):
        store = _store()
        try:
            store.connection.meta.client.abort_multipart_upload(
                Bucket=store.bucket_name, Key=started["key"], UploadId=started["upload_id"]
            )
        except STORE_ERRORS:
            logger.warning("could not abort multipart upload of %s", upload.pk, exc_info=True)


# --- the store --------------------------------------------------------------------------------------------------


def _store():
    return photo_storage()


def _save(name: str, data: bytes) -> str:
    try:
        return _store().save(name, ContentFile(data))
    except STORE_ERRORS as exc:
        logger.error("upload store write failed: %s", exc)
        _delete([name])  # a write that failed part-way (a full disk) may have left part of the file
        raise StorageUnavailable() from exc


def _read(name: str) -> bytes:
    try:
        with _store().open(name, "rb") as f:
            return f.read()
    except STORE_ERRORS as exc:
        logger.error("upload store read failed: %s", exc)
        raise StorageUnavailable() from exc


def _delete(names) -> None:
    store = _store()
    for name in names:
        try:
            store.delete(name)
        except STORE_ERRORS:
            logger.warning("could not remove upload file %s; cleanup_orphan_photos will", name, exc_info=True)


def _read_head(upload: PhotoUpload, offset: int) -> bytes:
    """The bytes stored before ``offset``, as far as the sniffed head goes (a few small pieces at most)."""
    head = b""
    for name, _size in upload.parts.get("chunks", []):
        if len(head) >= SNIFF_BYTES:
            break
        head += _read(name)
    return head[:offset]


def _listing(prefix: str) -> list[tuple[str, int]]:
    """Every object under ``prefix`` (a loser's piece too) and its size."""
    store = _store()
    try:
        _dirs, files = store.listdir(prefix)
    except FileNotFoundError:
        return []
    names = [f"{prefix}/{name}" for name in files]
    return [(name, store.size(name)) for name in names]


def _stored_bytes(upload: PhotoUpload) -> int:
    return sum(size for _name, size in _listing(upload.storage_prefix))


def _remove_stored(upload: PhotoUpload) -> int:
    """Delete every object of the upload and abort its S3 multipart upload. Returns the bytes freed."""
    listed = _listing(upload.storage_prefix)
    _delete(name for name, _size in listed)
    freed = sum(size for _name, size in listed)
    multipart = upload.parts.get("s3")
    if multipart and not multipart.get("completed"):
        store = _store()
        client = store.connection.meta.client
        try:
            freed += sum(part[2] for part in multipart.get("parts", []))
            client.abort_multipart_upload(
                Bucket=store.bucket_name, Key=multipart["key"], UploadId=multipart["upload_id"]
            )
        except STORE_ERRORS:
            logger.warning("could not abort multipart upload of %s", upload.pk, exc_info=True)
    return freed


# --- S3: pieces gathered into multipart parts ----------------------------------------------------------------------


def _next_part_number(upload: PhotoUpload) -> int:
    """A part number used by no other request on this upload (a loser of a race uploads under its own number)."""
    with transaction.atomic():
        PhotoUpload.objects.filter(pk=upload.pk).update(parts_issued=F("parts_issued") + 1)
        return PhotoUpload.objects.values_list("parts_issued", flat=True).get(pk=upload.pk)


def _gather_part(upload: PhotoUpload, parts: dict, *, final: bool) -> tuple[dict, list[str]]:
    """Once the pieces waiting add up to a part (or for the final part), send them as one part of the upload's
    multipart upload. Returns the new state and the piece objects that the part now holds (to delete once the state
    is committed)."""
    waiting = parts.get("chunks", [])
    size = sum(chunk_size for _name, chunk_size in waiting)
    if not waiting or (not final and size < settings.PHOTO_UPLOADS["s3_part_bytes"]):
        return parts, []
    store = _store()
    client = store.connection.meta.client
    multipart = dict(parts.get("s3") or {})
    try:
        if not multipart:
            key = store._normalize_name(f"{upload.storage_prefix}/assembled")
            created = client.create_multipart_upload(Bucket=store.bucket_name, Key=key)
            multipart = {"key": key, "upload_id": created["UploadId"], "parts": []}
        body = b"".join(_read(name) for name, _size in waiting)
        number = _next_part_number(upload)
        sent = client.upload_part(
            Bucket=store.bucket_name,
            Key=multipart["key"],
            UploadId=multipart["upload_id"],
            PartNumber=number,
            Body=body,
        )
    except STORE_ERRORS as exc:
        logger.error("upload store multipart failed: %s", exc)
        raise StorageUnavailable() from exc
    multipart["parts"] = [*multipart["parts"], [number, sent["ETag"], len(body)]]
    return {**parts, "chunks": [], "s3": multipart}, [name for name, _size in waiting]


def _assemble(upload: PhotoUpload) -> bytes:
    """The whole file, from the stored pieces (and on S3 the multipart upload, completed here)."""
    parts = upload.parts
    if not parts.get("s3"):
        return b"".join(_read(name) for name, _size in parts.get("chunks", []))
    multipart = parts["s3"]
    store = _store()
    if not multipart.get("completed"):
        parts, gathered = _gather_part(upload, parts, final=True)
        multipart = parts["s3"]
        try:
            store.connection.meta.client.complete_multipart_upload(
                Bucket=store.bucket_name,
                Key=multipart["key"],
                UploadId=multipart["upload_id"],
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag, _size in multipart["parts"]]},
            )
        except STORE_ERRORS as exc:
            logger.error("upload store multipart completion failed: %s", exc)
            raise StorageUnavailable() from exc
        multipart = {**multipart, "completed": True}
        parts = {**parts, "s3": multipart}
        PhotoUpload.objects.filter(pk=upload.pk).update(parts=parts)
        upload.parts = parts
        _delete(gathered)
    return _read(f"{upload.storage_prefix}/assembled")
