"""Clips the video tests make with PyAV: frames with variable timing, a sine-wave audio
track, a display rotation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TIME_BASE = Fraction(1, 50)
PTS = [0, 2, 4, 5, 9, 10, 12, 17, 18, 20]  # variable frame timing, in 1/50 s


def make_clip(path: Path, *, audio: bool = True, video: bool = True, rotation: int = 0,
              keyframe_every: int = 250) -> Path:
    with av.open(str(path), "w") as out:
        if video:  # every stream is added before the first packet writes the header
            v = out.add_stream("libx264", rate=25)
            v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
            v.time_base = v.codec_context.time_base = TIME_BASE
            v.codec_context.gop_size = keyframe_every
            if rotation:
                v.set_display_rotation(rotation)
        if audio:
            a = out.add_stream("aac", rate=48000)
            a.layout = "mono"
        if video:
            for i, pts in enumerate(PTS):
                pixels = np.zeros((32, 48, 3), np.uint8)
                pixels[:, (5 * i) % 48] = 255
                pixels[..., 1] = 20 * i
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts, frame.time_base = pts, TIME_BASE
                out.mux(v.encode(frame))
            out.mux(v.encode(None))
        if audio:
            t = np.arange(48000 // 2) / 48000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(a.encode(frame))
            out.mux(a.encode(None))
    return path


def timestamps(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


SRT = "1\n00:00:00,000 --> 00:00:00,150\nHello\n\n2\n00:00:00,200 --> 00:00:00,350\nworld\n\n"


def with_subtitles(clip: Path, dst: Path) -> Path:
    """`clip`'s video and two SubRip cues (read from an .srt file, as PyAV cannot encode
    subtitles) in a Matroska file."""
    srt = dst.with_suffix(".srt")
    srt.write_text(SRT)
    with av.open(str(clip)) as v, av.open(str(srt)) as s, av.open(str(dst), "w") as out:
        pairs = [(v, v.streams.video[0], out.add_stream_from_template(v.streams.video[0],
                                                                      opaque=True)),
                 (s, s.streams.subtitles[0], out.add_stream_from_template(s.streams.subtitles[0]))]
        for container, stream, target in pairs:
            for packet in container.demux(stream):
                if packet.dts is not None:
                    packet.stream = target
                    out.mux(packet)
    srt.unlink()
    return dst


def subtitle_packets(path: Path) -> list[tuple[bytes, int]]:
    with av.open(str(path)) as c:
        stream = c.streams.subtitles[0]
        return [(bytes(p), p.pts * stream.time_base) for p in c.demux(stream)
                if p.dts is not None]
