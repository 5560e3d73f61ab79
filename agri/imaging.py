"""Photo bytes in; format, EXIF facts and upright, metadata-free derivatives out. No database access here.

The format is decided by content: Pillow opens only the allow-listed formats (HEIC/HEIF through
pillow-heif's opener), so SVG, PSD, EPS, TIFF, GIF and Pillow's rarer decoders never see the bytes.
The pixel count is checked from the header, before any decode, and Pillow's decompression-bomb
warning is raised as an error. JPEGs are decoded in draft mode (DCT scaling) at the smallest scale
that still covers the display size, so a 12 MP photo is never fully decoded just to be shrunk.

Memory is bounded by bytes, not pixels: before decoding, ``decode_bytes`` adds up what the decode and the
derivatives will hold at once, from the header's size and mode (Pillow keeps a 1-bit pixel in a byte and an RGB
pixel in four), and a photo over the budget is refused unread. The decode itself runs inside a slot the caller
hands in, so that a process decodes only so many photos at once.
"""

import io
import re
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

import imagehash
import pillow_heif
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageCms, ImageOps, IptcImagePlugin, UnidentifiedImageError

from agri.errors import ApplicationError, Unprocessable, UnsupportedContent
from agri.models.base import EARLIEST_TIME, LATEST_TIME

# Derivatives come from the primary image only: skip decoding HEIF thumbnails, depth maps and auxiliary images.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic", "image/heif": "heif"}
HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
HEIF_BRANDS = HEIC_BRANDS | {b"mif1", b"msf1"}
# What Pillow raises on truncated or corrupt data (pillow-heif raises ValueError/RuntimeError).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, RuntimeError, EOFError, IndexError, KeyError, TypeError)
# Markup that makes a file render as HTML/SVG somewhere; browsers sniff the first 1445 bytes (WHATWG mimesniff).
MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|style|link)[\s/>]", re.IGNORECASE
)
SNIFF_BYTES = 1445
# Markup in text that a client wrote into the file's metadata (comments, EXIF strings, PNG text, IPTC): any tag-like
# "<name", "</name", "<!" (comments, doctypes, CDATA), "<?" (processing instructions), or a script URL. Photo
# metadata has no use for any of them; an HTML parser given them would build elements and run handlers.
TEXT_MARKUP = re.compile(rb"<[/?]?[a-z]|<!|javascript\s*:|vbscript\s*:|data\s*:\s*text/html", re.IGNORECASE)
# XMP is XML: its elements are namespaced ("<x:xmpmeta", "<rdf:Description") and its only processing instruction is
# the packet wrapper. An unprefixed element, "<!" (doctype, entity, comment, CDATA), another instruction, an event
# handler attribute or a script URL is markup that does not belong there.
XMP_MARKUP = re.compile(
    rb"<(?!\?xpacket\b|\?xml\b|/?[a-z_][\w.-]*:)[/?]?[a-z]|<!|\son[a-z]+\s*=|javascript\s*:|vbscript\s*:"
    rb"|data\s*:\s*text/html",
    re.IGNORECASE,
)
XMP_KEYS = ("xmp", "XML:com.adobe.xmp")
XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"
# EXIF strings a client can write: XP* are UTF-16LE; UserComment starts with an 8-byte character code.
XP_TAGS = (0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F)
USER_COMMENT = 0x9286
PNG_IEND = b"\x00\x00\x00\x00IEND\xae\x42\x60\x82"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Draft mode has already done the bulk of a JPEG's shrinking in the DCT; what is left (under 2x) is area averaging
# (Pillow's BOX filter scaled to the reduction): for a 12 MP photo about 18 ms against 26 for bilinear and 42 for
# bicubic, and no visible difference at 1600 px.
RESAMPLE = Image.Resampling.BOX


# An upload that is not an acceptable photo: not an image we take (UnsupportedContent) or one we cannot use
# (Unprocessable), with a machine code and a message in the request's language.
ImageRejected = ApplicationError


def unsupported() -> UnsupportedContent:
    return UnsupportedContent(_("Only JPEG, PNG, WebP and HEIC/HEIF photos are accepted."), code="unsupported_format")


def polyglot() -> UnsupportedContent:
    return UnsupportedContent(
        _("The file carries markup (HTML or script) or other data besides the image."), code="polyglot"
    )


def corrupt() -> Unprocessable:
    return Unprocessable(_("The image is truncated or corrupt."), code="corrupt_image")


