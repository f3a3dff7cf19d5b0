"""Video uploads: the check at upload (a real probe of the file, before anything is queued),
the deployment's video limits, and the engine configs a video upscale stores in `Job.params`.

A clip is recognised by its extension (`sr_engine.video.is_video`), so a video never goes
through the image checks (Pillow, EXIF); what the file really holds is then the probe's word:
a file that is not a clip, a corrupt one or one without a video stream is refused with the
engine's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from sr_engine.errors import ConfigError, VideoError
from sr_engine.video.config import CODECS, VideoConfig
from sr_engine.video.io import probe
from webapp.images.validation import ImageRejected, without_path

if TYPE_CHECKING:
    from sr_engine.inference import UpscaleConfig

# The output is written in the input's container, which holds every stream copied from it;
# .m4v is MP4 by another name. A container takes only some video codecs.
_OUTPUT_SUFFIX = {".m4v": ".mp4"}
_CODECS_OF = {".webm": ("vp9", "av1"), ".mov": ("h264", "h265")}
# Pixel formats of more than 8 bits: yuv420p10le, yuv444p12be, p010le (not nv12 or yuv420p).
_DEEP = re.compile(r"(1[0-6]|0[1-6]0)(le|be)$")


class VideoRejected(ImageRejected):
    """A clip that cannot be used (a subclass, so every place that reports a refused image
    reports a refused clip the same way)."""


@dataclass
class CheckedVideo:
    info: dict  # VideoInfo.to_dict()
    width: int
    height: int
    format: str  # the container, from the extension: "MP4", "MKV", ...
    suffix: str  # the extension the stored file gets, without the dot
    notes: list[str] = field(default_factory=list)


def frame_count(info: dict) -> int:
    """The clip's frames: the container's count, else estimated from duration and rate."""
    return int(info.get("frames") or round(info.get("duration_s", 0) * info.get("fps", 0)))


def video_check(path: Path, *, display_name: str) -> CheckedVideo:
    """Probe the clip at `path` and hold it to the deployment's limits; VideoRejected with a
    one-line reason (naming `display_name`, the uploaded name, never the temp file)
    otherwise. The container is the uploaded name's extension."""
    try:  # a declared frame size over the limit is refused before any frame is decoded
        info = probe(path, max_pixels=settings.SR_MAX_VIDEO_PIXELS).to_dict()
    except VideoError as exc:
        raise VideoRejected(without_path(str(exc), path, display_name)) from None
    width, height = info["width"], info["height"]
    seconds, frames = info["duration_s"], frame_count(info)
    if seconds > settings.SR_MAX_VIDEO_SECONDS:
        raise VideoRejected(f"{seconds:.1f} s long; the limit is "
                            f"{settings.SR_MAX_VIDEO_SECONDS} s")
    if frames > settings.SR_MAX_VIDEO_FRAMES:
        raise VideoRejected(f"{frames:,} frames; the limit is {settings.SR_MAX_VIDEO_FRAMES:,}")
    suffix = Path(display_name).suffix.lower()  # `path` is a temp file (.part)
    return CheckedVideo(info=info, width=width, height=height, format=suffix[1:].upper(),
                        suffix=suffix[1:], notes=_notes(info, frames))


def _notes(info: dict, frames: int) -> list[str]:
    notes = [f"video: {info['codec']}, {frames:,} frames at {info['fps']:.3g} fps, "
             f"{info['duration_s']:.1f} s"]
    notes += [f"{other}: copied into the output as it is" for other in info.get("others", [])]
    if info.get("rotation"):
        notes.append(f"rotated {info['rotation']}°: the output keeps the rotation")
    if _DEEP.search(info.get("pix_fmt", "")):
        notes.append(f"{info['pix_fmt']}: more than 8 bits, kept with H.264, H.265 and AV1")
    return notes


def video_output_check(*, width: int, height: int, scale: int) -> None:
    """ConfigError when an upscaled frame is over SR_MAX_VIDEO_OUTPUT_PIXELS."""
    limit = settings.SR_MAX_VIDEO_OUTPUT_PIXELS
    pixels = width * height * scale * scale
    if pixels > limit:
        raise ConfigError(f"x{scale} of a {width}x{height} video makes frames of "
                          f"{width * scale}x{height * scale} ({pixels:,} pixels); the limit is "
                          f"{limit:,} pixels a frame: pick a smaller scale")


def output_suffix(original_name: str) -> str:
    """The extension of a video's output (with the dot): the input's container."""
    suffix = Path(original_name).suffix.lower()
    return _OUTPUT_SUFFIX.get(suffix, suffix)


def video_config(*, original_name: str, codec: str = "", crf: int | None = None) -> VideoConfig:
    """The encoder settings for a clip stored as `original_name`; ConfigError for a codec
    its container cannot hold or a bad CRF. `codec` "" picks the container's usual one."""
    suffix = output_suffix(original_name)
    allowed = _CODECS_OF.get(suffix, CODECS)
    codec = codec or allowed[0]
    if codec not in CODECS:
        raise ConfigError(f"codec: expected one of {', '.join(CODECS)}, got {codec!r}")
    if codec not in allowed:
        raise ConfigError(f"codec: a {suffix[1:].upper()} file holds "
                          f"{' or '.join(allowed)}, not {codec}")
    return VideoConfig(codec=codec, crf=settings.SR_VIDEO_CRF if crf is None else crf,
                       max_output_pixels=settings.SR_MAX_VIDEO_OUTPUT_PIXELS,
                       segment_s=float(settings.SR_VIDEO_SEGMENT_SECONDS))


def video_params(config: UpscaleConfig, video: VideoConfig) -> dict:
    """`Job.params` of a video upscale: the UpscaleConfig's keys, and the VideoConfig's under
    "video" (the kind stays "upscale"; readers of params["model"] need no special case)."""
    return {**config.to_dict(), "video": video.to_dict()}


def configs_of(params: dict) -> tuple[UpscaleConfig, VideoConfig | None]:
    """Rebuild the engine configs from `Job.params` (strict: unknown keys are errors)."""
    from sr_engine.inference import UpscaleConfig  # torch: only workers rebuild configs

    rest = dict(params)
    video = rest.pop("video", None)
    return (UpscaleConfig.from_dict(rest),
            None if video is None else VideoConfig.from_dict(video))
