"""DeepSR's draft ensemble (sr_engine.archs.deepsr): drafts are neighbours warped onto the
centre frame by optical flow under each setting, the CNN adds to the bicubic centre frame,
and the model trains through `sr-engine train` and upscales a clip like any video model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sr_engine.archs.common import upsample_bicubic
from sr_engine.archs.deepsr import DeepSR, make_drafts
from sr_engine.inference import UpscaleConfig
from sr_engine.registry import create_model, get_spec
from sr_engine.train import TrainConfig, train
from sr_engine.video.upscale import upscale_video
from sr_engine.zoo import load_model
from tests.engine.clips import PTS, make_clip
from tests.engine.test_train import SMOKE, _write_images

TINY = "{ features = [8, 8], deblur = 5, alphas = [5, 80] }"


def _pan(shift: float, frames: int = 3, size: int = 48) -> torch.Tensor:
    """(1, frames, size, size): a smooth texture moving `shift` pixels right per frame."""
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.random((1, 1, size // 4, size // 4), dtype=np.float32))
    texture = upsample_bicubic(base, 4).clamp(0, 1)[0, 0]
    xs = torch.arange(size, dtype=torch.float32)
    out = []
    for t in range(frames):
        pos = (xs - shift * (t - frames // 2)).clamp(0, size - 1)
        left = pos.floor().long().clamp(max=size - 2)
        frac = pos - left
        out.append(texture[:, left] * (1 - frac) + texture[:, left + 1] * frac)
    return torch.stack(out)[None]


def test_drafts_are_neighbours_warped_onto_the_centre_under_each_setting():
    frames = _pan(2.5)
    drafts = make_drafts(frames, alphas=(5, 20, 80))
    assert drafts.shape == (1, 1 + 2 * 3, 48, 48)
    assert torch.equal(drafts[:, 0], frames[:, 1])  # the centre frame first
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from the borders it cannot see
    centre = frames[0, 1][inner[1:]]
    for k in range(1, 7):
        neighbour = frames[0, 0 if k <= 3 else 2][inner[1:]]
        warped = drafts[0, k][inner[1:]]
        assert (warped - centre).abs().mean() < 0.25 * (neighbour - centre).abs().mean(), k
    assert torch.equal(make_drafts(frames, alphas=(5, 20, 80)), drafts)  # deterministic


def test_the_cnn_adds_to_the_bicubic_centre_frame():
    torch.manual_seed(0)
    model = DeepSR(scale=2, features=(8, 8), deblur=5).eval()
    lr = _pan(1.0, size=16)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
        out = model(lr)
    assert out.shape == (1, 1, 32, 32)
    assert torch.equal(out, upsample_bicubic(lr, 2)[:, 1:2].clamp(0, 1))  # drafts are clamped
    spec = get_spec("deepsr")
    assert spec.kind == "video" and spec.frames(spec.resolve_hparams({"variant": "e5"})) == 5
    assert create_model("deepsr", scale=4).body[0].in_channels == 1 + 2 * 3


def test_deepsr_trains_on_synthetic_clips_and_upscales_a_clip(tmp_path: Path):
    stills = (_write_images(tmp_path / "train", 3, 96, 0),
              _write_images(tmp_path / "val", 2, 72, 1))
    config = TrainConfig.from_toml(SMOKE).with_overrides([
        'model.arch="deepsr"', f"model.hparams={TINY}", "data.patch_size=8",
        f'data.train=["{stills[0]}"]', f'data.val="{stills[1]}"',
        f'train.out_dir="{tmp_path / "run"}"'])
    result = train(config)
    assert {"psnr", "ssim"} <= set(result.best_metrics)
    model = load_model(result.best_checkpoint)
    assert (model.spec.id, model.frames, model.hparams["alphas"]) == ("deepsr", 3, [5, 80])
    done = upscale_video(make_clip(tmp_path / "clip.mp4"), tmp_path / "x2.mp4",
                         UpscaleConfig(scale=2), model=model)
    assert done.frames == len(PTS)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_scale_builds_and_runs(scale):
    model = create_model("deepsr", scale=scale, features=[4, 4], deblur=3).eval()
    with torch.no_grad():
        assert model(_pan(1.0, size=12)).shape == (1, 1, 12 * scale, 12 * scale)


def test_the_fast_path_never_freezes_the_drafts():
    # A TorchScript trace would keep one input's drafts as constants: tracing is refused,
    # and the fast path (fp32 "frozen", "fused") falls back to eager.
    model = create_model("deepsr", scale=2, features=[4, 4], deblur=3).eval()
    with pytest.raises(RuntimeError, match="cannot be traced"):
        torch.jit.trace(model, _pan(1.0, size=12), check_trace=False)
