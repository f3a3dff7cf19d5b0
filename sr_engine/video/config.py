"""`VideoConfig`: how an upscaled clip is encoded, trimmed and kept in segments. Its own
module, free of torch and PyAV, so the web builds and checks one without loading either."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sr_engine.config import StrictConfig, check

# The codecs an upscaled clip can be encoded with, and FFmpeg's encoder for each.
ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
CODECS = tuple(ENCODERS)


@dataclass
class VideoConfig(StrictConfig):
    """How the upscaled video stream is encoded. `crf`: the encoder's constant-quality
    setting (lower is better; 18 is visually lossless for x264). `max_output_pixels`: a frame
    larger than this once upscaled is refused before anything is decoded. `start_s`/`end_s`:
    only the frames (and copied packets) from `start_s` up to, not including, `end_s`; a clip
    trimmed at the start begins at 0. `segment_s`: seconds of work between kept segments, the
    most an interruption can lose."""

    codec: Literal["h264", "h265", "vp9", "av1"] = "h264"
    crf: int = 18
    max_output_pixels: int = 64_000_000
    start_s: float = 0.0
    end_s: float | None = None
    segment_s: float = 60.0

    def validate(self) -> None:
        check(0 <= self.crf <= 63, f"crf: must be 0..63, got {self.crf}")
        check(self.max_output_pixels >= 1, "max_output_pixels: must be positive")
        check(self.start_s >= 0, f"start_s: must be 0 or more seconds, got {self.start_s}")
        check(self.end_s is None or self.end_s > self.start_s,
              f"end_s: must be after start_s ({self.start_s} s), got {self.end_s}")
        check(self.segment_s >= 0, f"segment_s: must be 0 or more, got {self.segment_s}")
