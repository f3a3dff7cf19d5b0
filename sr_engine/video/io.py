"""What a clip holds (`probe`), read without decoding its frames; errors as VideoError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from sr_engine.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """A clip's first video stream and what else it carries. `frames` is the container's
    count (0 when it does not say); `fps` the average frame rate."""

    width: int
    height: int
    codec: str
    pix_fmt: str
    fps: float
    frames: int
    duration_s: float
    rotation: int  # counter-clockwise degrees of the display matrix (0 when none)
    # FFmpeg's AVColorSpace / AVColorRange / primaries / transfer codes of the first frame
    # (2 / 0 / 2 / 2: unspecified).
    colorspace: int = 2
    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    others: list[str] = field(default_factory=list)  # "audio aac", "subtitle mov_text", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def opened(path: Path, mode: str = "r", **kwargs: Any) -> Iterator[av.container.Container]:
    """av.open with FFmpeg's errors as one-line VideoErrors naming the file."""
    try:
        container = av.open(str(path), mode, **kwargs)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path.name}: cannot open as a video ({reason(exc)})") from None
    try:
        yield container
    finally:
        container.close()


def reason(exc: BaseException) -> str:
    """FFmpeg's one-line reason, without the file names PyAV appends (temp files included)."""
    return getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__


def probe(path: str | Path, *, max_pixels: int | None = None, scale: int = 1) -> VideoInfo:
    """The clip's streams, size, rate, frame count, duration and rotation. A declared frame
    size that makes frames over `max_pixels` once upscaled by `scale` is refused before any
    frame is decoded (the first one is, for the rotation and colour tags FFmpeg puts on
    frames)."""
    path = Path(path)
    with opened(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoError(f"{path.name}: the video stream declares no frame size")
        w, h = ctx.width * scale, ctx.height * scale
        if max_pixels is not None and w * h > max_pixels:
            made = f" x{scale} makes frames of {w}x{h}" if scale > 1 else " frames are"
            raise VideoError(f"{path.name}: {ctx.width}x{ctx.height}{made} over the "
                             f"{max_pixels:,}-pixel limit")
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration = _duration(container, stream)
        others = [f"{s.type} {codec_name(s)}" for s in container.streams if s is not stream]
        first = _first_frame(container, path)
        return VideoInfo(width=ctx.width, height=ctx.height, codec=codec_name(stream),
                         pix_fmt=ctx.pix_fmt or "", fps=float(rate), frames=stream.frames,
                         duration_s=duration, rotation=round(first.rotation) % 360,
                         colorspace=int(first.colorspace), color_range=int(first.color_range),
                         color_primaries=int(first.color_primaries),
                         color_trc=int(first.color_trc), others=others)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """The video stream's seconds: its own duration, Matroska's per-track DURATION tag, or
    (neither known) the container's, which audio may make longer."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION", "")
    try:
        h, m, sec = tag.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return container.duration / av.time_base if container.duration else 0.0


def codec_name(stream: av.stream.Stream) -> str:
    """The codec's own name ("av1"), not its decoder's ("libdav1d"); "?" for attachments."""
    ctx = stream.codec_context
    return ctx.codec.canonical_name if ctx is not None else "?"


def _first_frame(container: av.container.InputContainer, path: Path) -> av.VideoFrame:
    """FFmpeg puts the display matrix and colour tags on decoded frames: the first frame is
    decoded (one frame, whatever the clip's length)."""
    try:
        frame = next(container.decode(video=0), None)
    except av.FFmpegError as exc:
        raise VideoError(f"{path.name}: cannot decode its first frame ({reason(exc)})") \
            from None
    if frame is None:
        raise VideoError(f"{path.name}: no video frame could be decoded")
    return frame
