import uuid
from datetime import timedelta
from datetime import timezone as dt_timezone

from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from django.utils import timezone as django_timezone
from django.utils.translation import gettext_lazy as _

from agri.models.visits import Visit, VisitFlag


def photo_storage():
    """The private storage for photos (``STORAGES["photos"]``), never served from a public URL. Code reads and writes
    through this (not the field's ``storage``, fixed at import) so that a change of settings applies."""
    return storages["photos"]


class PhotoFlag:
    """Evidence flags of one photo, stored as bits in ``Photo.flag_bits``. They flag a photo; they never reject it."""

    FAR_FROM_VISIT = "far_from_visit"
    TIME_MISMATCH = "time_mismatch"
    NO_EXIF = "no_exif"
    REUSED = "reused"
    NEAR_DUPLICATE = "near_duplicate"
    EXIF_INVALID = "exif_invalid"

    BITS = {
        FAR_FROM_VISIT: 1,
        TIME_MISMATCH: 2,
        NO_EXIF: 4,
        REUSED: 8,
        NEAR_DUPLICATE: 16,
        EXIF_INVALID: 32,
    }
    CODES = tuple(BITS)
    # What each flag becomes on the photo's visit. Unreadable EXIF stays on the photo.
    VISIT_FLAGS = {
        FAR_FROM_VISIT: VisitFlag.PHOTO_FAR_FROM_VISIT,
        TIME_MISMATCH: VisitFlag.PHOTO_TIME_MISMATCH,
        NO_EXIF: VisitFlag.PHOTO_NO_EXIF,
        REUSED: VisitFlag.PHOTO_REUSED,
        NEAR_DUPLICATE: VisitFlag.PHOTO_NEAR_DUPLICATE,
    }

    @classmethod
    def decode(cls, bits: int) -> list[str]:
        return [code for code, bit in cls.BITS.items() if bits & bit]

    @classmethod
    def visit_bits(cls, bits: int) -> int:
        """The visit flag bits that a photo's flag bits roll up to."""
        out = 0
        for code, visit_code in cls.VISIT_FLAGS.items():
            if bits & cls.BITS[code]:
                out |= VisitFlag.BITS[visit_code]
        return out


# What a photo says about itself, as the API and the archive manifest name it.
EXIF_COLUMNS = ("content_type", "taken_at", "exif_lat", "exif_lon", "exif_alt_m", "camera")


class PhotoQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A photo is visible exactly when its (live) visit is."""
        return self.filter(visit__in=Visit.objects.visible_to(user).alive().values("pk"))


class Photo(models.Model):
    """Photo evidence of a visit: the original kept byte-for-byte and private, plus upright, stripped derivatives."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    visit = models.ForeignKey(Visit, verbose_name=_("visit"), on_delete=models.PROTECT, related_name="photos")
    user = models.ForeignKey("agri.User", verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(_("SHA-256 of the original"), max_length=64, db_index=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("content type"), max_length=20)
    # Upright size, after the EXIF orientation is applied.
    width = models.PositiveIntegerField(_("width (px)"))
    height = models.PositiveIntegerField(_("height (px)"))
    orientation = models.PositiveSmallIntegerField(_("EXIF orientation"), null=True, blank=True)
    taken_at = models.DateTimeField(_("taken at (EXIF)"), null=True, blank=True)
    # The camera's UTC offset from OffsetTimeOriginal; null when the photo does not say (read as Asia/Shanghai).
    taken_at_offset_min = models.SmallIntegerField(_("UTC offset of taken at (min)"), null=True, blank=True)
    exif_lat = models.FloatField(_("EXIF latitude (WGS-84)"), null=True, blank=True)
    exif_lon = models.FloatField(_("EXIF longitude (WGS-84)"), null=True, blank=True)
    exif_alt_m = models.FloatField(_("EXIF altitude (m)"), null=True, blank=True)
    camera = models.CharField(_("camera"), max_length=200, blank=True)
    phash = models.CharField(_("perceptual hash"), max_length=16, blank=True)
    flag_bits = models.PositiveIntegerField(_("flags"), default=0)
    original = models.FileField(_("original"), storage=photo_storage, max_length=200)
    display = models.FileField(_("display image"), storage=photo_storage, max_length=200)
    thumbnail = models.FileField(_("thumbnail"), storage=photo_storage, max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = PhotoQuerySet.as_manager()

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["visit", "created_at"], name="photo_visit_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(exif_lat__isnull=True) | Q(exif_lat__gte=-90, exif_lat__lte=90), name="photo_lat_range"
            ),
            models.CheckConstraint(
                condition=Q(exif_lon__isnull=True) | Q(exif_lon__gte=-180, exif_lon__lte=180), name="photo_lon_range"
            ),
            models.CheckConstraint(
                condition=Q(orientation__isnull=True) | Q(orientation__gte=1, orientation__lte=8),
                name="photo_orientation_range",
            ),
        ]

    def __str__(self):
        return f"{self.id} ({self.content_type})"

    @property
    def flags(self) -> list[str]:
        return PhotoFlag.decode(self.flag_bits)


def taken_at_iso(taken_at, offset_min: int | None) -> str | None:
    """ISO 8601 with the camera's own UTC offset when the photo gave one, else in the server's zone (Asia/Shanghai)."""
    if taken_at is None:
        return None
    if offset_min is None:
        return django_timezone.localtime(taken_at).isoformat()
    return taken_at.astimezone(dt_timezone(timedelta(minutes=offset_min))).isoformat()


class PhotoUpload(models.Model):
    """A resumable (tus 1.0) upload of one photo in progress: how far it got, and where its bytes wait.

    The bytes wait in the photo storage (``photo_storage()``, shared by every app server), never on one server's disk
    or in memory; ``parts`` says where (the chunk objects, and on S3 the multipart upload and its parts). Once the
    last byte is in, the photo is made by the same service as a multipart upload, and the row records its id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("agri.User", verbose_name=_("uploaded by"), on_delete=models.CASCADE, related_name="+")
    visit = models.ForeignKey(Visit, verbose_name=_("visit"), on_delete=models.CASCADE, related_name="+")
    photo_id = models.UUIDField(_("photo id (client)"))
    length = models.PositiveBigIntegerField(_("length (bytes)"))
    offset = models.PositiveBigIntegerField(_("bytes received"), default=0)
    # {"header": Upload-Metadata as sent (HEAD answers it), "pairs": {key: decoded value}}
    metadata = models.JSONField(_("Upload-Metadata"), default=dict, blank=True)
    # Where the bytes received so far are: {"chunks": [[name, size], ...], "s3": {"upload_id", "key", "parts"}}.
    parts = models.JSONField(_("stored parts"), default=dict, blank=True)
    # S3 part numbers handed out so far: each request that sends a part takes a number of its own.
    parts_issued = models.PositiveIntegerField(_("parts issued"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("photo upload")
        verbose_name_plural = _("photo uploads")
        indexes = [models.Index(fields=["user", "completed_at"], name="photoupload_user_open")]
        constraints = [
            models.CheckConstraint(condition=Q(offset__lte=models.F("length")), name="photoupload_offset_in_length"),
        ]

    def __str__(self):
        return f"{self.id} ({self.offset}/{self.length})"

    @property
    def storage_prefix(self) -> str:
        """The folder of the photo storage that holds this upload's bytes until it completes."""
        return f"{UPLOADS_PREFIX}/{self.id}"


# The folder of the photo storage under which partial uploads wait (one folder per upload).
UPLOADS_PREFIX = "uploads"
