"""`upscale_video`: a clip upscaled frame by frame through the image path (tiling, precision
auto), streamed: a few frames at a time, never the clip in memory or as PNGs on disk; where a
core is spare, a thread decodes ahead of the model and another encodes behind it
(sr_engine.video.threads).

Kept from the input: every frame's timestamp (the output stream has the input's time base,
so variable frame rates stay as they were), the frame count, the display rotation, and every
audio and subtitle stream, copied packet for packet (bit-exact, no re-encoding). The video is
encoded as H.264 (default), H.265 or VP9 at a CRF, in yuv420p. The output is written to a
temporary file beside `dst` and renamed when complete: an error or a cancel leaves nothing.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import torch

from sr_engine.config import StrictConfig, check
from sr_engine.data.io import Picture
from sr_engine.errors import VideoError
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.config import UpscaleConfig
from sr_engine.inference.picture import upscale_picture
from sr_engine.progress import ProgressCallback, Reporter, emit
from sr_engine.video.io import VideoInfo, opened, probe, reason
from sr_engine.video.threads import Ahead, Behind, Inline, spare_core
from sr_engine.zoo import LoadedModel, load_model, resolve_device

ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9"}


@dataclass
class VideoConfig(StrictConfig):
    """How the upscaled video stream is encoded. `crf`: the encoder's constant-quality
    setting (lower is better; 18 is visually lossless for x264). `max_output_pixels`: a frame
    larger than this once upscaled is refused before anything is decoded. `preview_s`: stop
    at this time (frames and copied packets from before it)."""

    codec: Literal["h264", "h265", "vp9"] = "h264"
    crf: int = 18
    max_output_pixels: int = 64_000_000
    preview_s: float | None = None  # only the first this many seconds (a quick look)

    def validate(self) -> None:
        check(0 <= self.crf <= 63, f"crf: must be 0..63, got {self.crf}")
        check(self.max_output_pixels >= 1, "max_output_pixels: must be positive")
        check(self.preview_s is None or self.preview_s > 0,
              f"preview_s: must be positive seconds, got {self.preview_s}")


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

    def to_dict(self) -> dict[str, Any]:
        return {"src": str(self.src), "dst": str(self.dst), "input": self.input.to_dict(),
                "frames": self.frames, "output_size": list(self.output_size),
                "seconds": self.seconds, "precision": self.precision, "model": self.model}


def upscale_video(src: str | Path, dst: str | Path, config: UpscaleConfig,
                  video: VideoConfig | None = None, *, progress: ProgressCallback | None = None,
                  model: LoadedModel | None = None) -> VideoResult:
    """Upscale the clip `src` into `dst` (container from its extension). Emits "loading",
    then "encoding" once per frame (current/total frames, fps and ETA), then "done"."""
    t0 = time.monotonic()
    src, dst, video = Path(src), Path(dst), video or VideoConfig()
    info = probe(src)
    scale = config.scale
    if info.width * info.height * scale * scale > video.max_output_pixels:
        raise VideoError(f"{src.name}: {info.width}x{info.height} x{scale} makes frames of "
                         f"{info.width * scale}x{info.height * scale}, over the "
                         f"{video.max_output_pixels:,}-pixel limit")
    if model is None:
        emit(progress, "loading", f"loading model {config.model}")
        model = load_model(config.model, scale=scale, device=resolve_device(config.device))
    config = dataclasses.replace(config, precision=resolve_precision(
        config.precision, torch.device(model.device), model.name))
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.",
                                        suffix=dst.suffix)
    except OSError as exc:
        raise VideoError(f"{dst.name}: cannot write into {dst.parent} ({exc.strerror})") \
            from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        frames = _transcode(src, tmp, info, model, config, video, progress, dst.name)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result = VideoResult(src, dst, info, frames, (_even(info.width * scale),
                                                  _even(info.height * scale)),
                         time.monotonic() - t0, config.precision, model.name)
    emit(progress, "done", f"{dst.name}: {frames} frames", metrics={"seconds": result.seconds})
    return result


def _transcode(src: Path, tmp: Path, info: VideoInfo, model: LoadedModel,
               config: UpscaleConfig, video: VideoConfig,
               progress: ProgressCallback | None, dst_name: str) -> int:
    with opened(src) as inp, opened(tmp, "w", format=_muxer(tmp)) as out:
        vin = inp.streams.video[0]
        vout = out.add_stream(ENCODERS[video.codec], rate=vin.average_rate or vin.guessed_rate)
        # 4:2:0 needs even sizes: an odd upscaled edge loses its last pixel row/column.
        vout.width, vout.height = _even(info.width * config.scale), \
            _even(info.height * config.scale)
        colour = Colour.of(info, ENCODERS[video.codec])
        vout.pix_fmt = colour.yuv
        # The input's time base for the stream and the encoder: each frame keeps its own
        # timestamp (variable frame rates too; 1/fps would merge close ones).
        vout.time_base = vout.codec_context.time_base = vin.time_base
        vout.options = {"crf": str(video.crf)}
        if info.rotation:
            vout.set_display_rotation(info.rotation)
        colour.tag(vout.codec_context)
        copied = {s.index: _copy_stream(out, s, name=dst_name)
                  for s in inp.streams if s.type in ("audio", "subtitle")}
        streams = [vin, *(s for s in inp.streams if s.index in copied)]

        end = video.preview_s

        def demuxed() -> Iterator[av.VideoFrame | av.Packet]:
            """Decoded frames and the packets to copy, in the input's order (up to `end`)."""
            for packet in inp.demux(*streams):
                if packet.stream.index in copied:
                    # The demuxer's end-of-stream marker has no dts.
                    if packet.dts is not None and (end is None or _seconds(packet) < end):
                        yield packet
                    continue
                for frame in packet.decode():
                    if end is not None and _seconds(frame) >= end:
                        return
                    yield frame

        def write(item: av.VideoFrame | av.Packet) -> None:
            if isinstance(item, av.Packet):
                item.stream = copied[item.stream.index]
                out.mux(item)
            else:
                out.mux(vout.encode(item))

        total = info.frames if end is None else min(info.frames or 10**9,
                                                    math.ceil(end * (info.fps or 1)))
        reporter = Reporter(progress, "encoding", total=total)
        done = 0
        reader, writer = (Ahead(demuxed(), name="sr-decode"), Behind(write, name="sr-encode")) \
            if spare_core(torch.device(model.device).type) \
            else (Inline(demuxed()), Inline(handle=write))
        try:
            for item in reader:  # with threads, decoding and encoding run beside the model
                if isinstance(item, av.VideoFrame):
                    item = _upscaled(item, model, config, colour, (vout.height, vout.width))
                    done += 1
                    reporter.advance(message=f"frame {done}/{total or '?'}")
                writer.put(item)
            writer.finish()
            out.mux(vout.encode(None))
        except av.FFmpegError as exc:
            raise VideoError(f"{src.name}: failed after {done} frames ({reason(exc)})") \
                from None
        finally:
            reader.close()
            writer.close()
    if done == 0:
        raise VideoError(f"{src.name}: no video frame could be decoded")
    return done


