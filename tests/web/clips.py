"""Small real clips for the web, browser and fault tests, made with PyAV: moving bars over a
gradient (so every frame differs) and, optionally, a sine-wave AAC track."""

from __future__ import annotations

import io

import av
import numpy as np


def clip_bytes(width: int = 64, height: int = 48, *, fps: int = 10, seconds: float = 2.0,
               audio: bool = True, video: bool = True, fmt: str = "mp4") -> bytes:
    buf = io.BytesIO()
    frames = round(fps * seconds)
    with av.open(buf, "w", format=fmt) as out:
        if video:  # every stream is added before the first packet writes the header
            v = out.add_stream("libvpx-vp9" if fmt == "webm" else "libx264", rate=fps)
            v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        if audio:
            a = out.add_stream("libopus" if fmt == "webm" else "aac", rate=48000)
            a.layout = "mono"
        if video:
            yy, xx = np.mgrid[0:height, 0:width]
            for i in range(frames):
                pixels = np.zeros((height, width, 3), np.uint8)
                pixels[..., 0] = (xx * 255 // max(width - 1, 1)).astype(np.uint8)
                pixels[..., 1] = (yy * 255 // max(height - 1, 1)).astype(np.uint8)
                pixels[:, (3 * i) % width] = 255
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = i
                out.mux(v.encode(frame))
            out.mux(v.encode(None))
        if audio:
            t = np.arange(int(48000 * seconds)) / 48000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(a.encode(frame))
            out.mux(a.encode(None))
    return buf.getvalue()


def frame_count(data_or_path: bytes | str) -> int:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with av.open(source) as container:
        return sum(1 for _ in container.decode(video=0))
