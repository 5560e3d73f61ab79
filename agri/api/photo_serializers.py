"""Visit photos: the multipart upload shapes and the read shape."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agri.models import Photo, PhotoFlag
from agri.models.photos import EXIF_COLUMNS, taken_at_iso

FILE_HELP = _("The photo: JPEG, PNG, WebP or HEIC/HEIF, decided by its content. The file name is ignored.")


class PhotoUploadSerializer(serializers.Serializer):
    """Multipart: the photo's client UUID and the file."""

    id = serializers.UUIDField(help_text=_("Client-generated UUID. Uploading it again with the same file is safe."))
    file = serializers.FileField(allow_empty_file=False, use_url=False, help_text=FILE_HELP)


class PhotoPutSerializer(serializers.Serializer):
    """The same upload as to a visit's photos, with the visit in the body and the photo id in the path."""

    visit = serializers.UUIDField(help_text=_("Id of the visit the photo belongs to."))
    file = serializers.FileField(allow_empty_file=False, use_url=False, help_text=FILE_HELP)


class TakenAtField(serializers.Field):
    """EXIF time with the camera's own UTC offset when the photo gave one, else in Asia/Shanghai."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, photo: Photo):
        return taken_at_iso(photo.taken_at, photo.taken_at_offset_min)


extend_schema_field(OpenApiTypes.DATETIME)(TakenAtField)


class PhotoFileUrlField(serializers.Field):
    """Absolute URL of one of the photo's files; it is served only to accounts that may see the visit."""

    def __init__(self, variant: str, **kwargs):
        self.variant = variant
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, photo: Photo) -> str:
        path = reverse(f"agri:photo-{self.variant}", kwargs={"pk": photo.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


extend_schema_field(OpenApiTypes.URI)(PhotoFileUrlField)


class PhotoSerializer(serializers.ModelSerializer):
    taken_at = TakenAtField(help_text=_("When the photo was taken (EXIF), or null."))
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=PhotoFlag.CODES),
        read_only=True,
        help_text=_("Evidence checks that flagged the photo (they never reject it)."),
    )
    original = PhotoFileUrlField("original", help_text=_("The file as uploaded, byte for byte."))
    display = PhotoFileUrlField("display", help_text=_("JPEG, longest side at most 1600 px, upright, no metadata."))
    thumbnail = PhotoFileUrlField("thumbnail", help_text=_("JPEG, longest side at most 320 px, upright, no metadata."))

    class Meta:
        model = Photo
        fields = [
            "id",
            "visit",
            "sha256",
            "width",
            "height",
            *EXIF_COLUMNS,
            "orientation",
            "flags",
            "created_at",
            "original",
            "display",
            "thumbnail",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "width": {"help_text": _("Upright width in pixels.")},
            "height": {"help_text": _("Upright height in pixels.")},
            "exif_lat": {"help_text": _("EXIF GPS latitude (WGS-84), or null.")},
            "exif_lon": {"help_text": _("EXIF GPS longitude (WGS-84), or null.")},
            "orientation": {"help_text": _("EXIF orientation of the original (1-8); the derivatives are upright.")},
        }
