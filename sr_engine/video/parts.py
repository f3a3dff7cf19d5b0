"""The finished segments of a clip being upscaled (`Parts`), kept so that an interrupted run
(Ctrl-C, a killed worker, a power cut) resumes after the last finished segment instead of
starting again at frame 0.

A parts folder holds one small MP4 per segment, its video only (the audio and subtitles are
copied from the source when the segments are joined), and `manifest.json`, rewritten
atomically once a segment file is complete: a segment is finished exactly when the manifest
lists it, and anything else in the folder (a segment cut short by a kill) is removed on
opening. The manifest's `key` says which run made the segments (source file, model,
settings); parts made by another run are discarded, never mixed into a clip.

Each segment's timestamps start at 0 (its first frame's source timestamp is recorded as
`first_pts`): MP4 edit lists round a non-zero start to the movie's millisecond timescale,
which would move every frame of a 1/30000 time base by a few ticks.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST = "manifest.json"


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
        if not parts.segments:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        listed = {MANIFEST, *(s.file for s in parts.segments)}
        for stray in folder.iterdir():  # a segment cut short, a manifest half-written
            if stray.name not in listed:
                stray.unlink()
        return parts

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def last_pts(self) -> int | None:
        """The source timestamp of the last finished frame (None before the first)."""
        return self.segments[-1].last_pts if self.segments else None

    def next_file(self) -> Path:
        return self.folder / f"segment-{len(self.segments):05d}.mp4"

    def add(self, segment: Segment) -> None:
        """Record a complete segment file; from here on a resumed run keeps it."""
        self.segments.append(segment)
        tmp = self.folder / f".{MANIFEST}"
        tmp.write_text(json.dumps({"key": self.key,
                                   "segments": [asdict(s) for s in self.segments]}))
        os.replace(tmp, self.folder / MANIFEST)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


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
