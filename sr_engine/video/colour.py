"""The YUV <-> RGB conversion of a clip (`Colour`): the same matrix and range both ways, and
the output's tags, so an upscaled clip looks like its input in every player."""

from __future__ import annotations

from dataclasses import dataclass

import av

from sr_engine.video.io import VideoInfo


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
