"""A stored file served with HTTP ranges (RFC 9110 §14): ``Range: bytes=first-last`` answers 206 with that slice,
an unsatisfiable range 416, anything else (no Range, several ranges, an ``If-Range`` that does not match) the whole
file. Django's ``FileResponse`` and WhiteNoise (static files only) do not do this for files of a storage.

On S3 the slice is read with a ranged GET of the object; on the filesystem by seeking. The answer is never compressed
(``agri.middleware``): a range counts the bytes of the file as stored, which a compressed body would not be.
"""

import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from agri.middleware import never_compress

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK_BYTES = 64 * 1024


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The ``(first, last)`` bytes (inclusive) a ``Range`` header asks of a ``size``-byte file; ``None`` for the
    whole file (no header, or one this server may ignore: another unit, several ranges, bad syntax); ``False`` when
    the range lies outside the file (416)."""
    if not header:
        return None
    match = RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return False
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # not a valid range: ignored
    if first >= size:
        return False
    return first, size - 1 if last_text == "" else min(int(last_text), size - 1)


def ranged_file_response(request, storage, name: str, *, size: int, content_type: str, filename: str, etag: str):
    """The file ``name`` of ``storage`` (``size`` bytes, never rewritten: ``etag`` is strong) as an attachment,
    honouring ``Range`` and ``If-Range``."""
    header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if header and if_range and if_range.strip() != etag:
        header = None  # the client's copy is another file: send this one whole
    wanted = byte_range(header, size)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": content_disposition_header(True, filename),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if wanted is False:
        return never_compress(HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"}))
    if wanted is None:
        response = FileResponse(storage.open(name, "rb"), content_type=content_type)
        for key, value in headers.items():
            response[key] = value
        response["Content-Length"] = str(size)
        return never_compress(response)
    first, last = wanted
    response = StreamingHttpResponse(read_slice(storage, name, first, last), status=206, content_type=content_type)
    for key, value in headers.items():
        response[key] = value
    response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(last - first + 1)
    return never_compress(response)


def read_slice(storage, name: str, first: int, last: int):
    """Bytes ``first``..``last`` (inclusive) of a stored file, a block at a time."""
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:  # django-storages' S3: a ranged GET, not the whole object
        body = bucket.Object(storage._normalize_name(name)).get(Range=f"bytes={first}-{last}")["Body"]
        try:
            yield from body.iter_chunks(BLOCK_BYTES)
        finally:
            body.close()
        return
    remaining = last - first + 1
    with storage.open(name, "rb") as file:
        file.seek(first)
        while remaining > 0:
            block = file.read(min(BLOCK_BYTES, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
