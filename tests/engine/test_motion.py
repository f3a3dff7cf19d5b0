"""Synthetic camera motion (sr_engine.data.motion) and clips made from stills
(sr_engine.video.synth, `sr-engine make-clips`): the centre frame is the still's own pixels,
a whole-pixel shift moves content exactly, paths are smooth, seeded and within bounds, and the
folders are what `evaluate --video` reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.cli import main
from sr_engine.data.motion import (
    Motion,
    Trajectory,
    clip_from_still,
    margin,
    random_trajectory,
    render,
)
from sr_engine.errors import ConfigError
from sr_engine.video.evaluate import find_clips
from sr_engine.video.synth import RECIPE, make_clips


def _still(h: int = 60, w: int = 80, channels: int = 3) -> torch.Tensor:
    return torch.rand(channels, h, w, generator=torch.Generator().manual_seed(1),
                      dtype=torch.float64)


def test_identity_is_exact_and_whole_pixel_shifts_move_content_exactly():
    still = _still()
    path = Trajectory(dx=(0.0, 2.0), dy=(0.0, -1.0), angle=(0.0, 0.0), zoom=(1.0, 1.0))
    frames = render(still, path, (30, 40))
    assert torch.allclose(frames[0], still[:, 15:45, 20:60], atol=1e-12)
    # content moved by (+2, -1): frame pixel (y, x) shows the still at (y + 1, x - 2)
    assert torch.allclose(frames[1], still[:, 16:46, 18:58], atol=1e-12)


def test_sub_pixel_motion_interpolates_between_neighbours():
    ramp = torch.arange(80, dtype=torch.float64).repeat(1, 60, 1)  # value = column
    half = Trajectory(dx=(0.5,), dy=(0.0,), angle=(0.0,), zoom=(1.0,))
    frame = render(ramp, half, (20, 20))[0]
    assert torch.allclose(frame, ramp[:, 20:40, 30:50] - 0.5, atol=1e-9)  # a linear ramp


def test_random_paths_are_seeded_smooth_and_bounded():
    motion = Motion(shift=2.0, angle=0.5, zoom=0.01)
    a = random_trajectory(9, motion, generator=torch.Generator().manual_seed(3))
    b = random_trajectory(9, motion, generator=torch.Generator().manual_seed(3))
    c = random_trajectory(9, motion, generator=torch.Generator().manual_seed(4))
    assert a == b and a != c and len(a) == 9
    assert (a.dx[4], a.dy[4], a.angle[4], a.zoom[4]) == (0.0, 0.0, 0.0, 1.0)
    steps = np.abs(np.diff(a.dx))
    assert steps.max() <= 2.0 + 1e-9 and np.abs(np.diff(steps)).max() <= 1.0 + 1e-9
    assert margin(a, (100, 100)) >= max(map(abs, a.dx)) + 2


def test_a_clip_from_a_still_fits_it_and_is_8_bit():
    clip = clip_from_still(_still(120, 150), 5, generator=torch.Generator().manual_seed(0))
    t, c, h, w = clip.shape
    assert (t, c) == (5, 3) and h % 12 == 0 and w % 12 == 0 and h < 120 and w < 150
    assert torch.equal(torch.round(clip * 255), clip * 255)
    with pytest.raises(ConfigError, match="too small for this motion"):
        clip_from_still(_still(20, 20), 9, motion=Motion(shift=3.0))


def test_make_clips_writes_what_evaluate_video_reads(tmp_path, capsys):
    stills = tmp_path / "stills"
    stills.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (72, 96, 3), np.uint8)).save(stills / "a.png")
    Image.fromarray(rng.integers(0, 256, (84, 84), np.uint8)).save(stills / "b.png")
    folders = make_clips(stills, tmp_path / "clips", frames=4, seed=2)
    assert [f.name for f in folders] == ["a", "b"]
    clips = find_clips(tmp_path / "clips")
    assert [(c.name, len(c.frames)) for c in clips] == [("a", 4), ("b", 4)]
    assert Image.open(clips[1].frames[0]).mode == "L"  # a gray still makes a gray clip
    assert json.loads((tmp_path / "clips" / RECIPE).read_text())["seed"] == 2
    again = tmp_path / "again"
    assert main(["-q", "make-clips", str(stills), "-o", str(again), "--frames", "4",
                 "--seed", "2"]) == 0
    assert "2 clips of 4 frames" in capsys.readouterr().out
    first = (tmp_path / "clips" / "a" / "frame_000.png").read_bytes()
    assert (again / "a" / "frame_000.png").read_bytes() == first  # seeded: made again
    assert main(["make-clips", str(tmp_path / "none"), "-o", str(again)]) == 2
