"""`join`: the finished segments of an upscaled clip (sr_engine.video.parts) and the source's
audio and subtitle streams, muxed into one file.

Video packets are taken as the encoder wrote them (no re-encoding), back on the source's
timestamps; audio and subtitle packets are copied from the source bit for bit where the
container holds them (sr_engine.video.carry). The two are merged in time order, so the muxer
never buffers more than a few packets.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from sr_engine.video.carry import Carried, carry
from sr_engine.video.io import opened
from sr_engine.video.parts import Parts

Timed = tuple[float, av.Packet]  # (decode time in seconds, packet)


def join(src: Path, parts: Parts, tmp: Path, *, rotation: int, name: str,
         start: int | None, end_s: float | None) -> list[str]:
    """Mux `parts`' segments and `src`'s audio/subtitles into `tmp` (format from its
    extension). `start`: the source timestamp that becomes 0 (a trimmed clip starts at its
    first frame), None to keep the source's timestamps; copied packets before it, and from
    `end_s` on, are left out. Returns notes on streams that could not be copied as they are."""
    with opened(src) as inp, opened(tmp, "w", format=muxer(tmp)) as out, \
            opened(parts.folder / parts.segments[0].file) as first:
        vin = inp.streams.video[0]
        time_base = vin.time_base
        # opaque: the segment's codec context as it is (a new one would look for an encoder
        # named after its decoder: libdav1d for AV1).
        vout = out.add_stream_from_template(first.streams.video[0], opaque=True)
        # The source's rate, not a segment's: Matroska writes it as each frame's duration.
        vout.time_base = time_base
        vout.codec_context.framerate = vin.average_rate or vin.guessed_rate
        if rotation:
            vout.set_display_rotation(rotation)
        carried = carried_streams(inp, out, name=name)
        video = _video_packets(parts, vout, start or 0)
        others = _carried_packets(inp, carried, None if start is None
                                  else Fraction(start) * time_base, end_s)
        for _, packet in heapq.merge(video, others, key=lambda timed: timed[0]):
            out.mux(packet)
        return [c.note for c in carried.values() if c.note]


def carried_streams(inp: av.container.InputContainer, out: av.container.OutputContainer, *,
                    name: str) -> dict[int, Carried]:
    """The output streams of the source's audio and subtitles, by source stream index."""
    return {s.index: carry(out, s, name=name) for s in inp.streams
            if s.type in ("audio", "subtitle")}


def _video_packets(parts: Parts, vout: av.stream.Stream, start: int) -> Iterator[Timed]:
    time_base = vout.time_base
    last_dts: int | None = None
    for segment in parts.segments:
        with opened(parts.folder / segment.file) as container:
            stream = container.streams.video[0]
            # The MP4 muxer may have chosen a finer time base than the source's (it raises
            # small ones to 10,000+ by doubling): scaling back is exact.
            ratio = Fraction(stream.time_base) / time_base
            shift = segment.first_pts - start
            for packet in container.demux(stream):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                pts = round(packet.pts * ratio) + shift
                dts = round(packet.dts * ratio) + shift
                if last_dts is not None and dts <= last_dts:
                    # x264 extrapolates a segment's first decode times from its first frame
                    # durations; with a variable rate they can touch the last segment's.
                    dts = min(last_dts + 1, pts)
                last_dts = dts
                duration = round(packet.duration * ratio) if packet.duration else None
                packet.pts, packet.dts, packet.time_base = pts, dts, time_base
                packet.duration = duration
                packet.stream = vout
                yield float(dts * time_base), packet


def _carried_packets(inp: av.container.InputContainer, carried: dict[int, Carried],
                     start: Fraction | None, end_s: float | None) -> Iterator[Timed]:
    """The output's packets of the carried streams, moved back by `start` seconds (from which
    they are kept: before it they belong to trimmed frames). Untrimmed, all are kept: AAC's
    first packets have negative times, its encoder priming."""
    if not carried:
        return
    offset = start or Fraction(0)
    for packet in inp.demux(*(inp.streams[i] for i in carried)):
        if packet.dts is None:
            continue
        at = packet.dts * packet.time_base
        if (start is not None and at < start) or (end_s is not None and float(at) >= end_s):
            continue
        for out in carried[packet.stream.index].packets(packet, offset):
            yield _timed(out)
    for stream in carried.values():
        for out in stream.flush():
            yield _timed(out)


def _timed(packet: av.Packet) -> Timed:
    return float((packet.dts or 0) * packet.time_base), packet


def muxer(path: Path) -> str | None:
    """FFmpeg's muxer for an extension it does not guess."""
    return {".m4v": "mp4", ".mkv": "matroska"}.get(path.suffix.lower())
