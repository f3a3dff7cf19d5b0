"""How each audio and subtitle stream of the source goes into the upscaled clip (`carry`).

Copied packet for packet wherever the output's container holds the codec (always for .mkv).
An audio stream it cannot hold (AAC in WebM, Vorbis in MP4) is decoded and encoded again:
losslessly where the container allows it (ALAC, FLAC), else as 256 kbit/s Opus or AAC, and
`note` says which, so nobody takes it for a copy. A subtitle stream that does not fit is a
clear error: its text formats do not convert into each other without loss of styling.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av

from sr_engine.errors import VideoError
from sr_engine.video.io import codec_name

# In order of preference: lossless first.
_REENCODE = (("alac", None), ("flac", None), ("libopus", "256k"), ("aac", "256k"))


class Carried:
    """A source stream's place in the output: `packets` turns the source's packets into the
    output's, moved back by `shift` seconds; `flush` gives what an encoder still holds."""

    note: str | None = None

    def __init__(self, stream: av.stream.Stream) -> None:
        self.stream = stream  # the output stream

    def packets(self, packet: av.Packet, shift: Fraction) -> Iterator[av.Packet]:
        moved = round(shift / packet.time_base)
        packet.pts = None if packet.pts is None else packet.pts - moved
        packet.dts = None if packet.dts is None else packet.dts - moved
        packet.stream = self.stream
        yield packet

    def flush(self) -> Iterator[av.Packet]:
        return iter(())


class _Reencoded(Carried):
    def __init__(self, stream: av.stream.Stream, source: av.stream.Stream, note: str) -> None:
        super().__init__(stream)
        self.source, self.note = source, note

    def packets(self, packet: av.Packet, shift: Fraction) -> Iterator[av.Packet]:
        for frame in self.source.codec_context.decode(packet):
            if frame.pts is not None:
                frame.pts -= round(shift / frame.time_base)
            yield from self.stream.encode(frame)  # PyAV resamples and re-frames for it

    def flush(self) -> Iterator[av.Packet]:
        yield from self.stream.encode(None)


def _named(layout: av.AudioLayout) -> av.AudioLayout | str:
    """MP4 and encoders refuse an unnamed layout ("2 channels", as PCM in Matroska reads): the
    usual one for its channel count, as players assume."""
    if layout.name.endswith(" channels"):
        return {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(layout.nb_channels, layout)
    return layout


def carry(out: av.container.OutputContainer, source: av.stream.Stream, *,
          name: str) -> Carried:
    """An output stream for the audio or subtitle stream `source`; see the module doc."""
    try:
        copied = Carried(out.add_stream_from_template(source))
        if source.type == "audio":
            # MP4 refuses an unnamed layout, and only when it is closed.
            copied.stream.codec_context.layout = _named(source.layout)
        return copied
    except ValueError:
        if source.type != "audio":
            raise VideoError(f"{name}: a {out.format.name} file cannot hold the clip's "
                             f"{source.type} stream ({codec_name(source)}), copied as it is; "
                             "write .mkv, which holds any") from None
    codecs = out.supported_codecs
    codec, bitrate = next((c for c in _REENCODE if c[0] in codecs), (None, None))
    if codec is None:
        raise VideoError(f"{name}: a {out.format.name} file holds none of the audio codecs "
                         "this can encode; write .mkv, which holds any")
    rates = av.codec.Codec(codec, "w").audio_rates
    rate = source.rate if not rates or source.rate in rates else max(rates)
    stream = out.add_stream(codec, rate=rate, layout=_named(source.layout))
    if bitrate:
        stream.bit_rate = int(bitrate.rstrip("k")) * 1000
    how = "losslessly" if bitrate is None else f"at {bitrate}bit/s"
    was = codec_name(source)
    return _Reencoded(stream, source, f"{source.type} {was} re-encoded {how} as {codec} "
                      f"(a {out.format.name} file cannot hold {was})")
