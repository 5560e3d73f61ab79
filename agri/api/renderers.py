"""Renderers, parsers and format negotiation for the whole API.

One JSON renderer (orjson, byte-compatible with DRF's); GeoJSON is the same renderer under its own media type.
Files that a view writes itself (xlsx, csv, GIS formats, PNG, ZIP) are named by a :class:`DownloadRenderer`, so
that ``?format=`` can choose them and the schema can list them, while errors stay JSON.

Bodies are parsed by orjson too, with their nesting bounded, and no parser lets a NUL character through.
"""

import codecs
import json
import re

import orjson
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import parsers, renderers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.utils import encoders

from agri.api.exceptions import NulCharacter

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Dates, datetimes and times are orjson's own: with "Z" for UTC they are the strings DRF's encoder writes (ISO 8601,
# microseconds kept), except an offset with seconds (a historical local mean time), which orjson rounds to the
# minute. Dataclasses go through DRF's encoder. Keys that are not strings are stringified as json does; orjson is
# twice as fast without that option, so it is only asked for when a dict has such a key (the first attempt fails).
_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS
_ORJSON_NON_STR_KEYS = _ORJSON_OPTIONS | orjson.OPT_NON_STR_KEYS
_ENCODER = encoders.JSONEncoder()
# U+2028 and U+2029 in UTF-8: one pass over the body finds either.
_LINE_SEPARATORS = re.compile(b"\xe2\x80[\xa8\xa9]")


def _json_default(obj):
    """What orjson does not know natively (lazy translations, Decimals, dataclasses, ...), as DRF's encoder
    converts it."""
    return _ENCODER.default(obj)


def _dumps(data) -> bytes:
    """``data`` as compact JSON, the bytes DRF's renderer writes (see the options above)."""
    try:
        return orjson.dumps(data, default=_json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:  # a key that is not a string (or a value nothing can encode: raised again)
        return orjson.dumps(data, default=_json_default, option=_ORJSON_NON_STR_KEYS)


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, with orjson doing the work (about 10x faster than ``json.dumps`` on large pages).

    The output is the same JSON: compact separators, UTF-8 rather than ASCII escapes, U+2028/U+2029 escaped.
    Pretty-printed output (the browsable API, ``; indent=``) and non-default JSON settings go to DRF's renderer.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            data is None
            or self.ensure_ascii
            or not self.compact
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        out = _dumps(data)
        if _LINE_SEPARATORS.search(out):
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out


class GeoJSONRenderer(JSONRenderer):
    media_type = "application/geo+json"
    format = "geojson"


class DownloadRenderer(renderers.BaseRenderer):
    """Names a file format for ``?format=``; the view writes the file itself, so this never renders."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("the view returns the file itself")


def download_renderer(fmt: str, media_type: str) -> type[DownloadRenderer]:
    return type(f"{fmt.capitalize()}DownloadRenderer", (DownloadRenderer,), {"format": fmt, "media_type": media_type})


XLSXRenderer = download_renderer("xlsx", XLSX_MEDIA_TYPE)
CSVRenderer = download_renderer("csv", "text/csv")
PNGRenderer = download_renderer("png", "image/png")


class QueryFormatNegotiation(DefaultContentNegotiation):
    """``?format=`` picks the renderer, the first one by default; an unknown format is a 400."""

    def select_renderer(self, request, renderers, format_suffix=None):
        fmt = request.query_params.get("format")
        if not fmt:
            return renderers[0], renderers[0].media_type
        for renderer in renderers:
            if renderer.format == fmt:
                return renderer, renderer.media_type
        choices = ", ".join(r.format for r in renderers)
        raise ValidationError({"format": [_("Use one of: %(choices)s.") % {"choices": choices}]}, code="invalid")


class FirstRendererNegotiation(BaseContentNegotiation):
    """The URL names the format: an Accept header cannot turn map.png into something else."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return None


# The deepest body the API takes is a batch of visits or a MultiPolygon parcel (6 levels); 32 leaves room, and stops
# a body of a thousand nested arrays before anything recurses through it (json and DRF would raise RecursionError).
MAX_JSON_DEPTH = 32
# 19 digits in a row: an integer that may not fit in 64 bits (or a long number inside a string, read again harmlessly).
LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _refuse_constant(name: str):
    raise ParseError(_("The body is not valid JSON."))


def json_parse_error(exc: json.JSONDecodeError) -> ParseError:
    """A ``parse_error`` saying where the JSON went wrong, all in the caller's language: the parser's own words
    (orjson's, in English) stay out of the message."""
    return ParseError(
        _("The body is not valid JSON (line %(line)d, column %(column)d).") % {"line": exc.lineno, "column": exc.colno}
    )


def check_parsed(value, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a parsed body nested deeper than ``max_depth`` or holding a NUL character in any key or string.
    Iterative: the check itself cannot run out of stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise ParseError(_("The JSON body nests deeper than %(n)d levels.") % {"n": max_depth})
            for key, child in item.items():
                if "\x00" in key:
                    raise NulCharacter()
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise ParseError(_("The JSON body nests deeper than %(n)d levels.") % {"n": max_depth})
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and "\x00" in item:
            raise NulCharacter()


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with orjson doing the work: strict JSON (no NaN or Infinity), UTF-8 (another declared
    charset is decoded first), nesting bounded by ``MAX_JSON_DEPTH`` and no NUL character (``parse_error`` and
    ``nul_character``, 400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            if codecs.lookup(encoding).name != "utf-8":
                data = data.decode(encoding).encode("utf-8")
        except LookupError as exc:  # Django drops an unknown charset before this; a caller's context may not
            raise ParseError(_("The body's charset %(charset)s is unknown.") % {"charset": encoding}) from exc
        except UnicodeError as exc:
            raise ParseError(_("The body is not valid %(charset)s text.") % {"charset": encoding}) from exc
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise json_parse_error(exc) from exc
        check_parsed(value)
        if LONG_DIGITS.search(data):
            # orjson reads an integer beyond 64 bits as a float: such a body (rare: no field of the API needs one)
            # is read again by the standard library, which keeps it an integer, so that an id of 28 digits is an id
            # that names no row and a count of 30 digits is out of range, as the schema (no integer bound) lets
            # them be. The nesting is already known to be shallow.
            value = json.loads(data, parse_constant=_refuse_constant)
        return value


def _check_form(data) -> None:
    for key, values in data.lists():
        if "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values):
            raise NulCharacter()


class FormParser(parsers.FormParser):
    """DRF's form parser; no NUL character in a key or value."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; no NUL character in a field's name or value (files are bytes, checked elsewhere)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except ParseError as exc:  # DRF's message ends in Django's own words, in English
            raise ParseError(_("The body is not valid multipart/form-data.")) from exc
        _check_form(parsed.data)
        return parsed