def _copy_stream(out: av.container.OutputContainer, stream: av.stream.Stream, *,
                 name: str) -> av.stream.Stream:
    """An output stream that takes `stream`'s packets as they are; a container that cannot
    hold that codec (AAC in WebM, SubRip in MP4) is a clear error, not FFmpeg's."""
    try:
        return out.add_stream_from_template(stream)
    except ValueError:
        raise VideoError(f"{name}: a {out.format.name} file cannot hold the clip's "
                         f"{stream.type} stream ({stream.codec_context.name}), copied as it "
                         "is; write .mkv, which holds any") from None


def _seconds(item: av.VideoFrame | av.Packet) -> float:
    return float((item.pts or 0) * item.time_base)


def _muxer(path: Path) -> str | None:
    return {".m4v": "mp4", ".mkv": "matroska"}.get(path.suffix.lower())


@dataclass(frozen=True)
class Colour:
    """The YUV <-> RGB conversion of a clip, the same both ways, and its tags for the output.

    An untagged clip is read as players read it: BT.709 from 720 rows up, BT.601 below, and
    limited range; the output is tagged with what was used, since an upscaled SD clip becomes
    HD and would otherwise be read with the other matrix. Clips of more than 8 bits go through
    16-bit RGB and stay 10-bit where the encoder can (x264, x265; not this VP9 build)."""

    matrix: int  # a swscale Colorspace: 1 BT.709, 5 BT.601, 7 SMPTE 240M, 9 BT.2020
    color_range: int  # 1 limited (MPEG), 2 full (JPEG)
    primaries: int
    trc: int
    yuv: str = "yuv420p"  # the output's pixel format
    rgb: str = "rgb24"  # what the model sees: rgb24, or rgb48le for deeper clips

    @classmethod
    def of(cls, info: VideoInfo, encoder: str) -> Colour:
        matrix = _MATRICES.get(info.colorspace) or (1 if info.height >= 720 else 5)
        deep = _bits(info.pix_fmt) > 8 and "yuv420p10le" in {
            f.name for f in av.codec.Codec(encoder, "w").video_formats}
        return cls(matrix, info.color_range or 1, info.color_primaries, info.color_trc,
                   *(("yuv420p10le", "rgb48le") if deep else ("yuv420p", "rgb24")))

    def tag(self, ctx: av.codec.context.CodecContext) -> None:
        ctx.colorspace = _TAG_OF_MATRIX[self.matrix]
        ctx.color_range = self.color_range
        ctx.color_primaries, ctx.color_trc = self.primaries, self.trc


# AVColorSpace -> swscale's matrices; and back, for the output's tag.
_MATRICES = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_TAG_OF_MATRIX = {1: 1, 4: 4, 5: 6, 7: 7, 9: 9}


def _bits(pix_fmt: str) -> int:
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _even(n: int) -> int:
    return n - n % 2


def _upscaled(frame: av.VideoFrame, model: LoadedModel, config: UpscaleConfig,
              colour: Colour, size: tuple[int, int]) -> av.VideoFrame:
    rgb = frame.reformat(format=colour.rgb, src_colorspace=colour.matrix,
                         src_color_range=colour.color_range, dst_color_range=2)
    pixels = upscale_picture(model, Picture(pixels=rgb.to_ndarray()), config).pixels
    pixels = pixels[:size[0], :size[1]]
    out = av.VideoFrame.from_ndarray(pixels, format=colour.rgb).reformat(
        format=colour.yuv, src_colorspace=colour.matrix, dst_colorspace=colour.matrix,
        src_color_range=2, dst_color_range=colour.color_range)
    out.pts, out.time_base = frame.pts, frame.time_base
    return out
