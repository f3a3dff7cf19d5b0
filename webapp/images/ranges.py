"""Byte ranges (RFC 9110 §14) for served media files.

Browsers fetch video in ranges and seek with them: Chromium does not seek at all in a file
whose server ignores `Range` (setting `currentTime` jumps back to 0), so the synced players
on a result page need this. Django's FileResponse sends whole files only; this turns a 200
FileResponse into a 206 of the asked range (one range; a multi-range request gets the whole
file, which RFC 9110 allows) or a 416 when the range is outside the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import wraps
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024
_KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control",
                 "X-Content-Type-Options")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range within `size`; None for a header this
    does not serve (malformed, several ranges); ValueError when it is unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def _slice(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def ranged(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """`response` answered for the request's Range header, when it is a whole-file 200."""
    if not isinstance(response, FileResponse) or response.status_code != 200:
        return response
    response["Accept-Ranges"] = "bytes"
    header = request.headers.get("Range")
    if not header or "Content-Length" not in response:
        return response
    size = int(response["Content-Length"])
    try:
        span = parse_range(header, size)
    except ValueError:
        response.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    if span is None:
        return response
    start, end = span
    partial = StreamingHttpResponse(_slice(response.file_to_stream, start, end - start + 1),
                                    status=206)
    for name in _KEPT_HEADERS:
        if name in response:
            partial[name] = response[name]
    partial["Accept-Ranges"] = "bytes"
    partial["Content-Range"] = f"bytes {start}-{end}/{size}"
    partial["Content-Length"] = str(end - start + 1)
    return partial


def byte_ranges(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """View decorator: file responses answer Range requests (see `ranged`)."""
    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return ranged(request, view(request, *args, **kwargs))
    return wrapped
