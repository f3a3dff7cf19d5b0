"""Segments, resume and trim (sr_engine.video.parts, sr_engine.video.join): an interrupted
clip resumes after its last finished segment and ends frame for frame as an uninterrupted
run; parts of another run are never mixed in; a cancel keeps nothing; a trimmed clip starts
at 0 with the audio that belongs to its frames."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sr_engine.cli import main
from sr_engine.errors import Cancelled
from sr_engine.inference import UpscaleConfig
from sr_engine.progress import ProgressEvent
from sr_engine.video import upscale as upscale_module
from sr_engine.video.config import VideoConfig
from sr_engine.video.parts import MANIFEST
from sr_engine.video.upscale import upscale_video
from tests.engine.clips import PTS, TIME_BASE, audio_packets, make_clip, timestamps
from tests.engine.test_video import pipeline  # noqa: F401 - threads and inline, autouse

EVERY_FRAME = VideoConfig(segment_s=0)  # a segment per frame: interruptions between any two


def _stop_at(frame: int, error: type[BaseException]):
    def callback(event: ProgressEvent) -> None:
        if event.stage == "encoding" and event.current == frame:
            raise error("stopped")
    return callback


def _pixels(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_an_interrupted_clip_resumes_after_its_finished_segments(tmp_path):
    # Keyframes every 3 frames: a resumed run seeks to the one before its first frame.
    src = make_clip(tmp_path / "clip.mp4", rotation=90, keyframe_every=3)
    with av.open(str(src)) as c:
        assert sum(p.is_keyframe for p in c.demux(video=0)) >= 3
    whole = upscale_video(src, tmp_path / "whole.mp4", UpscaleConfig(scale=2), EVERY_FRAME)
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, UpscaleConfig(scale=2), EVERY_FRAME,
                      progress=_stop_at(6, KeyboardInterrupt))
    parts = tmp_path / ".out.mp4.parts"
    kept = json.loads((parts / MANIFEST).read_text())["segments"]
    assert not dst.exists() and 3 <= len(kept) <= 6  # the frames written before the stop
    # Nothing else beside the output: a kill there would leave no temp file either.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mp4.parts", "clip.mp4",
                                                          "whole.mp4"]
    (parts / "segment-00099.mp4").write_bytes(b"cut short by a kill")
    events: list[ProgressEvent] = []
    result = upscale_video(src, dst, UpscaleConfig(scale=2), EVERY_FRAME,
                           progress=events.append)
    assert result.resumed == sum(s["frames"] for s in kept) and result.frames == len(PTS)
    assert next(e.current for e in events if e.stage == "encoding") == result.resumed + 1
    assert not parts.exists()
    assert timestamps(dst) == [p * TIME_BASE for p in PTS]
    assert audio_packets(dst) == audio_packets(src)
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(dst), _pixels(whole.dst),
                                                     strict=True))


def test_parts_of_another_run_are_not_mixed_in_and_a_cancel_keeps_nothing(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, dst, UpscaleConfig(scale=2), EVERY_FRAME,
                      progress=_stop_at(4, KeyboardInterrupt))
    other = upscale_video(src, dst, UpscaleConfig(scale=2), VideoConfig(segment_s=0, crf=30))
    assert other.resumed == 0 and other.frames == len(PTS)
    with pytest.raises(Cancelled):
        upscale_video(src, tmp_path / "gone.mp4", UpscaleConfig(scale=2), EVERY_FRAME,
                      progress=_stop_at(4, Cancelled))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


def test_a_parts_folder_can_be_named(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")
    parts = tmp_path / "job-7"
    parts.mkdir()
    (parts / "notes.txt").write_text("the caller's")  # a named folder may hold other files
    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2), EVERY_FRAME,
                      progress=_stop_at(5, KeyboardInterrupt), parts=parts)
    assert (parts / MANIFEST).is_file()
    result = upscale_video(src, tmp_path / "out.mp4", UpscaleConfig(scale=2), EVERY_FRAME,
                           parts=parts)
    assert result.resumed > 0 and [p.name for p in parts.iterdir()] == ["notes.txt"]


def test_a_trimmed_clip_starts_at_zero_with_the_audio_of_its_frames(tmp_path):
    src = make_clip(tmp_path / "clip.mp4")
    start, end = 0.1, 0.3  # frames at 5, 9, 10, 12 fiftieths
    result = upscale_video(src, tmp_path / "cut.mp4", UpscaleConfig(scale=2),
                           VideoConfig(start_s=start, end_s=end, segment_s=0))
    assert timestamps(result.dst) == [Fraction(p - 5, 50) for p in (5, 9, 10, 12)]
    with av.open(str(src)) as c:
        stream = c.streams.audio[0]
        wanted = [bytes(p) for p in c.demux(stream) if p.dts is not None
                  and Fraction(5, 50) <= p.dts * stream.time_base < end]
    assert wanted and audio_packets(result.dst) == wanted


def test_the_cli_trims_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    src = make_clip(tmp_path / "clip.mp4")
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "a.mp4"), "--scale", "2",
                 "--start", "0.1", "--end", "0.3"]) == 0
    assert "4 frames" in capsys.readouterr().out
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "b.mp4"), "--scale", "2",
                 "--start", "0.3", "--preview", "0.2"]) == 0
    assert "3 frames" in capsys.readouterr().out  # 17, 18 and 20 fiftieths
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "c.mp4"),
                 "--start", "0.3", "--end", "0.2"]) == 2
    assert "end_s: must be after start_s" in capsys.readouterr().err


def test_ctrl_c_in_the_cli_keeps_the_segments_and_says_so(tmp_path, capsys, monkeypatch):
    src = make_clip(tmp_path / "clip.mp4")
    real, calls = upscale_module._upscaled, []

    def interrupted_at_frame_5(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(upscale_module, "_upscaled", interrupted_at_frame_5)
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "x2.mp4"), "--scale", "2",
                 "--segment", "0"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "x2.mp4"), "--scale", "2"]) \
        == 0
    # 4 frames were done; with threads, the encoder may not have finished the 4th.
    assert re.search(r"10 frames, [34] of them from an interrupted run", capsys.readouterr().out)
