"""Training degradations: BI by default, determinism, each step's effect, strict config."""

from __future__ import annotations

import pytest
import torch

from sr_engine.degrade import (
    Degradation,
    add_gaussian_noise,
    degrade,
    gaussian_blur,
    gaussian_kernel1d,
    imresize,
    jpeg_roundtrip,
    quantize,
)
from sr_engine.errors import ConfigError

ALL_ON = Degradation(blur_prob=0.5, noise_prob=0.5, jpeg_prob=0.5)



def hr_batch(n: int = 4, size: int = 48) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(7))


def test_default_is_pure_bicubic_quantised() -> None:
    hr = hr_batch()
    lr = degrade(hr, 4, Degradation(), torch.Generator().manual_seed(0))
    assert torch.equal(lr, quantize(imresize(hr, 0.25)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shape_and_8bit_grid(scale: int) -> None:
    hr = hr_batch(size=24)
    lr = degrade(hr, scale, ALL_ON, torch.Generator().manual_seed(1))
    assert lr.shape == (4, 3, 24 // scale, 24 // scale) and lr.dtype == hr.dtype
    levels = lr * 255
    assert torch.equal(levels, torch.round(levels)) and lr.min() >= 0 and lr.max() <= 1


def test_deterministic_per_generator_state() -> None:
    hr = hr_batch()
    a = degrade(hr, 2, ALL_ON, torch.Generator().manual_seed(3))
    b = degrade(hr, 2, ALL_ON, torch.Generator().manual_seed(3))
    c = degrade(hr, 2, ALL_ON, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Resuming from a saved generator state replays the same degradations.
    gen = torch.Generator().manual_seed(5)
    degrade(hr, 2, ALL_ON, gen)
    state = gen.get_state()
    first = degrade(hr, 2, ALL_ON, gen)
    assert torch.equal(first, degrade(hr, 2, ALL_ON, torch.Generator().set_state(state)))


def test_each_step_changes_the_lr() -> None:
    hr, base = hr_batch(), quantize(imresize(hr_batch(), 0.5))
    for cfg in (Degradation(blur_prob=1.0), Degradation(noise_prob=1.0),
                Degradation(jpeg_prob=1.0, jpeg_quality=(10, 10))):
        lr = degrade(hr, 2, cfg, torch.Generator().manual_seed(0))
        assert (lr - base).abs().mean() > 1 / 255, cfg


def test_blur_keeps_constants_and_smooths() -> None:
    g = gaussian_kernel1d(1.5)
    assert g.numel() == 11 and float(g.sum()) == pytest.approx(1.0)
    flat = torch.full((1, 3, 20, 20), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    noise = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert gaussian_blur(noise, 1.0).std() < 0.5 * noise.std()


def test_noise_has_the_asked_std() -> None:
    x = torch.zeros(2, 3, 64, 64)
    y = add_gaussian_noise(x, 10.0, torch.Generator().manual_seed(0))
    assert float(y.std() * 255) == pytest.approx(10.0, rel=0.05)
    per_image = torch.tensor([0.0, 20.0]).view(2, 1, 1, 1)
    y = add_gaussian_noise(x, per_image, torch.Generator().manual_seed(0))
    assert float(y[0].abs().max()) == 0.0 and float(y[1].std() * 255) == pytest.approx(20, rel=0.05)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_roundtrip(channels: int) -> None:
    x = quantize(imresize(torch.rand(1, channels, 8, 8, generator=torch.Generator().manual_seed(0)),
                          4.0).clamp(0, 1))[0]
    hi, lo = jpeg_roundtrip(x, 100), jpeg_roundtrip(x, 5)
    assert hi.shape == x.shape and torch.equal(hi * 255, torch.round(hi * 255))
    assert (hi - x).abs().mean() < (lo - x).abs().mean()
    # Colour JPEG halves the chroma resolution (4:2:0), which random colours feel.
    assert (hi - x).abs().mean() < (2 if channels == 1 else 10) / 255


def test_config_is_strict() -> None:
    cfg = Degradation.from_dict({"blur_prob": 0.3, "blur_sigma": [0.5, 1.5]})
    assert cfg.blur_sigma == (0.5, 1.5) and Degradation.from_dict(cfg.to_dict()) == cfg
    for bad in ({"blur_prob": 1.5}, {"noise_sigma": [5.0, 1.0]}, {"jpeg_quality": [0, 90]},
                {"jpeg_quality": [50, 101]}, {"sharpen": 1.0}):
        with pytest.raises(ConfigError):
            Degradation.from_dict(bad)
