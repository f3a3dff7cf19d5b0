"""Video: probe a clip (`sr_engine.video.io`), and upscale it frame by frame through the image
path with every other stream (audio, subtitles) copied as it is (`sr_engine.video.upscale`).
PyAV (FFmpeg bundled in its wheels) decodes, encodes and muxes.

This module imports neither PyAV nor torch: the CLI asks `is_video` before loading either.
"""

from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm")


def is_video(path: str | Path) -> bool:
    """Is `path` a clip, by its extension?"""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
