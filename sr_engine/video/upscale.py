"""`upscale_video`: a clip upscaled frame by frame through the image path (tiling, precision
auto; a video model gets each frame's window of neighbours: sr_engine.video.window),
streamed: a few frames at a time, never the clip in memory or as PNGs on disk; where a core
is spare, a thread decodes ahead of the model and another encodes behind it
(sr_engine.video.threads).

Kept from the input: every frame's timestamp (the output stream has the input's time base,
so variable frame rates stay as they were), the frame count, the display rotation, and every
audio and subtitle stream, copied packet for packet where the output's container holds it
(else audio is encoded again and the result says so: sr_engine.video.carry). The video is
encoded as H.264 (default), H.265, VP9 or AV1 (SVT-AV1) at a CRF, in yuv420p (10-bit where
the input is).

The video is encoded in segments of about `VideoConfig.segment_s` seconds of work, each kept
in a parts folder once finished (sr_engine.video.parts); the segments and the copied streams
are joined at the end (sr_engine.video.join) into a temporary file beside `dst`, renamed when
complete. A run that is interrupted (Ctrl-C, a killed worker) leaves its finished segments,
and the same call again resumes after them; an error or a cancel leaves nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import torch

from sr_engine.data.io import Picture
from sr_engine.errors import Cancelled, EngineError, VideoError
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.config import UpscaleConfig
from sr_engine.inference.picture import upscale_picture
from sr_engine.progress import ProgressCallback, Reporter, emit
from sr_engine.video.colour import Colour
from sr_engine.video.config import ENCODERS, VideoConfig
from sr_engine.video.io import VideoInfo, opened, probe, reason
from sr_engine.video.join import carried_streams, join, muxer
from sr_engine.video.parts import Parts, Segment
from sr_engine.video.threads import Ahead, Behind, Inline, spare_core
from sr_engine.video.window import windows
from sr_engine.zoo import LoadedModel, load_model, resolve_device


@dataclass
class VideoResult:
    src: Path
    dst: Path
    input: VideoInfo
    frames: int
    output_size: tuple[int, int]
    seconds: float
    precision: str
    model: str
    resumed: int = 0  # frames an interrupted run had finished, kept rather than redone
    notes: list[str] = dataclasses.field(default_factory=list)  # streams not copied as they are

    def to_dict(self) -> dict[str, Any]:
        return {"src": str(self.src), "dst": str(self.dst), "input": self.input.to_dict(),
                "frames": self.frames, "output_size": list(self.output_size),
                "seconds": self.seconds, "precision": self.precision, "model": self.model,
                "resumed": self.resumed, "notes": self.notes}


def upscale_video(src: str | Path, dst: str | Path, config: UpscaleConfig,
                  video: VideoConfig | None = None, *, progress: ProgressCallback | None = None,
                  model: LoadedModel | None = None, parts: str | Path | None = None
                  ) -> VideoResult:
    """Upscale the clip `src` into `dst` (container from its extension). Emits "loading",
    then "encoding" once per frame (current/total frames, fps and ETA), "saving" while the
    segments are joined, then "done".

    `parts`: the folder that keeps finished segments (default: `.<dst name>.parts` beside
    `dst`); when an interrupted run with the same source and settings left segments there,
    this run resumes after them. Removed once `dst` is written, or on an error or cancel."""
    t0 = time.monotonic()
    src, dst, video = Path(src), Path(dst), video or VideoConfig()
    scale = config.scale
    info = probe(src, max_pixels=video.max_output_pixels, scale=scale)
    if model is None:
        emit(progress, "loading", f"loading model {config.model}")
        model = load_model(config.model, scale=scale, device=resolve_device(config.device))
    config = dataclasses.replace(config, precision=resolve_precision(
        config.precision, torch.device(model.device), model.name))
    _check_output(src, dst)
    store: Parts | None = None
    tmp: Path | None = None
    try:
        store = Parts.open(Path(parts) if parts else dst.parent / f".{dst.name}.parts",
                           _run_key(src, model, config, video))
        resumed = store.frames
        if resumed:
            emit(progress, "loading", f"resuming after {resumed} finished frames")
        _encode(src, info, model, config, video, store, progress)
        emit(progress, "saving", f"joining {len(store.segments)} segments into {dst.name}")
        tmp = _temporary(dst)
        notes = join(src, store, tmp, rotation=info.rotation, name=dst.name,
                     start=store.segments[0].first_pts if video.start_s > 0 else None,
                     end_s=video.end_s)
        os.replace(tmp, dst)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        # An interruption keeps the finished segments to resume from; a cancel or a bad
        # input would only fail again, so it keeps nothing.
        if store is not None and (isinstance(exc, (Cancelled, EngineError))
                                  or not store.segments):
            store.remove()
        raise
    store.remove()
    result = VideoResult(src, dst, info, store.frames, (_even(info.width * scale),
                                                        _even(info.height * scale)),
                         time.monotonic() - t0, config.precision, model.name, resumed, notes)
    emit(progress, "done", "; ".join([f"{dst.name}: {result.frames} frames", *notes]),
         metrics={"seconds": result.seconds})
    return result


def _temporary(dst: Path) -> Path:
    """A new empty file beside `dst`, to be renamed over it once complete."""
    try:
        fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=dst.suffix)
    except OSError as exc:
        raise VideoError(f"{dst.name}: cannot write into {dst.parent} ({exc.strerror})") \
            from None
    os.close(fd)
    return Path(name)


def _check_output(src: Path, dst: Path) -> None:
    """Raise now if `dst` cannot be written or its container cannot hold the source's audio
    and subtitles: the clip would otherwise be upscaled before the join found out. The trial
    file goes at once, so a run killed while it upscales leaves nothing beside `dst`."""
    tmp = _temporary(dst)
    try:
        with opened(src) as inp, opened(tmp, "w", format=muxer(tmp)) as out:
            carried_streams(inp, out, name=dst.name)
    finally:
        tmp.unlink(missing_ok=True)


def _run_key(src: Path, model: LoadedModel, config: UpscaleConfig,
             video: VideoConfig) -> str:
    """What makes two runs' segments interchangeable: the same source file, model weights and
    settings (segment_s aside: it only says where segments end)."""
    stat = src.stat()
    settings = {"src": [str(src.resolve()), stat.st_size, stat.st_mtime_ns],
                "model": [model.name, model.scale], "config": config.to_dict(),
                "video": {**video.to_dict(), "segment_s": None}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()
                          ).hexdigest()


_CUT = object()  # put between frames: the segment being written ends here


def _encode(src: Path, info: VideoInfo, model: LoadedModel, config: UpscaleConfig,
            video: VideoConfig, store: Parts, progress: ProgressCallback | None) -> None:
    """Upscale the frames after the last finished segment into new segments."""
    with opened(src) as inp:
        vin = inp.streams.video[0]
        colour = Colour.of(info, ENCODERS[video.codec])
        # 4:2:0 needs even sizes: an odd upscaled edge loses its last pixel row/column.
        size = (_even(info.height * config.scale), _even(info.width * config.scale))
        segments = _SegmentWriter(store, video, colour, size, vin)
        total = _expected_frames(info, video)
        reporter = Reporter(progress, "encoding", total=total, start=store.frames)
        frames = _frames(inp, vin, video, after=store.last_pts, name=src.name,
                         duration_s=info.duration_s, context=model.frames // 2)
        reader, writer = (Ahead(frames, name="sr-decode"),
                          Behind(segments.handle, name="sr-encode")) \
            if spare_core(torch.device(model.device).type) \
            else (Inline(frames), Inline(handle=segments.handle))
        pictures = _Pictures(colour)
        cut_at = time.monotonic() + video.segment_s
        try:
            # With threads, decoding and encoding run beside the model.
            for frame, window in windows(reader, model.frames):
                writer.put(_upscaled(frame, pictures.of(window), model, config, colour, size))
                reporter.current += 1
                reporter.emit(f"frame {reporter.current}/{total or '?'}",
                              {"fps": reporter.rate()})
                if time.monotonic() >= cut_at:
                    writer.put(_CUT)
                    cut_at = time.monotonic() + video.segment_s
            writer.put(_CUT)
            writer.finish()
        except av.FFmpegError as exc:
            raise VideoError(f"{src.name}: failed after {reporter.current} frames "
                             f"({reason(exc)})") from None
        finally:
            reader.close()
            writer.close()
            segments.abandon()
    if not store.segments:
        raise VideoError(f"{src.name}: no video frame could be decoded"
                         + (" in the chosen time range" if video.start_s or video.end_s
                            else ""))


def _frames(inp: av.container.InputContainer, vin: av.stream.Stream, video: VideoConfig, *,
            after: int | None, name: str, duration_s: float, context: int = 0
            ) -> Iterator[tuple[av.VideoFrame, bool]]:
    """The decoded frames, each with whether it is to be upscaled: those from
    `video.start_s` (or after the source timestamp `after`, where a resumed run goes on) up
    to `video.end_s`. Decoding starts at the keyframe before the first of them, or `context`
    frames earlier (a video model's neighbours). A clip whose frames end well before its
    declared duration is cut short (a truncated download): a VideoError once its last frame
    is decoded."""
    time_base = vin.time_base
    if after is not None or video.start_s > 0:
        back = math.ceil(context * _frame_s(vin) / time_base) + (1 if context else 0)
        first = after if after is not None else int(video.start_s / time_base)
        inp.seek(max(first - back, 0), stream=vin, backward=True)
    last: av.VideoFrame | None = None
    for packet in inp.demux(vin):
        for frame in packet.decode():
            if frame.pts is None:
                raise VideoError(f"{name}: its frames carry no timestamps (a raw stream?); "
                                 "put it in a container first (.mkv)")
            last = frame
            at = float(frame.pts * time_base)  # as the seconds given are: 10/50 < 0.2
            if video.end_s is not None and at >= video.end_s:
                return
            yield frame, (after is None or frame.pts > after) and at >= video.start_s
    if last is not None:
        _check_whole(last, vin, duration_s, name)


def _check_whole(last: av.VideoFrame, vin: av.stream.Stream, duration_s: float,
                 name: str) -> None:
    """Raise when the last frame ends more than a frame and 0.1 s before the declared end
    (a slideshow's long last frame has a long duration, so it passes)."""
    step = _frame_s(vin)
    start = float((vin.start_time or 0) * vin.time_base)
    end = float(last.pts * vin.time_base) + (float(last.duration * vin.time_base)
                                             if last.duration else step)
    if end - start + step + 0.1 < duration_s:
        raise VideoError(f"{name}: the video ends at {end - start:.2f} s of the "
                         f"{duration_s:.2f} s it declares (a truncated or damaged file)")


def _frame_s(vin: av.stream.Stream) -> float:
    """Seconds of one frame at the stream's average rate (25 fps where it gives none)."""
    return 1 / float(vin.average_rate or vin.guessed_rate or 25)


def _expected_frames(info: VideoInfo, video: VideoConfig) -> int:
    """The frame count for progress: the container's, or (Matroska and WebM do not say, and
    a trimmed clip has fewer) estimated from the duration and frame rate."""
    if info.frames and not video.start_s and video.end_s is None:
        return info.frames
    end = min(video.end_s or math.inf, info.duration_s or math.inf)
    return max(round((end - video.start_s) * info.fps), 1) if math.isfinite(end) else 0


class _SegmentWriter:
    """Encodes upscaled frames into the parts folder's next segment file; at `_CUT` the
    segment is finished (encoder flushed, file closed, recorded in the manifest)."""

    def __init__(self, store: Parts, video: VideoConfig, colour: Colour,
                 size: tuple[int, int], vin: av.stream.Stream) -> None:
        self.store, self.video, self.colour, self.size = store, video, colour, size
        self.time_base: Fraction = vin.time_base
        self.rate = vin.average_rate or vin.guessed_rate
        self.out: av.container.OutputContainer | None = None
        self.first_pts = self.last_pts = self.count = 0

    def handle(self, item: av.VideoFrame | object) -> None:
        if item is _CUT:
            self._finish()
            return
        assert isinstance(item, av.VideoFrame)
        if self.out is None:
            self._start(item.pts)
        assert self.out is not None
        self.last_pts, self.count = item.pts, self.count + 1
        item.pts -= self.first_pts  # see sr_engine.video.parts: segments start at 0
        self.out.mux(self.stream.encode(item))

    def _start(self, first_pts: int) -> None:
        if self.video.codec == "av1":  # SVT-AV1 prints its settings unless told otherwise
            os.environ.setdefault("SVT_LOG", "1")
        self.out = av.open(str(self.store.next_file()), "w")
        stream = self.out.add_stream(ENCODERS[self.video.codec], rate=self.rate)
        stream.height, stream.width = self.size
        stream.pix_fmt = self.colour.yuv
        # The input's time base for the stream and the encoder: each frame keeps its own
        # timestamp (variable frame rates too; 1/fps would merge close ones).
        stream.time_base = stream.codec_context.time_base = self.time_base
        stream.options = {"crf": str(self.video.crf)}
        self.colour.tag(stream.codec_context)
        self.stream, self.first_pts, self.count = stream, first_pts, 0

    def _finish(self) -> None:
        if self.out is None:
            return
        self.out.mux(self.stream.encode(None))
        self.out.close()
        self.out = None
        self.store.add(Segment(self.store.next_file().name, self.first_pts, self.last_pts,
                               self.count))

    def abandon(self) -> None:
        """Close a segment left unfinished (an error or interruption); the parts folder
        drops its file when next opened."""
        if self.out is not None:
            self.out.close()
            self.out = None


def _even(n: int) -> int:
    return n - n % 2


class _Pictures:
    """Decoded frames as the RGB pictures the model takes, each converted once while it is in
    the window (keyed by timestamp: unique within a clip, unlike a freed frame's id)."""

    def __init__(self, colour: Colour) -> None:
        self.colour = colour
        self.cache: dict[int, Picture] = {}

    def of(self, window: list[av.VideoFrame]) -> list[Picture]:
        self.cache = {f.pts: self.cache.get(f.pts) or self._convert(f) for f in window}
        return [self.cache[f.pts] for f in window]

    def _convert(self, frame: av.VideoFrame) -> Picture:
        c = self.colour
        rgb = frame.reformat(format=c.rgb, src_colorspace=c.matrix,
                             src_color_range=c.color_range, dst_color_range=2)
        return Picture(pixels=rgb.to_ndarray())


def _upscaled(frame: av.VideoFrame, window: list[Picture], model: LoadedModel,
              config: UpscaleConfig, colour: Colour, size: tuple[int, int]) -> av.VideoFrame:
    """`frame` upscaled (from its window of pictures, one for image models) as a YUV frame
    of `size` with its timestamp."""
    pixels = upscale_picture(model, window[len(window) // 2], config, window=window).pixels
    pixels = pixels[:size[0], :size[1]]
    out = av.VideoFrame.from_ndarray(pixels, format=colour.rgb).reformat(
        format=colour.yuv, src_colorspace=colour.matrix, dst_colorspace=colour.matrix,
        src_color_range=2, dst_color_range=colour.color_range)
    out.pts, out.time_base = frame.pts, frame.time_base
    return out
