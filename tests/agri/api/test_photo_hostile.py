"""Hostile uploads, built here with Pillow: each gets the right 4xx with its code and message, never a 500, and
leaves neither a row nor a file behind."""

import io
import uuid
import warnings

import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, ImageFile, PngImagePlugin

from agri.models import Photo, Visit
from agri.services import photos
from tests.agri.photo_support import image_bytes, new_visit, sample, stored_files, upload, zeros_png

NIKON = "ianare_jpg_gps_DSCN0010.jpg"
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


pytestmark = pytest.mark.usefixtures("private_root")  # every test stores its photos in a store of its own


@pytest.fixture
def visit(world, clients):
    return new_visit(clients["worker"], world)


def bomb_png(size=(10_000, 10_000)) -> bytes:
    """100 megapixels of 1-bit zeros: about 12 kB on disk, 100 MB once decoded to RGB."""
    buf = io.BytesIO()
    Image.new("1", size).save(buf, "PNG")
    return buf.getvalue()


def png_with_text(**chunks) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return image_bytes("PNG", pnginfo=info)


def psd(width=4, height=3) -> bytes:
    """A minimal valid Photoshop file (Pillow reads PSD but cannot write it): header, empty sections, raw RGB."""
    header = b"8BPS" + (1).to_bytes(2, "big") + bytes(6) + (3).to_bytes(2, "big")
    header += height.to_bytes(4, "big") + width.to_bytes(4, "big") + (8).to_bytes(2, "big") + (3).to_bytes(2, "big")
    return header + bytes(4) * 3 + bytes(2) + bytes(range(3 * width * height))


def jpeg_with_exif_text(**tags) -> bytes:
    """A JPEG whose EXIF carries the given strings: ``description`` (ImageDescription, IFD0), ``user_comment``
    (Exif IFD, bytes with their character code) and ``xp_comment`` (XPComment, UTF-16LE)."""
    exif = Image.Exif()
    if "description" in tags:
        exif[ExifTags.Base.ImageDescription] = tags["description"]
    if "xp_comment" in tags:
        exif[ExifTags.Base.XPComment] = tags["xp_comment"].encode("utf-16-le") + b"\x00\x00"
    if "user_comment" in tags:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = tags["user_comment"]
    return image_bytes("JPEG", exif=exif)


def xmp(inner: str, about: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="{about}" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{inner}</rdf:li></rdf:Alt></dc:description>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def png_with(**chunks) -> bytes:
    """A PNG with a compressed text chunk (zTXt) or an international one (iTXt)."""
    info = PngImagePlugin.PngInfo()
    if "ztxt" in chunks:
        info.add_text("Comment", chunks["ztxt"], zip=True)
    if "itxt" in chunks:
        info.add_itxt("Description", chunks["itxt"], lang="zh", tkey="说明")
    return image_bytes("PNG", pnginfo=info)


def heic_with_exif_description(text: str) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = text
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (40, 120, 60))).save(buf, quality=60, exif=exif.tobytes())
    return buf.getvalue()


IMG_ONERROR = "<img src=x onerror=alert(1)>"
# Markup anywhere in the metadata, not just where browsers sniff: name -> bytes
MARKUP_IN_METADATA = {
    "JPEG comment with an <img onerror>": lambda: image_bytes("JPEG", comment=IMG_ONERROR.encode()),
    "EXIF ImageDescription with a <script> past the sniffed bytes": lambda: jpeg_with_exif_text(
        description="x" * 1500 + "<script>alert(1)</script>"
    ),
    "EXIF UserComment (UNICODE) with an <svg onload>": lambda: jpeg_with_exif_text(
        user_comment=b"UNICODE\x00" + "<svg onload=alert(1)>".encode("utf-16-le")
    ),
    "EXIF XPComment with an <iframe>": lambda: jpeg_with_exif_text(xp_comment="<iframe src=//evil>"),
    "PNG zTXt with an <img onerror>": lambda: png_with(ztxt=IMG_ONERROR),
    "PNG iTXt with a javascript: link": lambda: png_with(itxt="<a href='javascript:alert(1)'>田</a>"),
    "JPEG XMP with an unprefixed <script> element": lambda: image_bytes("JPEG", xmp=xmp("<script>alert(1)</script>")),
    "WebP XMP with a javascript: URL": lambda: image_bytes("WEBP", xmp=xmp("田", about="javascript:alert(1)")),
    "JPEG XMP with an HTML comment": lambda: image_bytes("JPEG", xmp=xmp("<!-- --><x:y onload=alert(1)/>")),
    "HEIC EXIF with an <img onerror>": lambda: heic_with_exif_description(IMG_ONERROR),
}


