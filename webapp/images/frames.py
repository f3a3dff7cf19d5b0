"""Still frames of clips for pages: an uploaded video's thumbnail, the preview frame a running
video job shows, and a finished one's poster.

PyAV decodes here because the engine has no call that hands back a frame as a picture; only
ever one frame is decoded and it is kept only as a small JPEG. A frame is a nicety: a clip
that cannot give one yields False, never an error in the request or the job.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import av
from PIL import Image

log = logging.getLogger(__name__)
# In a video job's result folder: the preview while it runs, the output's poster once done.
FRAME = "frame.jpg"
PARTS = "parts"  # the engine's finished segments (sr_engine.video.parts)


def save_frame(src: Path, dst: Path, *, size: int = 480, rotation: int | None = None) -> bool:
    """The first video frame of `src` as a JPEG at most `size` pixels a side, displayed as
    players show it (the display rotation applied: `rotation`, else the file's own), written
    atomically (pages may be reading the previous one). False when there is no frame."""
    try:
        with av.open(str(src)) as container:
            frame = next(container.decode(video=0), None)
            if frame is None:
                return False
            image = frame.to_image()
            if rotation is None:
                rotation = round(frame.rotation or 0) % 360
    except (av.FFmpegError, OSError, StopIteration) as exc:
        log.info("no frame from %s: %s", src.name, exc)
        return False
    if rotation:  # the display matrix turns the picture counter-clockwise, as PIL does
        image = image.rotate(rotation, expand=True)
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    tmp = dst.with_name(f".{dst.name}.tmp")
    image.save(tmp, format="JPEG", quality=85)
    os.replace(tmp, dst)
    return True
