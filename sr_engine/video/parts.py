"""The finished segments of a clip being upscaled (`Parts`), kept so that an interrupted run
(Ctrl-C, a killed worker, a power cut) resumes after the last finished segment instead of
starting again at frame 0.

A parts folder holds one small MP4 per segment, its video only (the audio and subtitles are
copied from the source when the segments are joined), and `manifest.json`, rewritten
atomically once a segment file is complete: a segment is finished exactly when the manifest
lists it, and anything else in the folder (a segment cut short by a kill) is removed on
opening. Only those files are ever removed (a folder named by the caller may hold others).
The manifest's `key` says which run made the segments (source file, model,
settings); parts made by another run are discarded, never mixed into a clip.

Each segment's timestamps start at 0 (its first frame's source timestamp is recorded as
`first_pts`): MP4 edit lists round a non-zero start to the movie's millisecond timescale,
which would move every frame of a 1/30000 time base by a few ticks.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from sr_engine.paths import atomic_write_text

MANIFEST = "manifest.json"
_SEGMENT = re.compile(r"segment-\d{5}\.mp4")


@dataclass(frozen=True)
class Segment:
    """A finished segment: its file in the parts folder, the source timestamp of its first and
    last frames (in the video stream's time base) and its frame count."""

    file: str
    first_pts: int
    last_pts: int
    frames: int


class Parts:
    """A parts folder for one run, identified by `key`."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder, self.key = folder, key
        self.segments: list[Segment] = []

    @classmethod
    def open(cls, folder: Path, key: str) -> Parts:
        """The folder's finished segments when an earlier run with the same key left them;
        otherwise (none, another run's, or an unreadable manifest) an empty folder."""
        parts = cls(folder, key)
        try:
            data = json.loads((folder / MANIFEST).read_text())
            if data.get("key") == key:
                parts.segments = [Segment(**s) for s in data["segments"]]
        except (OSError, ValueError, TypeError, KeyError):
            pass
        if not all((folder / s.file).is_file() for s in parts.segments):
            parts.segments = []
        folder.mkdir(parents=True, exist_ok=True)
        listed = {s.file for s in parts.segments}
        for ours in _own_files(folder):  # a segment cut short, another run's, a stale manifest
            if ours.name not in listed:
                ours.unlink()
        return parts

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def last_pts(self) -> int | None:
        """The source timestamp of the last finished frame (None before the first)."""
        return self.segments[-1].last_pts if self.segments else None

    def next_file(self) -> Path:
        # Numbered on from the last finished one: a segment cut short is written over.
        return self.folder / f"segment-{len(self.segments):05d}.mp4"

    def add(self, segment: Segment) -> None:
        """Record a complete segment file; from here on a resumed run keeps it."""
        self.segments.append(segment)
        atomic_write_text(self.folder / MANIFEST, json.dumps(
            {"key": self.key, "segments": [asdict(s) for s in self.segments]}))

    def remove(self) -> None:
        """Delete the segments and the manifest, and the folder if nothing else is in it."""
        for ours in _own_files(self.folder):
            ours.unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def _own_files(folder: Path) -> list[Path]:
    """The files a parts folder's runs write: segments, the manifest and its temp files."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and (
        _SEGMENT.fullmatch(p.name) or p.name == MANIFEST or p.name.startswith(f".{MANIFEST}"))]


def newest_segment(folder: Path) -> Path | None:
    """The latest finished segment in a parts folder (for a preview of a running job), or
    None. Read only: the running upscale owns the folder, and may rewrite the manifest at any
    moment (atomically, so it is read whole or not at all)."""
    try:
        name = json.loads((folder / MANIFEST).read_text())["segments"][-1]["file"]
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return None
    path = folder / name
    return path if path.is_file() else None
