"""MATLAB YCbCr constants and PSNR/SSIM against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sr_engine.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.errors import ConfigError
from sr_engine.metrics import gaussian_window, psnr, ssim


def colour(r: float, g: float, b: float) -> torch.Tensor:
    return torch.tensor([r, g, b], dtype=torch.float64).view(1, 3, 1, 1)


@pytest.mark.parametrize(("rgb", "ycc"), [
    ((1.0, 1.0, 1.0), (235.0, 128.0, 128.0)),
    ((0.0, 0.0, 0.0), (16.0, 128.0, 128.0)),
    ((1.0, 0.0, 0.0), (16 + 65.481, 128 - 37.797, 128 + 112.0)),
    ((0.0, 0.0, 1.0), (16 + 24.966, 128 + 112.0, 128 - 18.214)),
])
def test_matlab_constants(rgb: tuple, ycc: tuple) -> None:
    got = rgb_to_ycbcr(colour(*rgb)).flatten() * 255
    torch.testing.assert_close(got, torch.tensor(ycc, dtype=torch.float64), atol=1e-9, rtol=0)
    assert float(rgb_to_y(colour(*rgb)) * 255) == pytest.approx(ycc[0], abs=1e-9)


def test_inverse_is_exact_and_shapes_dtypes_kept() -> None:
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-12, rtol=0)
    x32 = x.float()
    assert rgb_to_ycbcr(x32).dtype == torch.float32 and rgb_to_y(x32).shape == (2, 1, 5, 7)
    assert rgb_to_y(x32.bfloat16()).dtype == torch.bfloat16
    torch.testing.assert_close(rgb_to_y(x32), rgb_to_ycbcr(x32)[:, :1])
    with pytest.raises(ConfigError):
        rgb_to_y(torch.rand(1, 1, 4, 4))


def test_psnr_of_a_known_mse() -> None:
    a = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    b = a.clone()
    b[0] += 0.1  # MSE 0.01 -> 20 dB
    b[1, :, ::2] += 0.2  # half the pixels off by 0.2: MSE 0.02
    got = psnr(a, b)
    assert got.shape == (2,)
    assert float(got[0]) == pytest.approx(20.0)
    assert float(got[1]) == pytest.approx(10 * math.log10(1 / 0.02))
    assert float(psnr(a[0, 0] * 255, b[0, 0] * 255, data_range=255.0)) == pytest.approx(20.0)


def test_crop_shaves_the_border() -> None:
    a = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    b = a.clone()
    b[..., :2, :] = 0.0
    b[..., :, -2:] = 1.0
    assert math.isfinite(float(psnr(a, b, crop=1)))
    assert float(psnr(a, b, crop=2)) == math.inf
    with pytest.raises(ConfigError):
        psnr(a, b, crop=6)
    with pytest.raises(ConfigError):
        psnr(a, b[..., :10])


def test_ssim_identical_is_one() -> None:
    x = torch.rand(3, 3, 20, 24)
    torch.testing.assert_close(ssim(x, x), torch.ones(3, dtype=torch.float64))


def test_ssim_of_constant_images_by_formula() -> None:
    # No variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * 255)^2.
    a, b, c1 = 100.0, 110.0, (0.01 * 255) ** 2
    got = ssim(torch.full((16, 16), a), torch.full((16, 16), b), data_range=255.0)
    assert float(got) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_ssim_matches_a_plain_2d_convolution() -> None:
    g = gaussian_window()
    w = (g[:, None] * g[None, :]).view(1, 1, 11, 11)
    x, y = torch.rand(2, 1, 1, 30, 26, dtype=torch.float64) * 255
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    vx, vy = F.conv2d(x * x, w) - mx**2, F.conv2d(y * y, w) - my**2
    cov = F.conv2d(x * y, w) - mx * my
    ref = ((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()
    assert float(ssim(x, y, data_range=255.0)) == pytest.approx(float(ref), rel=1e-12)
    assert float(ssim(x, y, crop=2, data_range=255.0)) == pytest.approx(
        float(ssim(x[..., 2:-2, 2:-2], y[..., 2:-2, 2:-2], data_range=255.0)), rel=1e-12)


def test_ssim_of_several_channels_is_their_mean() -> None:
    x, y = torch.rand(2, 1, 3, 16, 16)
    per_channel = [float(ssim(x[:, c], y[:, c])) for c in range(3)]
    assert float(ssim(x, y)[0]) == pytest.approx(sum(per_channel) / 3, rel=1e-12)
    with pytest.raises(ConfigError):
        ssim(x[..., :10, :10], y[..., :10, :10])
