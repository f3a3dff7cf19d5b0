"""The video quality table (sr_engine.video.quality, `sr-engine benchmark`): bicubic and every
x4 checkpoint scored on a clip set, best first, with the published Vid4 figures under it; the
development set is made from the Set14 stills once and named as what it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.cli import main
from sr_engine.registry import create_model
from sr_engine.video import quality as vq
from tests.engine.test_video_evaluate import _clip


def _stills(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (96, 120, 3), np.uint8)).save(folder / f"{i}.png")
    return folder


def test_the_development_set_is_made_once_from_set14_and_named(tmp_path):
    set14 = _stills(tmp_path / "Set14")
    clips, label = vq.clip_set(None, [tmp_path / "Set5", set14], tmp_path / "cache")
    assert clips == tmp_path / "cache" and "Set14 stills" in label and "not Vid4" in label
    made = (clips / "0" / "frame_000.png").stat().st_mtime_ns
    assert vq.clip_set(None, [set14], tmp_path / "cache")[0] == clips
    assert (clips / "0" / "frame_000.png").stat().st_mtime_ns == made  # not made again
    assert vq.clip_set(tmp_path / "vid4", [set14], tmp_path / "x") == (tmp_path / "vid4",
                                                                        "vid4")
    assert vq.clip_set(None, [tmp_path / "Set5"], tmp_path / "y") == (Path(), "")


def test_benchmark_scores_bicubic_and_x4_checkpoints_on_clips(tmp_path, monkeypatch):
    _clip(tmp_path / "vid" / "walk", 3)
    weights = tmp_path / "weights"
    weights.mkdir()
    hp = {"layers": 3, "features": 8}
    save_checkpoint(weights / "vespcn_x4.safetensors", create_model("vespcn", scale=4, **hp),
                    CheckpointMeta.for_arch("vespcn", scale=4, hparams=hp))
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(weights))
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", tmp_path / "none")
    out = tmp_path / "bench.md"
    assert main(["-q", "benchmark", "--models", "bicubic", "--scales", "4", "--no-speed",
                 "--data", str(_stills(tmp_path / "stills")), "--video-data",
                 str(tmp_path / "vid"),
                 "--precision-check", "never", "--out", str(out)]) == 0
    text = out.read_text()
    table = text[text.index("## Video quality"):]
    assert "On vid, x4, BI, Y, border 4" in table
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    cells = [r.split(" | ") for r in rows]
    assert sorted(c[1:3] for c in cells) == [["bicubic", "1"], ["vespcn", "3"]]
    psnrs = [float(c[3]) for c in cells]
    assert psnrs == sorted(psnrs, reverse=True)  # best first
    assert "Published on Vid4 (BI x4, Y): bicubic 23.78 / 0.6347" in table
