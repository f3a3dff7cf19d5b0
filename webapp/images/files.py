"""Serving stored files: views decide who may see a file, this module only streams it."""

from __future__ import annotations

from pathlib import Path

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

from webapp.images.models import Result, Upload

RESULT_FILES = ("output", "bicubic", "download", "input", "poster")
UPLOAD_FILES = ("original", "thumb")


def _stream(field: FieldFile, *, download_name: str | None = None) -> FileResponse:
    if not field:
        raise Http404("no such file")
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("no such file") from None
    response = FileResponse(handle, as_attachment=download_name is not None,
                            filename=download_name or Path(field.name).name)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def result_file_response(result: Result, which: str) -> FileResponse:
    """`output` (browser-viewable: the preview when the output is TIFF), `bicubic`, `download`;
    for a video: `output` (the clip), `input` (the uploaded clip, for the players side by
    side), `poster` (a frame of the output), `download`."""
    if result.upload.is_video and which in ("output", "input", "poster"):
        field = {"output": result.output, "input": result.upload.original,
                 "poster": result.preview}[which]
        return _stream(field)
    if which == "output":
        return _stream(result.preview or result.output)
    if which == "bicubic":
        return _stream(result.bicubic)
    if which == "download":
        stem = Path(result.upload.name).stem
        suffix = Path(result.output.name).suffix
        return _stream(result.output,
                       download_name=f"{stem}_x{result.scale}_{result.model}{suffix}")
    raise Http404("no such file")


def upload_file_response(upload: Upload, which: str) -> FileResponse:
    if which == "original":
        return _stream(upload.original, download_name=upload.name)
    if which == "thumb":
        return _stream(upload.thumbnail)
    raise Http404("no such file")