@pytest.mark.parametrize("name", list(MARKUP_IN_METADATA))
def test_markup_anywhere_in_the_metadata_is_a_415_polyglot(clients, visit, private_root, name):
    data = MARKUP_IN_METADATA[name]()
    response = upload(clients["worker"], visit["id"], data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 415, response.content
    assert response.json()["code"] == "polyglot"
    assert Photo.objects.count() == 0 and stored_files(private_root) == []


def test_the_exif_script_lies_past_the_sniffed_bytes():
    data = MARKUP_IN_METADATA["EXIF ImageDescription with a <script> past the sniffed bytes"]()
    assert data.index(b"<script>") > 1445


@pytest.mark.parametrize(
    "make",
    [
        lambda: image_bytes("JPEG", comment="长势良好 <3 株, a < b > c".encode()),
        lambda: jpeg_with_exif_text(description="OLYMPUS DIGITAL CAMERA", user_comment=b"ASCII\x00\x00\x00x > 0"),
        lambda: jpeg_with_exif_text(xp_comment="柑橘溃疡病"),
        lambda: image_bytes("JPEG", xmp=xmp("柑橘 & 茶叶")),
        lambda: png_with(ztxt="Created with GIMP", itxt="云阳县 10 < 20"),
    ],
    ids=["comment", "EXIF strings", "XPComment", "XMP", "PNG text"],
)
def test_plain_text_in_the_metadata_is_accepted(clients, visit, make):
    assert upload(clients["worker"], visit["id"], make()).status_code == 201


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9"/></svg>'

# name -> (bytes, filename, status, code)
CORPUS = {
    "decompression bomb PNG": (bomb_png, "bomb.png", 422, "too_many_pixels"),
    "PNG + HTML after IEND": (lambda: image_bytes("PNG") + HTML, "photo.png", 415, "polyglot"),
    "PNG with a script in a text chunk": (
        lambda: png_with_text(Comment="x" * 3000, Description=HTML.decode()),
        "photo.png",
        415,
        "polyglot",
    ),
    "JPEG with HTML in its comment": (lambda: image_bytes("JPEG", comment=HTML), "photo.jpg", 415, "polyglot"),
    "WebP + HTML after the RIFF": (lambda: image_bytes("WEBP") + HTML, "photo.webp", 415, "polyglot"),
    "HEIC + HTML after the last box": (
        lambda: sample("ianare_heic_samplefilehub.heif") + HTML,
        "IMG_0001.HEIC",
        415,
        "polyglot",
    ),
    "SVG": (lambda: SVG, "photo.jpg", 415, "unsupported_format"),
    "HTML page": (lambda: HTML, "photo.jpg", 415, "unsupported_format"),
    "PSD renamed .jpg": (psd, "photo.jpg", 415, "unsupported_format"),
    "EPS renamed .jpg": (lambda: image_bytes("EPS"), "photo.jpg", 415, "unsupported_format"),
    "GIF": (lambda: image_bytes("GIF"), "photo.jpg", 415, "unsupported_format"),
    "TIFF": (lambda: image_bytes("TIFF"), "photo.jpg", 415, "unsupported_format"),
    "BMP": (lambda: image_bytes("BMP"), "photo.jpg", 415, "unsupported_format"),
    "PDF": (lambda: image_bytes("PDF"), "photo.jpg", 415, "unsupported_format"),
    "truncated JPEG": (lambda: sample(NIKON)[:80_000], "photo.jpg", 422, "corrupt_image"),
    "JPEG header only": (lambda: sample(NIKON)[:300], "photo.jpg", 422, "corrupt_image"),
    "JPEG signature then garbage": (lambda: b"\xff\xd8\xff" + bytes(range(256)) * 4, "photo.jpg", 422, "corrupt_image"),
    "truncated PNG": (lambda: image_bytes("PNG", size=(300, 200))[:200], "photo.png", 422, "corrupt_image"),
    "truncated WebP": (lambda: image_bytes("WEBP", size=(300, 200))[:100], "photo.webp", 422, "corrupt_image"),
    # libheif would decode this one, filling the missing tiles with green.
    "truncated HEIC": (
        lambda: sample("ianare_heic_IMG_5195.HEIC")[:600_000],
        "IMG_5195.HEIC",
        422,
        "corrupt_image",
    ),
    "random bytes": (lambda: bytes(range(256)) * 16, "photo.jpg", 415, "unsupported_format"),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_file_is_rejected_with_its_code(clients, visit, private_root, name):
    make, filename, status, code = CORPUS[name]
    response = upload(clients["worker"], visit["id"], make(), filename=filename, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"] and body["fields"] == {}
    assert Photo.objects.count() == 0
    assert stored_files(private_root) == []
    assert Visit.objects.get(pk=visit["id"]).photos_present == 0


def test_bomb_is_rejected_even_above_the_pixel_setting_because_pillows_warning_is_an_error(
    clients, visit, settings, recwarn
):
    """With the pixel limit raised out of the way, the 100 MP bomb is still refused: Pillow only *warns* above
    its MAX_IMAGE_PIXELS (89 MP), and the upload turns that warning into an error."""
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # as outside pytest: a warning, not an error
    assert Image.open(io.BytesIO(bomb_png())).size == (10_000, 10_000)
    settings.PHOTOS = {**settings.PHOTOS, "max_pixels": 1_000_000_000}
    response = upload(clients["worker"], visit["id"], bomb_png(), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_pixels"
    assert Photo.objects.count() == 0


def test_pixel_limit_applies_before_decoding(clients, visit, settings):
    settings.PHOTOS = {**settings.PHOTOS, "max_pixels": 200_000}
    response = upload(clients["worker"], visit["id"], sample(NIKON), HTTP_ACCEPT_LANGUAGE="en")  # 640 x 480
    assert response.status_code == 422
    assert response.json() == {
        "code": "too_many_pixels",
        "message": "The image has too many pixels: at most 0.2 megapixels are accepted.",
        "fields": {},
    }


def test_zero_bytes_is_a_400_on_the_file(clients, visit):
    response = upload(clients["worker"], visit["id"], b"", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"]["file"] == [{"code": "empty", "message": "The submitted file is empty."}]


def test_missing_file_or_id_is_a_400(clients, visit):
    url = f"/api/v1/visits/{visit['id']}/photos/"
    no_file = clients["worker"].post(url, {"id": str(uuid.uuid4())}, format="multipart")
    assert no_file.status_code == 400 and no_file.json()["fields"]["file"][0]["code"] == "required"
    file = SimpleUploadedFile("a.jpg", sample(NIKON))
    bad_id = clients["worker"].post(url, {"id": "not-a-uuid", "file": file}, format="multipart")
    assert bad_id.status_code == 400 and bad_id.json()["fields"]["id"][0]["code"] == "invalid"
    as_json = clients["worker"].post(url, {"id": str(uuid.uuid4())}, format="json")
    assert as_json.status_code == 415 and as_json.json()["code"] == "unsupported_media_type"


def test_file_over_the_default_size_limit_is_a_413_unread(clients, visit):
    big = sample(NIKON) + bytes(25 * 1024 * 1024)
    response = upload(clients["worker"], visit["id"], big, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 413
    assert response.json() == {"code": "file_too_large", "message": "The file is larger than 25 MB.", "fields": {}}


def test_file_just_over_a_configured_size_limit_is_a_413(clients, visit, settings):
    settings.PHOTOS = {**settings.PHOTOS, "max_bytes": 150_000}
    data = sample(NIKON)  # 161,713 bytes: within the multipart slack, so the service's own check refuses it
    assert 150_000 < len(data) < 150_000 + 64 * 1024
    response = upload(clients["worker"], visit["id"], data)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert upload(clients["worker"], visit["id"], sample("ianare_heic_samplefilehub.heif")).status_code == 201


@pytest.mark.parametrize("filename", ["../../../etc/passwd.jpg", "..\\..\\windows\\photo.jpg", "/tmp/../x.jpg"])
def test_path_in_the_file_name_goes_nowhere(clients, visit, private_root, filename):
    """The name a client sends is never used: a real photo is stored under the server's own name, inside the
    private storage; hostile content under such a name is refused like any other."""
    response = upload(clients["worker"], visit["id"], sample(NIKON), filename=filename)
    assert response.status_code == 201
    files = stored_files(private_root)
    assert len(files) == 3
    assert all(private_root in f.parents and ".." not in f.as_posix() and "passwd" not in f.name for f in files)
    assert not (private_root.parent / "etc").exists()
    svg = upload(clients["worker"], visit["id"], SVG, filename=filename)
    assert svg.status_code == 415 and svg.json()["code"] == "unsupported_format"


@pytest.mark.parametrize(
    ("make", "status", "english"),
    [
        (lambda: SVG, 415, "Only JPEG, PNG, WebP and HEIC/HEIF photos are accepted."),
        (
            lambda: image_bytes("PNG") + HTML,
            415,
            "The file carries markup (HTML or script) or other data besides the image.",
        ),
        (lambda: sample(NIKON)[:80_000], 422, "The image is truncated or corrupt."),
        (bomb_png, 422, "The image has too many pixels: at most 60 megapixels are accepted."),
    ],
)
def test_errors_speak_the_clients_language(clients, visit, make, status, english):
    en = upload(clients["worker"], visit["id"], make(), HTTP_ACCEPT_LANGUAGE="en")
    zh = upload(clients["worker"], visit["id"], make(), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert en.status_code == zh.status_code == status
    assert en.json()["code"] == zh.json()["code"]
    assert en.json()["message"] == english
    assert zh.json()["message"] != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.json()["message"])


@pytest.mark.parametrize(("make", "fmt"), [(psd, "PSD"), (lambda: image_bytes("EPS"), "EPS"), (bomb_png, "PNG")])
def test_the_corpus_is_real(make, fmt):
    """Pillow itself, without the allow-list, takes these for what they are: it is the allow-list that refuses
    PSD and EPS, not a parse error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert Image.open(io.BytesIO(make())).format == fmt


# 7680 x 7680 = 59 megapixels: under the 60 MP pixel limit and Pillow's own bomb warning (89 MP).
HOSTILE_PNGS = {
    "7 kB 1-bit": lambda: zeros_png(7680, 7680, bit_depth=1, color_type=0),
    "460 kB 16-bit RGBA": lambda: zeros_png(7680, 7680, bit_depth=16, color_type=6),
}


@pytest.fixture
def decodes(monkeypatch) -> list:
    """The sizes of the images whose pixels get decoded (Pillow's load with its tiles still to read)."""
    decoded = []
    load = ImageFile.ImageFile.load

    def spy(self):
        if self.tile:
            decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return decoded


@pytest.mark.parametrize("name", list(HOSTILE_PNGS))
def test_a_png_whose_decoded_pixels_exceed_the_memory_budget_is_refused_before_decoding(
    clients, visit, private_root, decodes, name
):
    """Under the pixel limit, a few hundred kB on disk, but a 59 MP image held in Pillow's modes and converted for
    the derivatives needs far more than PHOTO_MAX_DECODE_BYTES (256 MB): refused from its header, unread."""
    data = HOSTILE_PNGS[name]()
    assert len(data) < 500_000
    response = upload(clients["worker"], visit["id"], data, filename="bomb.png", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "image_too_large"
    assert body["message"].endswith(
        "a photo may take at most 256 MB. Send a photo with fewer pixels or a lower bit depth."
    )
    zh = upload(clients["worker"], visit["id"], data, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert zh["code"] == "image_too_large" and "256 MB" in zh["message"] and "内存" in zh["message"]
    assert decodes == []
    assert Photo.objects.count() == 0 and stored_files(private_root) == []


def test_the_memory_budget_counts_bytes_per_pixel_by_mode_not_pixels(clients, visit, settings, decodes):
    """The same 4000 x 4000 pixels: 8-bit grey is decoded within a 100 MB budget, 16-bit RGBA (four bytes a pixel
    in Pillow, plus the premultiplied copy its alpha is shrunk in) is not."""
    settings.PHOTOS = {**settings.PHOTOS, "max_decode_bytes": 100 * 2**20}
    grey = upload(clients["worker"], visit["id"], zeros_png(4000, 4000, bit_depth=8, color_type=0))
    assert grey.status_code == 201, grey.content
    assert decodes == [(4000, 4000)]
    rgba = upload(clients["worker"], visit["id"], zeros_png(4000, 4000, bit_depth=16, color_type=6))
    assert rgba.status_code == 422 and rgba.json()["code"] == "image_too_large"
    assert decodes == [(4000, 4000)]
    assert Photo.objects.count() == 1


def test_an_upload_that_finds_no_free_decode_slot_in_time_gets_a_503(clients, visit, settings):
    """A process decodes at most PHOTO_DECODE_CONCURRENCY photos at once; an upload that cannot get a turn within
    PHOTO_DECODE_WAIT_SECONDS is answered 503 with Retry-After, and nothing is kept."""
    settings.PHOTOS = {**settings.PHOTOS, "decode_concurrency": 1, "decode_wait_seconds": 0.05}
    with photos.decode_slot():  # another request of this process is decoding
        busy = upload(clients["worker"], visit["id"], sample(NIKON), HTTP_ACCEPT_LANGUAGE="en")
    assert busy.status_code == 503
    assert busy.json()["code"] == "decode_busy"
    assert busy["Retry-After"]
    assert Photo.objects.count() == 0
    assert upload(clients["worker"], visit["id"], sample(NIKON)).status_code == 201
