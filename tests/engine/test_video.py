"""Video (sr_engine.video): a clip the test makes (frames, a sine-wave audio track, variable
frame timing, a display rotation) upscaled frame by frame keeps its frame count, every
timestamp, its rotation and its audio packets bit for bit; bad clips are one clear error and
leave nothing behind."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sr_engine.cli import main
from sr_engine.errors import Cancelled, VideoError
from sr_engine.inference import UpscaleConfig
from sr_engine.progress import ProgressEvent
from sr_engine.video import io as io_module
from sr_engine.video import upscale as upscale_module
from sr_engine.video.config import VideoConfig
from sr_engine.video.io import probe
from sr_engine.video.upscale import upscale_video
from tests.engine.clips import PTS, TIME_BASE, audio_packets, make_clip, timestamps


@pytest.fixture(autouse=True, params=["threads", "inline"])
def pipeline(request, monkeypatch):
    """Every test runs with decode/encode threads and without (what a 2-core CPU uses)."""
    monkeypatch.setattr(upscale_module, "spare_core", lambda device: request.param == "threads")


def test_upscaling_keeps_frames_timestamps_rotation_and_audio(tmp_path):
    src = make_clip(tmp_path / "clip.mp4", rotation=90)
    events: list[ProgressEvent] = []
    result = upscale_video(src, tmp_path / "clip_x2.mp4", UpscaleConfig(scale=2),
                           progress=events.append)
    info = probe(result.dst)
    assert (info.width, info.height, info.rotation) == (96, 64, 90)
    assert result.frames == len(PTS) == info.frames
    assert timestamps(result.dst) == timestamps(src) == [p * TIME_BASE for p in PTS]
    assert audio_packets(result.dst) == audio_packets(src)  # copied, not re-encoded
    encoded = [e for e in events if e.stage == "encoding"]
    assert [e.current for e in encoded] == list(range(1, len(PTS) + 1))
    assert all(e.total == len(PTS) and e.metrics["fps"] > 0 for e in encoded)
    assert encoded[-1].eta_s == 0 and [e.stage for e in events[-2:]] == ["saving", "done"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_x2.mp4"]


def test_the_frames_are_the_image_paths_upscaling(tmp_path):
    src = make_clip(tmp_path / "clip.mp4", audio=False)
    events: list[ProgressEvent] = []
    result = upscale_video(src, tmp_path / "out.mkv", UpscaleConfig(scale=3),
                           VideoConfig(codec="h264", crf=0), progress=events.append)
    again = upscale_video(result.dst, tmp_path / "again.mkv", UpscaleConfig(scale=2),
                          progress=events.append)
    # Matroska keeps no frame count: progress estimates it from the duration and rate.
    assert again.input.frames == 0 and abs(events[-3].total - len(PTS)) <= 1
    with av.open(str(src)) as a, av.open(str(result.dst)) as b:
        first_in = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        first_out = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert first_out.shape == (96, 144, 3)
    # bicubic x3 then lossless yuv420p: block means follow the input (chroma is subsampled)
    means = first_out.reshape(32, 3, 48, 3, 3).mean(axis=(1, 3))
    assert np.abs(means - first_in).mean() < 12


def test_odd_sizes_lose_one_row_where_4_2_0_needs_an_even_one(tmp_path):
    path = tmp_path / "odd.mkv"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 35, 23, "yuv444p"  # 4:4:4 holds odd sizes
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((23, 35, 3), 90, np.uint8), "rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    result = upscale_video(path, tmp_path / "x3.mp4", UpscaleConfig(scale=3))
    assert result.output_size == (104, 68)  # 105x69 made even
    assert (probe(result.dst).width, probe(result.dst).height, result.frames) == (104, 68, 2)


def test_a_preview_is_the_clips_start_with_its_audio(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")
    result = upscale_video(src, tmp_path / "start.mp4", UpscaleConfig(scale=2),
                           VideoConfig(end_s=0.2))
    assert timestamps(result.dst) == [p * TIME_BASE for p in PTS if p * TIME_BASE < Fraction(1, 5)]
    audio = audio_packets(result.dst)
    assert 0 < len(audio) < len(audio_packets(src)) and audio == audio_packets(src)[:len(audio)]


def test_bad_clips_are_one_clear_error_and_leave_nothing(tmp_path):
    good = make_clip(tmp_path / "good.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    with pytest.raises(VideoError, match="cut.mp4: cannot open as a video"):
        upscale_video(tmp_path / "cut.mp4", tmp_path / "a.mp4", UpscaleConfig(scale=2))
    make_clip(tmp_path / "sound.mp4", video=False)
    with pytest.raises(VideoError, match="sound.mp4: no video stream"):
        upscale_video(tmp_path / "sound.mp4", tmp_path / "b.mp4", UpscaleConfig(scale=2))
    with pytest.raises(VideoError, match="e.mp4: cannot write into .*No such file"):
        upscale_video(tmp_path / "good.mp4", tmp_path / "nowhere" / "e.mp4",
                      UpscaleConfig(scale=2))
    with pytest.raises(VideoError, match="over the 10,000-pixel limit"):
        upscale_video(tmp_path / "good.mp4", tmp_path / "c.mp4", UpscaleConfig(scale=4),
                      VideoConfig(max_output_pixels=10_000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "good.mp4", "sound.mp4"]


def test_a_huge_declared_size_is_refused_before_any_frame_is_decoded(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "clip.mp4")
    monkeypatch.setattr(io_module, "_first_frame", lambda *a: pytest.fail("decoded a frame"))
    with pytest.raises(VideoError, match=r"clip.mp4: 48x32 x4 makes frames of 192x128 over "
                                         r"the 10,000-pixel limit"):
        upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=4),
                      VideoConfig(max_output_pixels=10_000))
    with pytest.raises(VideoError, match=r"clip.mp4: 48x32 frames are over the 1,000-pixel"):
        probe(src, max_pixels=1000)


def test_a_truncated_download_is_an_error_not_a_shorter_clip(tmp_path):
    """Matroska opens without its end (MP4 does not: its index is there): the frames stop
    at about half of the 2 s its header declares."""
    whole = tmp_path / "whole.mkv"
    with av.open(str(whole), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), 5 * i, np.uint8), "rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    data = whole.read_bytes()
    (tmp_path / "half.mkv").write_bytes(data[: len(data) // 2])
    assert upscale_video(whole, tmp_path / "ok.mkv", UpscaleConfig(scale=2)).frames == 50
    with pytest.raises(VideoError, match=r"half.mkv: the video ends at 0\.\d+ s of the 2\.00 s "
                                         r"it declares \(a truncated or damaged file\)"):
        upscale_video(tmp_path / "half.mkv", tmp_path / "out.mkv", UpscaleConfig(scale=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half.mkv", "ok.mkv", "whole.mkv"]


def test_a_cancel_mid_clip_leaves_nothing(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")

    def stop_at_frame_3(event: ProgressEvent) -> None:
        if event.stage == "encoding" and event.current == 3:
            raise Cancelled("stopped")

    with pytest.raises(Cancelled):
        upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2),
                      progress=stop_at_frame_3)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_the_cli_upscales_and_inspects_clips(tmp_path, capsys):
    src = make_clip(tmp_path / "clip.mov")
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "x2.mp4"), "--scale", "2",
                 "--codec", "h265", "--crf", "30"]) == 0
    assert "10 frames" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "x2.mp4")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["codec"], info["width"], info["frames"]) == ("hevc", 96, 10)
    assert info["others"] == ["audio aac"]
    assert main(["upscale", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "y.mp4")]) == 2


def _flat_clip(path: Path, rgb: tuple[int, int, int], *, bt709: bool) -> Path:
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "0"})
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        if bt709:
            v.codec_context.colorspace, v.codec_context.color_range = 1, 1
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), rgb, np.uint8), "rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=1 if bt709 else 5,
                                   src_color_range=2, dst_color_range=1)
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


@pytest.mark.parametrize(("bt709", "tag"), [(True, 1), (False, 6)])
def test_colours_survive_with_the_clips_matrix_and_the_output_says_which(tmp_path, bt709, tag):
    rgb = (200, 40, 30)  # saturated: BT.601 and BT.709 read it 10+ levels apart
    src = _flat_clip(tmp_path / "flat.mp4", rgb, bt709=bt709)
    result = upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2),
                           VideoConfig(crf=0))
    info = probe(result.dst)
    assert (info.colorspace, info.color_range) == (tag, 1)  # an SD clip untagged: BT.601
    with av.open(str(result.dst)) as c:
        frame = next(c.decode(video=0))
        back = frame.reformat(format="rgb24", src_colorspace=1 if bt709 else 5,
                              src_color_range=1, dst_color_range=2).to_ndarray()
    assert np.abs(back[8:-8, 8:-8].astype(int) - rgb).max() <= 3


def _deep_clip(path: Path) -> Path:
    """Three frames of a 10-bit gray ramp (more levels than 8 bits hold), x264 lossless."""
    ramp = np.linspace(0, 65535, 96, dtype=np.float64).astype(np.uint16)
    pixels = np.repeat(np.tile(ramp, (32, 1))[..., None], 3, axis=2)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "0"})
        v.width, v.height, v.pix_fmt = 96, 32, "yuv420p10le"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace=5, src_color_range=2, dst_color_range=1)
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def test_ten_bit_clips_stay_ten_bit_where_the_codec_can(tmp_path):
    src = _deep_clip(tmp_path / "deep.mkv")
    assert probe(src).pix_fmt == "yuv420p10le"
    deep = upscale_video(src, tmp_path / "x2.mkv", UpscaleConfig(scale=2), VideoConfig(crf=0))
    assert probe(deep.dst).pix_fmt == "yuv420p10le"
    with av.open(str(deep.dst)) as c:
        luma = next(c.decode(video=0)).to_ndarray()[: 64, :]  # the Y plane, 10-bit codes
    assert len(np.unique(luma)) > 256  # not squeezed through 8 bits on the way
    vp9 = upscale_video(src, tmp_path / "x2.webm", UpscaleConfig(scale=2),
                        VideoConfig(codec="vp9"))
    assert probe(vp9.dst).pix_fmt == "yuv420p"  # this VP9 build encodes 8 bits only
    av1 = upscale_video(src, tmp_path / "av1.mkv", UpscaleConfig(scale=2),
                        VideoConfig(codec="av1"))
    assert (probe(av1.dst).codec, probe(av1.dst).pix_fmt) == ("av1", "yuv420p10le")
    again = upscale_video(av1.dst, tmp_path / "from_av1.mp4", UpscaleConfig(scale=2))
    assert (again.frames, probe(again.dst).width) == (3, 384)


@pytest.mark.parametrize(("name", "encoder", "pix_fmt"), [
    ("prores.mov", "prores_ks", "yuv422p10le"), ("vp9.webm", "libvpx-vp9", "yuv420p"),
    ("hevc.mkv", "libx265", "yuv420p")])
def test_clips_of_each_common_codec_decode(tmp_path, name, encoder, pix_fmt):
    src = tmp_path / name
    with av.open(str(src), "w") as out:
        v = out.add_stream(encoder, rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, pix_fmt
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    result = upscale_video(src, tmp_path / "out.mkv", UpscaleConfig(scale=2))
    assert result.frames == 5 and probe(result.dst).width == 128
