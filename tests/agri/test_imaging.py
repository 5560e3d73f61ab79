"""The image pipeline on its own: JPEG draft decoding, and EXIF that is damaged anywhere never failing a photo."""

import io
import random
import warnings
from zoneinfo import ZoneInfo

import pytest
from PIL import ExifTags, Image, JpegImagePlugin

from agri.errors import UnsupportedContent
from agri.imaging import process_photo
from tests.agri.photo_support import gps_exif, jpeg_with_exif, sample

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIMITS = {"max_pixels": 60_000_000, "display_px": 1600, "thumbnail_px": 320, "default_tz": SHANGHAI}


def twelve_megapixels() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    buf = io.BytesIO()
    Image.radial_gradient("L").resize((4032, 3024)).convert("RGB").save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def test_a_12_megapixel_jpeg_is_decoded_at_half_scale_not_in_full(monkeypatch):
    """Draft mode (DCT scaling) decodes 4032x3024 at 2016x1512: the smallest scale that still covers 1600 px."""
    decoded = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        if self.tile:  # the pixels are still to be decoded (later calls return at once)
            decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    result = process_photo(twelve_megapixels(), **LIMITS)
    assert decoded == [(2016, 1512)]
    # Orientation 6: upright it is portrait, and so are its derivatives.
    assert (result.width, result.height) == (3024, 4032)
    assert Image.open(io.BytesIO(result.display)).size == (1200, 1600)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (240, 320)


def test_small_jpeg_is_not_scaled_up():
    result = process_photo(sample("pillow_empty_gps_ifd.jpg"), **LIMITS)
    assert Image.open(io.BytesIO(result.display)).size == (10, 10)


@pytest.mark.parametrize("name", ["ianare_jpg_gps_DSCN0010.jpg", "pillow_empty_gps_ifd.jpg"])
def test_damaged_exif_never_fails_the_photo(name):
    """Random bytes overwritten inside the EXIF block (its segment length kept, so the JPEG stays whole): the photo
    is always accepted, with whatever still parses."""
    data = sample(name)
    start = data.index(b"Exif\x00\x00")
    end = start - 2 + int.from_bytes(data[start - 2 : start], "big")
    rng = random.Random(4)
    outcomes = set()
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 4, 16, 64])):
            damaged[rng.randrange(start + 14, end)] = rng.randrange(256)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "corrupt EXIF" notices
            result = process_photo(bytes(damaged), **LIMITS)
        assert result.exif.present
        assert set(result.exif.invalid) <= {"exif", "Exif", "GPSInfo", "time", "gps", "camera", "orientation"}
        outcomes.add(bool(result.exif.invalid))
    assert outcomes == {True, False}  # some damage was noticed and flagged, some was harmless


def test_rejections_carry_status_and_code():
    with pytest.raises(UnsupportedContent) as info:
        process_photo(b"GIF89a" + bytes(100), **LIMITS)
    assert info.value.code == "unsupported_format"


def exif_time(raw: str, offset: str | None) -> bytes:
    im = Image.open(io.BytesIO(sample("ianare_jpg_gps_DSCN0010.jpg")))
    exif = im.getexif()
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = raw
    sub.pop(ExifTags.Base.OffsetTimeOriginal, None)
    if offset is not None:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    exif[ExifTags.IFD.Exif] = sub
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=80)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        ("1900:05:01 10:00:00", None),  # Asia/Shanghai was local mean time then (+08:05:43): no RFC 3339 offset
        ("1228:10:31 22:13:38", "-01:45"),
        ("9999:12:31 23:59:59", "-12:00"),  # past year 9999 in UTC
        ("2100:01:01 08:00:00", "+08:00"),
    ],
)
def test_a_camera_time_out_of_range_is_named_invalid_not_kept(raw, offset):
    result = process_photo(exif_time(raw, offset), **LIMITS)
    assert result.exif.taken_at is None
    assert result.exif.offset_min is None
    assert "time" in result.exif.invalid


@pytest.mark.parametrize(
    ("raw", "offset", "iso"),
    [
        ("1970:01:01 08:00:00", None, "1970-01-01T08:00:00+08:00"),  # a reset clock: kept (and flagged elsewhere)
        ("2099:12:31 23:59:59", "+00:00", "2099-12-31T23:59:59+00:00"),
    ],
)
def test_a_camera_time_at_the_bounds_is_kept(raw, offset, iso):
    result = process_photo(exif_time(raw, offset), **LIMITS)
    assert result.exif.taken_at.isoformat() == iso
    assert "time" not in result.exif.invalid


@pytest.mark.parametrize(
    "damage",
    [
        {"pointer": 0x00FFFFF0},  # the GPS IFD pointer leads past the end of the block
        {"pointer": 8},  # ... back onto IFD0: a loop
        {"lat_count": 2**30},  # a latitude of 2^30 rationals
        {"lat_at": 0x00FFFF00},  # the latitude's values lie past the end of the block
    ],
)
def test_a_malformed_gps_ifd_is_named_invalid_and_gives_no_position(damage):
    assert process_photo(jpeg_with_exif(gps_exif()), **LIMITS).exif.lat == pytest.approx(30 + 50 / 60)
    result = process_photo(jpeg_with_exif(gps_exif(**damage)), **LIMITS)
    assert "GPSInfo" in result.exif.invalid
    assert (result.exif.lat, result.exif.lon) == (None, None)


def jpeg_with_extended_xmp(packet: bytes, piece: int) -> bytes:
    """A JPEG carrying ``packet`` as extended XMP (as Google's cameras write depth maps), cut into APP1 segments
    of ``piece`` bytes, wherever that falls."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "JPEG")
    data = buf.getvalue()
    segments = b""
    for offset in range(0, len(packet), piece):
        body = b"http://ns.adobe.com/xmp/extension/\x00" + b"0123456789ABCDEF" * 2
        body += len(packet).to_bytes(4, "big") + offset.to_bytes(4, "big") + packet[offset : offset + piece]
        segments += b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body
    return data[:2] + segments + data[2:]


EXTENDED_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" GDepth:Data="QUJD"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def test_extended_xmp_is_checked_whole_not_by_segment():
    """Segments cut tags anywhere ("<rd" | "f:Description"): the packet is put back together before it is checked,
    so a namespaced tag cut in two is not taken for markup, and a script across two segments is still found."""
    assert process_photo(jpeg_with_extended_xmp(EXTENDED_XMP, 7), **LIMITS).content_type == "image/jpeg"
    hostile = EXTENDED_XMP.replace(b"</rdf:RDF>", b"<script>alert(1)</script></rdf:RDF>")
    with pytest.raises(UnsupportedContent) as info:
        process_photo(jpeg_with_extended_xmp(hostile, 9), **LIMITS)
    assert info.value.code == "polyglot"
