"""Hostile uploads, built here with Pillow: each gets the right 4xx with its code and message, never a 500, and
leaves neither a row nor a file behind."""

import io
import uuid
import warnings

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, PngImagePlugin

from agri.models import Photo, Visit
from tests.agri.photo_support import image_bytes, new_visit, sample, stored_files, upload

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
