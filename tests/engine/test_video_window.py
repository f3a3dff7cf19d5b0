"""Video models on clips (sr_engine.video.window, upscale_video): each wanted frame gets the
window of its neighbours, the clip's ends repeated; a resumed or trimmed run decodes enough
frames before its first one to give it the same window, so its output equals a whole run's."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from sr_engine.inference import UpscaleConfig
from sr_engine.registry import create_model, get_spec
from sr_engine.video.config import VideoConfig
from sr_engine.video.upscale import upscale_video
from sr_engine.video.window import windows
from sr_engine.zoo import LoadedModel
from tests.engine.clips import PTS, TIME_BASE, make_clip, timestamps
from tests.engine.test_video import pipeline  # noqa: F401 - threads and inline, autouse


def test_windows_repeat_the_ends_and_skip_unwanted_centres():
    items = [(i, True) for i in range(5)]
    assert list(windows(items, 3)) == [(0, [0, 0, 1]), (1, [0, 1, 2]), (2, [1, 2, 3]),
                                       (3, [2, 3, 4]), (4, [3, 4, 4])]
    assert list(windows(items, 1)) == [(i, [i]) for i in range(5)]
    assert [w for _, w in windows(items[:2], 5)] == [[0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]
    context = [(0, False), (1, False), (2, True), (3, True)]  # decoded for context only
    assert list(windows(context, 3)) == [(2, [1, 2, 3]), (3, [2, 3, 3])]


def _vespcn(scale: int = 2) -> LoadedModel:
    torch.manual_seed(0)
    spec = get_spec("vespcn")
    hp = spec.resolve_hparams({"max_flow": 4.0})
    return LoadedModel(module=create_model("vespcn", scale=scale, **hp).eval(), spec=spec,
                       scale=scale, hparams=hp, meta=None, name="vespcn_test",
                       device=torch.device("cpu"))


def _pixels(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_a_video_model_upscales_a_clip_and_resumes_frame_exactly(tmp_path):
    model = _vespcn()
    src = make_clip(tmp_path / "clip.mp4", keyframe_every=3)
    config, every_frame = UpscaleConfig(scale=2, tile=0), VideoConfig(segment_s=0, crf=0)
    whole = upscale_video(src, tmp_path / "whole.mp4", config, every_frame, model=model)
    assert whole.frames == len(PTS) and timestamps(whole.dst) == [p * TIME_BASE for p in PTS]

    def stop_at_6(event):
        if event.stage == "encoding" and event.current == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale_video(src, tmp_path / "out.mp4", config, every_frame, model=model,
                      progress=stop_at_6)
    resumed = upscale_video(src, tmp_path / "out.mp4", config, every_frame, model=model)
    assert resumed.resumed > 0
    # The resumed frames saw the same neighbours: the same pictures (x264 at crf 0).
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(resumed.dst), _pixels(whole.dst),
                                                     strict=True))
    trimmed = upscale_video(src, tmp_path / "cut.mp4", config,
                            VideoConfig(start_s=0.1, end_s=0.3, crf=0), model=model)
    assert trimmed.frames == 4  # frames 5, 9, 10, 12 of 50ths: the middle of the clip
    first = _pixels(trimmed.dst)[0].astype(int)
    assert np.abs(first - _pixels(whole.dst)[3]).max() <= 2  # frame 5 with frame 4 before it
