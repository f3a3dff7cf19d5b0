"""Audio and subtitles into the upscaled clip (sr_engine.video.carry): subtitles copied cue for
cue, or a clear error before any work where the container cannot hold them; audio a container
cannot hold as it is encoded again, losslessly where the container allows (WavPack into MP4
becomes ALAC: the same samples) and said so; PCM from Matroska, whose layout has no name, is
copied into MP4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sr_engine.errors import VideoError
from sr_engine.inference import UpscaleConfig
from sr_engine.video.config import VideoConfig
from sr_engine.video.upscale import upscale_video
from tests.engine.clips import (
    PTS,
    TIME_BASE,
    make_clip,
    subtitle_packets,
    timestamps,
    with_subtitles,
)

RATE = 44100


def _clip_with(path: Path, codec: str, fmt: str) -> Path:
    """Ten frames and half a second of a 440 Hz tone in `codec`."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        a = out.add_stream(codec, rate=RATE, layout="stereo")
        a.format = fmt
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), 20 * i, np.uint8), "rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        t = np.arange(RATE // 2) / RATE
        tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        samples = np.stack([tone, tone // 2]).T.reshape(1, -1)  # packed s16
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = RATE, 0
        out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path


def _samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        chunks = [f.to_ndarray() for frame in c.decode(audio=0)
                  for f in resampler.resample(frame)]
    return np.concatenate(chunks, axis=1)


def test_wavpack_into_mp4_becomes_alac_with_the_same_samples(tmp_path):
    src = _clip_with(tmp_path / "wv.mkv", "wavpack", "s16p")
    result = upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2))
    assert result.notes == ["audio wavpack re-encoded losslessly as alac (a mp4 file cannot "
                            "hold wavpack)"]
    with av.open(str(result.dst)) as c:
        assert c.streams.audio[0].codec_context.name == "alac"
    assert np.array_equal(_samples(result.dst), _samples(src))


def test_pcm_from_matroska_is_copied_into_mp4(tmp_path):
    src = _clip_with(tmp_path / "pcm.mkv", "pcm_s16le", "s16")
    result = upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2))
    assert result.notes == []
    with av.open(str(result.dst)) as c:
        assert c.streams.audio[0].codec_context.name == "pcm_s16le"
    assert np.array_equal(_samples(result.dst), _samples(src))  # MP4 chunks PCM its own way


def test_aac_into_webm_becomes_opus_and_says_so(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")
    result = upscale_video(src, tmp_path / "out.webm", UpscaleConfig(scale=2),
                           VideoConfig(codec="vp9"))
    assert result.notes == ["audio aac re-encoded at 256kbit/s as libopus (a webm file cannot "
                            "hold aac)"]
    assert timestamps(result.dst) == [p * TIME_BASE for p in PTS]
    with av.open(str(result.dst)) as c:
        stream = c.streams.audio[0]
        seconds = sum(f.samples for f in c.decode(stream)) / stream.rate
    assert seconds == pytest.approx(0.5, abs=0.03)  # the half second of tone, all of it


def test_subtitles_are_copied_cue_for_cue_or_refused_before_any_work(tmp_path):
    src = with_subtitles(make_clip(tmp_path / "clip.mp4", audio=False), tmp_path / "sub.mkv")
    result = upscale_video(src, tmp_path / "out.mkv", UpscaleConfig(scale=2))
    assert subtitle_packets(result.dst) == subtitle_packets(src) == [
        (b"Hello", 0), (b"world", Fraction(1, 5))]
    with pytest.raises(VideoError, match=r"out.mp4: a mp4 file cannot hold the clip's "
                                         r"subtitle stream \(subrip\).*write .mkv"):
        upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2),
                      progress=lambda e: pytest.fail(f"work began: {e}")
                      if e.stage == "encoding" else None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mkv", "sub.mkv"]
