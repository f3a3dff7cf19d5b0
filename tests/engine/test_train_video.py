"""Training a video model (VESPCN) through `sr-engine train`: clips made from stills by
random camera paths (sr_engine.data.clips), the motion losses trained jointly, validation on
clips made once from the validation stills; the checkpoint then upscales a clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.data.clips import ClipSampler, RealClipSampler
from sr_engine.data.motion import Motion
from sr_engine.errors import ConfigError
from sr_engine.inference import UpscaleConfig
from sr_engine.train import TrainConfig, train
from sr_engine.train.outputs import read_log
from sr_engine.video.evaluate import evaluate_video
from sr_engine.video.upscale import upscale_video
from sr_engine.zoo import load_model
from tests.engine.clips import PTS, make_clip
from tests.engine.test_train import SMOKE, _write_images


@pytest.fixture
def stills(tmp_path: Path) -> tuple[Path, Path]:
    return (_write_images(tmp_path / "train", 3, 96, 0), _write_images(tmp_path / "val", 2, 72, 1))


def test_clip_batches_are_frames_side_by_side_and_the_centre_hr(stills):
    sampler = ClipSampler([stills[0]], frames=3, motion=Motion(shift=2.0), scale=2,
                          patch_size=8, color="y", seed=0)
    lr, hr = sampler.batch(4)
    assert lr.shape == (4, 3, 8, 8) and hr.shape == (4, 1, 16, 16)
    # The neighbours moved, the centre did not: its LR is the centre HR's protocol LR.
    assert not torch.equal(lr[:, 0], lr[:, 1])
    again = ClipSampler([stills[0]], frames=3, motion=Motion(shift=2.0), scale=2,
                        patch_size=8, color="y", seed=0)
    assert torch.equal(again.batch(4)[0], lr)  # seeded: the same clips


def _config(stills: tuple[Path, Path], out: Path, *extra: str,
            hparams: str = "") -> TrainConfig:
    return TrainConfig.from_toml(SMOKE).with_overrides([
        'model.arch="vespcn"', f"model.hparams={{ layers = 3, features = 8{hparams} }}",
        "data.patch_size=8", f'data.train=["{stills[0]}"]',
        f'data.val="{stills[1]}"', f'train.out_dir="{out}"', "loss.l1=0", "loss.mse=1",
        "loss.warp=0.01", "loss.flow_smooth=0.001", *extra])


def test_vespcn_trains_validates_on_clips_and_upscales_a_clip(stills, tmp_path: Path):
    result = train(_config(stills, tmp_path / "run"))
    logged = [row for row in read_log(result.out_dir) if row["kind"] == "train"]
    assert {"mse", "warp", "flow_smooth"} <= set(logged[-1])
    assert {"psnr", "ssim"} <= set(result.best_metrics)
    assert len(list((tmp_path / "run" / "val_clips").iterdir())) == 3  # 2 clips + clips.json
    model = load_model(result.best_checkpoint)
    assert (model.spec.id, model.frames) == ("vespcn", 3)
    report = evaluate_video(model, tmp_path / "run" / "val_clips")
    assert report.n_clips == 2 and report.psnr_y == pytest.approx(result.best_metrics["psnr"])
    clip = make_clip(tmp_path / "clip.mp4")
    done = upscale_video(clip, tmp_path / "x2.mp4", UpscaleConfig(scale=2), model=model)
    assert done.frames == len(PTS)


def test_motion_losses_need_motion_compensation(stills, tmp_path: Path):
    with pytest.raises(ConfigError, match="loss.warp and loss.flow_smooth need a motion"):
        train(_config(stills, tmp_path / "run", hparams=', variant = "no_mc"'))


def _frame_folders(root: Path) -> Path:
    """Vimeo-90K's layout: root/sequences/00001/0001/im1.png ..., a bar moving right."""
    for clip in ("0001", "0002"):
        folder = root / "sequences" / "00001" / clip
        folder.mkdir(parents=True)
        for t in range(5):
            pixels = np.full((64, 80, 3), 60, np.uint8)
            pixels[:, 10 + 4 * t:14 + 4 * t] = 250
            Image.fromarray(pixels).save(folder / f"im{t + 1}.png")
    return root


def test_real_clips_from_frame_folders_and_video_files(tmp_path):
    folders = _frame_folders(tmp_path / "vimeo")
    video = make_clip(tmp_path / "clip.mp4", audio=False)
    sampler = RealClipSampler([folders, video], frames=3, scale=2, patch_size=8, color="y",
                              rot90=False, flips=False, seed=0)
    assert (len(sampler), sampler.skipped) == (3, 0)
    bigger = RealClipSampler([folders, video], frames=3, scale=2, patch_size=14, color="y")
    assert (len(bigger), bigger.skipped) == (2, 1)  # 48x32 frames: under a 36-pixel crop
    lr, hr = sampler.batch(6)
    assert lr.shape == (6, 3, 8, 8) and hr.shape == (6, 1, 16, 16)
    again = RealClipSampler([folders, video], frames=3, scale=2, patch_size=8, color="y",
                            rot90=False, flips=False, seed=0)
    assert again.fingerprint == sampler.fingerprint and torch.equal(again.batch(6)[0], lr)
    with pytest.raises(ConfigError, match="no clip of at least 9 frames"):
        RealClipSampler([folders], frames=9, scale=2, patch_size=8, color="y")


def test_a_video_model_trains_on_real_clips(stills, tmp_path):
    folders = _frame_folders(tmp_path / "vimeo")
    result = train(_config(stills, tmp_path / "run", "data.train=[]",
                           f'data.clips=["{folders}"]', "train.steps=2", "train.val_every=2",
                           "optim.warmup_steps=0"))
    assert result.steps == 2 and result.best_checkpoint is not None
    with pytest.raises(ConfigError, match="data.clips: espcn is an image model"):
        TrainConfig.from_toml(SMOKE).with_overrides([f'data.clips=["{folders}"]'])


def test_a_clips_frames_are_read_in_natural_order(tmp_path):
    folder = tmp_path / "clips" / "a"
    folder.mkdir(parents=True)
    for t in range(12):  # im1 ... im12: im10 sorts before im2 as text
        Image.fromarray(np.full((40, 40, 3), 20 * t, np.uint8)).save(folder / f"im{t + 1}.png")
    sampler = RealClipSampler([tmp_path / "clips"], frames=3, scale=2, patch_size=8,
                              color="rgb")
    assert sampler.clips[0][:, 0, 0, 0].tolist() == [20 * t for t in range(12)]