def too_many_pixels(limit: int) -> Unprocessable:
    return Unprocessable(
        _("The image has too many pixels: at most %(megapixels)s megapixels are accepted.")
        % {"megapixels": f"{limit / 1_000_000:g}"},
        code="too_many_pixels",
    )


def image_too_large(needed: int, limit: int) -> Unprocessable:
    return Unprocessable(
        _(
            "Decoding this image would take %(needed)d MB of memory; a photo may take at most %(limit)d MB. "
            "Send a photo with fewer pixels or a lower bit depth."
        )
        % {"needed": -(-needed // 2**20), "limit": limit // 2**20},
        code="image_too_large",
    )


@dataclass
class ExifFacts:
    """What the EXIF block says. ``invalid`` names the tags that were present but did not parse."""

    present: bool = False
    taken_at: datetime | None = None
    offset_min: int | None = None  # from OffsetTime*; None means the time was read in the default zone
    lat: float | None = None  # WGS-84 degrees
    lon: float | None = None
    alt_m: float | None = None
    camera: str = ""
    orientation: int | None = None
    invalid: list[str] = field(default_factory=list)


@dataclass
class ProcessedPhoto:
    content_type: str
    width: int  # upright
    height: int
    exif: ExifFacts
    display: bytes  # JPEG, longest side <= display_px, upright, no metadata
    thumbnail: bytes  # JPEG, longest side <= thumbnail_px
    phash: str  # 64-bit perceptual hash (imagehash.phash of the thumbnail), 16 hex digits

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def process_photo(
    data: bytes,
    *,
    max_pixels: int,
    display_px: int,
    thumbnail_px: int,
    default_tz: tzinfo,
    max_decode_bytes: int | None = None,
    decode_slot: Callable[[], AbstractContextManager] = nullcontext,
) -> ProcessedPhoto:
    """Check, read and shrink one uploaded photo. Raises ``UnsupportedContent`` or ``Unprocessable`` for anything else.

    ``default_tz`` is the zone an EXIF time without OffsetTime* is read in. A photo whose ``decode_bytes`` exceed
    ``max_decode_bytes`` is refused (``image_too_large``) before any pixel is decoded; the decode and the
    derivatives run inside ``decode_slot()``, which may wait for a slot or raise.
    """
    if MARKUP.search(data[:SNIFF_BYTES]):
        raise polyglot() if _signature(data) else unsupported()
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; an upload there is a bomb all the same.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise too_many_pixels(max_pixels) from exc
        except UnidentifiedImageError as exc:
            # An allowed format's signature that no decoder accepts is a broken photo, not another format.
            raise (corrupt() if _signature(data) else unsupported()) from exc
        except DECODE_ERRORS as exc:
            raise corrupt() from exc
        if im.width * im.height > max_pixels:
            raise too_many_pixels(max_pixels)
        content_type = _content_type(im, data)
        _check_container_end(content_type, data)
        full_size = im.size
        try:
            if im.format in ("JPEG", "MPO"):
                im.draft(None, _fit(im.size, display_px))
        except DECODE_ERRORS as exc:
            raise corrupt() from exc
        # Checked before anything that may decode: Pillow's PNG reader decodes the whole image to look for an
        # eXIf chunk after the pixels.
        needed = len(data) + decode_bytes(im, display_px=display_px, full_size=full_size)
        if max_decode_bytes is not None and needed > max_decode_bytes:
            raise image_too_large(needed, max_decode_bytes)
        with decode_slot():
            exif = read_exif(im, default_tz)
            # pillow-heif hands HEIF images over already rotated; everything else still needs its EXIF orientation.
            orientation = exif.orientation if im.format != "HEIF" else None
            width, height = full_size[::-1] if orientation in (5, 6, 7, 8) else full_size
            try:
                im.load()
            except DECODE_ERRORS as exc:
                raise corrupt() from exc
            if any(pattern.search(value) for pattern, value in _metadata_text(im)):
                raise polyglot()
            display = _derivative(im, display_px, orientation)
            thumbnail = display.resize(_fit(display.size, thumbnail_px), RESAMPLE)
            return ProcessedPhoto(
                content_type=content_type,
                width=width,
                height=height,
                exif=exif,
                display=_jpeg(display, quality=85),
                thumbnail=_jpeg(thumbnail, quality=80),
                phash=str(imagehash.phash(thumbnail)),
            )


# Bytes per pixel that a decoder holds besides Pillow's image, measured (bench/decode_memory.py --calibrate): libwebp
# decodes into YUV, then an RGBA canvas, and hands over a copy of it; libheif decodes into planes of its own and
# pillow-heif into an interleaved buffer.
DECODER_BYTES_PER_PIXEL = {"WEBP": 11, "HEIF": 4}
# What the derivatives need once the image is shrunk (display image, its upright and sRGB copies, the JPEG
# encoder, the thumbnail), per pixel of the display size; and the decoders' and encoders' own state.
DISPLAY_COPIES = 4
CODEC_BYTES = 16 * 2**20


def keep_decode_blocks(max_bytes: int) -> None:
    """Let Pillow keep up to ``max_bytes`` of freed image memory for the next decode instead of handing it back to
    the C allocator. glibc gives each thread an arena of its own, so in a threaded worker decodes taken in turn by
    different threads would otherwise each leave their full size behind (six 36 MP PNGs, one at a time: 387 MB
    of growth instead of 192)."""
    blocks = -(-max_bytes // Image.core.get_block_size())
    Image.core.set_blocks_max(max(Image.core.get_blocks_max(), blocks))


def pixel_bytes(mode: str) -> int:
    """Bytes per pixel in Pillow's own storage: one for 1, L and P (a 1-bit pixel takes a byte), two for 16-bit
    grey, and four for everything else (RGB is kept as RGBX, LA in four bytes too)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _shrink_mode(im: Image.Image) -> str:
    """The mode the derivative is shrunk in: 8-bit RGB or grey (what JPEG takes), with alpha if the image has any
    (laid on white once shrunk). Anything else (1-bit, palette, 16-bit, CMYK) is converted to it at full size
    first: Pillow shrinks 1-bit and palette images by picking pixels (nearest neighbour)."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        return "LA" if im.mode in ("L", "LA") else "RGBA"
    return im.mode if im.mode in ("RGB", "L") else "RGB"


def decode_bytes(im: Image.Image, *, display_px: int, full_size: tuple[int, int] | None = None) -> int:
    """Upper bound, in bytes, of the memory that decoding ``im`` and making its derivatives holds at once, from
    its header alone (after ``draft``): the decoded image in its own mode, the decoder's buffer, the full-size
    conversion (if any), the premultiplied copy Pillow shrinks an image with alpha in, the reduced image and the
    display-size copies. ``full_size`` is a drafted JPEG's size before ``draft``."""
    w, h = im.size
    pixels = w * h
    total = pixels * (pixel_bytes(im.mode) + DECODER_BYTES_PER_PIXEL.get(im.format, 0))
    if im.format in ("JPEG", "MPO") and im.info.get("progressive"):
        # libjpeg keeps every DCT coefficient (2 bytes) of a progressive JPEG at full size, whatever the draft scale:
        # per pixel, one for each component at its sampling (1.5 for 4:2:0 YCbCr).
        full_w, full_h = full_size or im.size
        sampling = [(h, v) for _, h, v, _ in getattr(im, "layer", [])] or [(1, 1)] * len(im.getbands())
        most = max(h for h, _ in sampling) * max(v for _, v in sampling)
        total += full_w * full_h * 2 * sum(h * v for h, v in sampling) // most
    mode = _shrink_mode(im)
    if mode != im.mode:
        total += pixels * pixel_bytes(mode)
    if mode in ("RGBA", "LA"):
        total += pixels * 4  # resized premultiplied (RGBa, La): a full-size copy
    target_w, target_h = _fit(im.size, display_px)
    # Image.thumbnail first reduces by whole factors (reducing_gap 2) when the image is over twice the target.
    factor_x, factor_y = max(1, int(w / target_w / 2)), max(1, int(h / target_h / 2))
    if factor_x > 1 or factor_y > 1:
        total += -(-w // factor_x) * -(-h // factor_y) * pixel_bytes(mode)
    return total + DISPLAY_COPIES * display_px * display_px * 4 + CODEC_BYTES


def check_head(head: bytes) -> None:
    """What ``process_photo`` would refuse from a file's first bytes alone, for an upload that has sent only those yet.

    ``head`` is the file's first ``SNIFF_BYTES`` (all of it when shorter). Raises ``UnsupportedContent`` when it
    starts with no signature of an accepted format, or carries markup a browser would sniff; the same codes as
    ``process_photo`` gives the whole file.
    """
    if MARKUP.search(head[:SNIFF_BYTES]):
        raise polyglot() if _signature(head) else unsupported()
    if not _signature(head):
        raise unsupported()


def _content_type(im: Image.Image, data: bytes) -> str:
    if im.format == "HEIF":
        return "image/heic" if data[8:12] in HEIC_BRANDS else "image/heif"
    return CONTENT_TYPES[im.format]


def _signature(data: bytes) -> str | None:
    """The allowed format whose magic bytes ``data`` starts with, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


def _check_container_end(content_type: str, data: bytes) -> None:
    """PNG, WebP and HEIF say where they end. Ending earlier is a truncated file (422: libheif, for one, fills
    missing tiles with green instead of failing); going on after the end is another file riding along (a polyglot).

    JPEG is left to its decoder: phones legitimately append data after the image (MPO frames, motion-photo
    videos, vendor trailers).
    """
    if content_type == "image/png" and not data.endswith(PNG_IEND):
        raise polyglot() if PNG_IEND in data else corrupt()
    if content_type == "image/webp":
        end = 8 + int.from_bytes(data[4:8], "little")
        if len(data) != end:
            raise polyglot() if len(data) > end else corrupt()
    if content_type in ("image/heic", "image/heif"):
        box = offset = 0
        while offset + 8 <= len(data):  # top-level ISO BMFF boxes: 32-bit size (1: 64-bit follows; 0: to the end)
            box, size = offset, int.from_bytes(data[offset : offset + 4], "big")
            if size == 1:
                size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            elif size == 0:
                size = len(data) - offset
            if size < 8:
                break
            offset += size
        if offset > len(data):
            raise polyglot() if MARKUP.search(data[box:]) else corrupt()
        if offset < len(data):
            raise polyglot()


def _metadata_text(im: Image.Image):
    """(pattern, bytes) for every text a client controls inside the file, with the markup pattern it is checked
    against: XMP (JPEG APP1, PNG iTXt, WebP and HEIF boxes), JPEG comments, PNG text chunks, IPTC, HEIF metadata
    items and every EXIF string (UserComment and the UTF-16 XP* tags decoded). Binary blobs (ICC profiles, maker
    notes, thumbnails) are not text and are left alone."""
    for key, value in im.info.items():
        if key in ("exif", "icc_profile", "mp", "mpoffset", "transparency"):
            continue
        if isinstance(value, str):
            value = value.encode("utf-8", "replace")
        if isinstance(value, bytes):
            yield (XMP_MARKUP if key in XMP_KEYS else TEXT_MARKUP), value
    extended = []  # extended XMP (Google's depth maps, motion photos): one packet cut into APP1 segments
    for marker, segment in getattr(im, "applist", []):
        if marker == "COM":
            yield TEXT_MARKUP, segment
        elif marker == "APP1" and segment.startswith(XMP_EXTENSION):
            # namespace, a 32-digit GUID, the packet's length and this piece's offset (4 bytes each), the piece
            start = len(XMP_EXTENSION) + 32
            extended.append((int.from_bytes(segment[start + 4 : start + 8], "big"), segment[start + 8 :]))
    if extended:
        yield XMP_MARKUP, b"".join(piece for _, piece in sorted(extended))
    for item in im.info.get("metadata") or []:  # pillow-heif: the HEIF file's other metadata items
        if isinstance(item, dict) and isinstance(item.get("data"), bytes):
            yield (XMP_MARKUP if "xml" in str(item.get("content_type", "")) else TEXT_MARKUP), item["data"]
    if im.format in ("JPEG", "MPO"):
        try:
            iptc = IptcImagePlugin.getiptcinfo(im) or {}
        except Exception:  # unreadable IPTC is no text
            iptc = {}
        for value in iptc.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, bytes):
                    yield TEXT_MARKUP, text
    for text in _exif_strings(im):
        yield TEXT_MARKUP, text


def _exif_strings(im: Image.Image):
    """The string values of every EXIF IFD (0, Exif, GPS, Interop, 1), as bytes. What does not parse is skipped:
    ``read_exif`` has flagged it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exif = im.getexif()
        except Exception:  # flagged by read_exif
            return
        ifds = [exif]
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop, ExifTags.IFD.IFD1):
            try:
                ifds.append(exif.get_ifd(ifd))
            except Exception:  # flagged by read_exif
                continue
    for values in ifds:
        for tag, value in values.items():
            if isinstance(value, str):
                yield value.encode("utf-8", "replace")
            elif isinstance(value, bytes) and tag in XP_TAGS:
                yield value.decode("utf-16-le", "replace").encode("utf-8", "replace")
            elif isinstance(value, bytes) and tag == USER_COMMENT:
                code, text = value[:8], value[8:]
                if code.startswith(b"UNICODE"):
                    for encoding in ("utf-16-le", "utf-16-be"):
                        yield text.decode(encoding, "replace").encode("utf-8", "replace")
                else:
                    yield text


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its longest side is at most ``longest``."""
    w, h = size
    scale = min(1.0, longest / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _derivative(im: Image.Image, longest: int, orientation: int | None) -> Image.Image:
    """Shrink first, then turn upright (exif_transpose after thumbnail: rotating a full-size image costs a full
    decode), then convert to sRGB and drop every piece of metadata. Shrinks ``im`` in place: the full-size pixels
    are not needed again, and copying them costs as much as a resize. Images with alpha are shrunk with it and
    laid on white at the display size, not at full size."""
    icc = im.info.get("icc_profile")
    mode = _shrink_mode(im)
    out = im if mode == im.mode else im.convert(mode)
    if out is not im:
        im.close()  # the full-size original is not needed again: free it before the shrink allocates
    out.thumbnail((longest, longest), resample=RESAMPLE)
    if out.mode not in ("RGB", "L"):
        out = _rgb(out)
    # exif_transpose sees only the orientation that read_exif accepted, never the client's whole EXIF block.
    out.info = {}
    if orientation and orientation != 1:
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        out.info["exif"] = exif.tobytes()
        out = ImageOps.exif_transpose(out)
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "sRGB" not in ImageCms.getProfileDescription(profile):
                out = ImageCms.profileToProfile(out, profile, SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # an unreadable colour profile: keep the pixels as they are
    out.info = {}
    return out


def _rgb(im: Image.Image) -> Image.Image:
    """RGB for JPEG output; transparent areas become white."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        out = Image.new("RGB", im.size, "white")
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# --- EXIF ---------------------------------------------------------------------------------------------------------

_EXIF_TIME = "%Y:%m:%d %H:%M:%S"
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
# (time tag, its IFD, offset tag, subsecond tag): the first time present wins.
_B = ExifTags.Base
_TIME_TAGS = (
    (_B.DateTimeOriginal, ExifTags.IFD.Exif, _B.OffsetTimeOriginal, _B.SubsecTimeOriginal),
    (_B.DateTimeDigitized, ExifTags.IFD.Exif, _B.OffsetTimeDigitized, _B.SubsecTimeDigitized),
    (_B.DateTime, None, _B.OffsetTime, _B.SubsecTime),
)


def read_exif(im: Image.Image, default_tz: tzinfo) -> ExifFacts:
    """Read time, GPS (WGS-84), camera and orientation. Never raises: what does not parse is named in ``invalid`` and
    left out. Decodes no pixels, except a PNG's: Pillow reads those to find an eXIf chunk after them.

    Pillow reads a damaged block leniently (it warns, and skips what it cannot read): its warnings, and sub-IFD
    pointers that lead outside the block, back into the header or onto another IFD (a loop), make that IFD invalid
    and nothing of it is used.
    """
    facts = ExifFacts()
    try:
        exif = im.getexif()
        raw = im.info.get("exif")
        if isinstance(raw, bytes) and raw:
            # Parsed afresh, so that Pillow's warnings about the block are heard here rather than lost at open.
            with warnings.catch_warnings(record=True) as complaints:
                warnings.simplefilter("always")
                exif = Image.Exif()
                exif.load(raw)
            if complaints:
                facts.invalid.append("exif")
    except Exception:  # any failure in a client-written EXIF block only flags the photo
        facts.invalid.append("exif")
        return facts
    facts.present = bool(im.info.get("exif")) or len(exif) > 0
    if not facts.present:
        return facts
    ifds = {None: exif}
    for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
        try:
            with warnings.catch_warnings(record=True) as complaints:
                warnings.simplefilter("always")
                ifds[ifd] = exif.get_ifd(ifd)
            if complaints or not _pointer_ok(exif, ifd, raw):
                raise ValueError(f"malformed {ifd.name} IFD")
        except Exception:  # the same: flag, never fail
            facts.invalid.append(ifd.name)
            ifds[ifd] = {}
    for reader in (_read_time, _read_gps, _read_camera, _read_orientation):
        try:
            reader(facts, ifds, im, default_tz)
        except Exception:  # the same: flag, never fail
            facts.invalid.append(reader.__name__.removeprefix("_read_"))
    return facts


def _pointer_ok(exif: Image.Exif, ifd: ExifTags.IFD, raw) -> bool:
    """Whether IFD0's pointer to ``ifd`` (if any) leads into the block, past its header, and to an IFD of its own."""
    pointer = exif.get(ifd.value)
    if pointer is None or not isinstance(raw, bytes):
        return True
    head = getattr(exif, "head", b"")
    if not isinstance(pointer, int) or len(head) < 8:
        return False
    ifd0 = int.from_bytes(head[4:8], "little" if head[:2] == b"II" else "big")
    others = {ifd0} | {exif.get(other.value) for other in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo) if other != ifd}
    size = len(raw) - (6 if raw.startswith(b"Exif\x00\x00") else 0)
    return 8 <= pointer < size and pointer not in others


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).replace("\x00", "").strip() if value is not None else ""


def _read_time(facts, ifds, im, default_tz):
    for tag, ifd, offset_tag, subsec_tag in _TIME_TAGS:
        raw = _text(ifds[ifd].get(tag))
        if not raw or raw.strip("0: ") == "":  # absent, blank or all zeros: the camera did not know
            continue
        naive = datetime.strptime(raw[:19], _EXIF_TIME)  # noqa: DTZ007 - the zone is attached below
        subsec = _text(ifds[ExifTags.IFD.Exif].get(subsec_tag))
        if subsec.isdigit():
            naive = naive.replace(microsecond=int(subsec[:6].ljust(6, "0")))
        offset = _OFFSET.match(_text(ifds[ExifTags.IFD.Exif].get(offset_tag)))
        if offset:
            sign, hours, minutes = offset.groups()
            facts.offset_min = (1 if sign == "+" else -1) * (int(hours) * 60 + int(minutes))
            taken_at = naive.replace(tzinfo=timezone(timedelta(minutes=facts.offset_min)))
        else:
            taken_at = naive.replace(tzinfo=default_tz)
        if not EARLIEST_TIME <= taken_at < LATEST_TIME:
            facts.offset_min = None
            raise ValueError(f"time out of range: {raw!r}")
        facts.taken_at = taken_at
        return


def _dms(value, ref, positive: str, negative: str, limit: float) -> float:
    degrees, minutes, seconds = (float(v) for v in value)
    decimal = degrees + minutes / 60 + seconds / 3600
    ref = _text(ref).upper()
    if ref not in (positive, negative) or not 0 <= decimal <= limit or min(degrees, minutes, seconds) < 0:
        raise ValueError(f"bad GPS value {value!r} {ref!r}")
    return -decimal if ref == negative else decimal


def _read_gps(facts, ifds, im, default_tz):
    gps = ifds[ExifTags.IFD.GPSInfo]
    G = ExifTags.GPS
    if G.GPSLatitude in gps or G.GPSLongitude in gps:
        lat = _dms(gps.get(G.GPSLatitude), gps.get(G.GPSLatitudeRef), "N", "S", 90)
        lon = _dms(gps.get(G.GPSLongitude), gps.get(G.GPSLongitudeRef), "E", "W", 180)
        if (lat, lon) != (0.0, 0.0):  # 0/0 is what some phones write when they have no fix
            facts.lat, facts.lon = lat, lon
    if G.GPSAltitude in gps:
        alt = float(gps[G.GPSAltitude])
        if not -1000 <= alt <= 20000:
            raise ValueError(f"bad GPS altitude {alt!r}")
        facts.alt_m = -alt if gps.get(G.GPSAltitudeRef) in (1, b"\x01") else alt


# The photo row's camera column (agri.models.Photo.camera) is this wide.
CAMERA_MAX_LENGTH = 200


def camera_name(make: str, model: str) -> str:
    """The camera as "Make Model" (just the model when it starts with the make), cut to ``CAMERA_MAX_LENGTH``: the EXIF
    strings are the client's and may be of any length."""
    name = model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return name[:CAMERA_MAX_LENGTH].strip()


def _read_camera(facts, ifds, im, default_tz):
    facts.camera = camera_name(_text(ifds[None].get(ExifTags.Base.Make)), _text(ifds[None].get(ExifTags.Base.Model)))


def _read_orientation(facts, ifds, im, default_tz):
    # pillow-heif resets the EXIF tag to 1 once it has rotated the image; the camera's value is kept apart.
    value = im.info.get("original_orientation") or ifds[None].get(ExifTags.Base.Orientation)
    if value is None:
        return
    if value not in range(1, 9):
        raise ValueError(f"bad orientation {value!r}")
    facts.orientation = int(value)
