"""Resumable photo uploads (tus 1.0): the Upload-Metadata a creation carries, decoded and checked."""

import base64
import binascii

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class UploadMetadataSerializer(serializers.Serializer):
    """The ``Upload-Metadata`` pairs of ``POST /uploads/``: the photo's visit and its client UUID, as the multipart
    upload names them (``visit``, ``id``). Other keys that tus clients add (``filename``, ``filetype``) are kept and
    ignored: the format is decided by the content."""

    visit = serializers.UUIDField(help_text=_("Id of the visit the photo belongs to."))
    id = serializers.UUIDField(help_text=_("Client-generated UUID of the photo. Uploading it again is safe."))


def parse_upload_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata: key base64value,key2 base64value2`` as ``{key: value}`` (values decoded as UTF-8; a key
    without a value is an empty string). A malformed header raises ``ValidationError``."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _sep, encoded = item.partition(" ")
        try:
            pairs[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise serializers.ValidationError(
                {"Upload-Metadata": [_("Each value must be Base64 of UTF-8 text: %(key)s is not.") % {"key": key}]},
                code="invalid",
            ) from exc
    return pairs
