"""Sample crops, the degradation preview and the `on_validate` hook of the training loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.degrade import Degradation
from sr_engine.errors import ImageError
from sr_engine.registry import create_model
from sr_engine.train import TrainConfig, train
from sr_engine.train.samples import center_crop, degradation_preview, sample_crops


def _hr(h: int = 50, w: int = 70) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))


def test_center_crop_is_a_centred_multiple_of_the_scale():
    crop = center_crop(_hr(), 96, 3)
    assert crop.shape == (3, 48, 48)
    with pytest.raises(ImageError, match="too small"):
        center_crop(_hr(2, 2), 96, 3)


@pytest.mark.parametrize("arch", ["espcn", "bicubic"])
def test_sample_crops_have_hr_size_and_restore_the_mode(arch):
    model = create_model(arch, scale=2).train()
    color = "y" if arch == "espcn" else "rgb"
    crops = sample_crops(model, _hr(), scale=2, color=color, size=32)
    assert set(crops) == {"lr", "bicubic", "model", "hr"}
    assert all(x.shape == (3, 32, 32) and x.min() >= 0 and x.max() <= 1 for x in crops.values())
    assert model.training
    if arch == "bicubic":  # bicubic as "the model" is the bicubic view
        torch.testing.assert_close(crops["model"], crops["bicubic"], atol=1e-5, rtol=0)


def test_degradation_preview_follows_the_degradation_and_seed():
    hr = _hr()
    plain = degradation_preview(hr, scale=2, degradation=Degradation())
    noisy = degradation_preview(hr, scale=2, degradation=Degradation(noise_prob=1.0), seed=1)
    again = degradation_preview(hr, scale=2, degradation=Degradation(noise_prob=1.0), seed=1)
    assert plain["lr"].shape == plain["hr"].shape == plain["bicubic"].shape == (3, 50, 50)
    assert not torch.equal(plain["lr"], noisy["lr"]) and torch.equal(noisy["lr"], again["lr"])


def test_on_validate_sees_each_validation(tmp_path: Path):
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    config = TrainConfig.from_dict({
        "model": {"arch": "espcn", "scale": 2, "hparams": {"n1": 4, "n2": 4}},
        "data": {"train": [str(folder)], "val": str(folder), "patch_size": 8, "batch_size": 2},
        "train": {"steps": 4, "val_every": 2, "device": "cpu", "out_dir": str(tmp_path / "o")}})
    seen = []
    train(config, on_validate=lambda module, step: seen.append((step, module.training)))
    assert [step for step, _ in seen] == [2, 4]
