"""MATLAB bicubic imresize: weights derived by hand from the kernel, invariants, locality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr_engine.degrade import resize
from sr_engine.degrade.resize import (
    contributions,
    imresize,
    modcrop,
    quantize,
    round_half_away,
    to_uint8,
)
from sr_engine.errors import ConfigError

# Keys cubic (a = -0.5) at distances 1.75, 0.75, 0.25, 1.25: all exact binary fractions.
C175, C075, C025, C125 = -0.0234375, 0.2265625, 0.8671875, -0.0703125



def row(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(1, 1, 1, -1)


def test_upscale_x2_weights_by_hand() -> None:
    # Output 2k (0-based) sits at input coordinate k - 1/4: taps k-2..k+1 at distances
    # 1.75, 0.75, 0.25, 1.25; output 2k+1 sits at k + 1/4, the mirror image of that.
    x = [3.0, -1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    y = imresize(row(x), 2.0)[0, 0, 0].tolist()
    assert len(y) == 16
    for k in range(2, 7):
        assert y[2 * k] == C175 * x[k - 2] + C075 * x[k - 1] + C025 * x[k] + C125 * x[k + 1]
    for k in range(1, 6):
        assert y[2 * k + 1] == C125 * x[k - 1] + C025 * x[k] + C075 * x[k + 1] + C175 * x[k + 2]
    # Left border: taps -1 and -2 mirror to 0 and 1 (MATLAB repeats the edge pixel).
    assert y[0] == (C075 + C025) * x[0] + (C175 + C125) * x[1]


def test_downscale_x2_weights_by_hand() -> None:
    # Antialiased: kernel 0.5 * cubic(0.5 d) over 8 taps; output j centres on input 2j + 0.5.
    half = [0.5 * c for c in (C175, C125, C075, C025, C025, C075, C125, C175)]
    x = np.random.default_rng(0).random(20)
    y = imresize(row(x.tolist()), 0.5)[0, 0, 0].numpy()
    assert y.shape == (10,)
    for j in range(2, 8):
        assert y[j] == pytest.approx(float(np.dot(half, x[2 * j - 3:2 * j + 5])), abs=1e-12)


def test_contributions_rows_sum_to_one_and_indices_in_range() -> None:
    for in_len, scale in ((7, 3.0), (9, 1 / 3), (5, 0.25), (13, 0.7)):
        out_len = int(np.ceil(in_len * scale))
        w, idx = contributions(in_len, out_len, scale)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
        assert idx.min() >= 0 and idx.max() < in_len


@pytest.mark.parametrize("scale", [2.0, 3.0, 4.0, 0.5, 1 / 3, 0.25])
def test_constant_stays_constant(scale: float) -> None:
    x = torch.full((2, 3, 24, 18), 0.375, dtype=torch.float64)
    y = imresize(x, scale)
    assert y.shape == (2, 3, int(np.ceil(24 * scale)), int(np.ceil(18 * scale)))
    torch.testing.assert_close(y, torch.full_like(y, 0.375), atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [2.0, 3.0, 4.0, 0.5, 0.25])
def test_linear_ramp_reproduced_away_from_borders(scale: float) -> None:
    # Cubic convolution reproduces linear functions; output pixel j (0-based) sits at input
    # coordinate (j + 0.5) / scale - 0.5.
    n = 64
    y = imresize(row(list(range(n))), scale)[0, 0, 0]
    pos = (torch.arange(y.numel(), dtype=torch.float64) + 0.5) / scale - 0.5
    margin = 3.0 / min(scale, 1.0)
    inner = (pos > margin) & (pos < n - 1 - margin)
    torch.testing.assert_close(y[inner], pos[inner], atol=1e-9, rtol=0)


def test_size_argument_and_axis_order() -> None:
    x = torch.rand(1, 2, 30, 40, dtype=torch.float64)
    y = imresize(x, size=(15, 80))
    assert y.shape == (1, 2, 15, 80)
    # Separable and linear: the same as resizing each axis on its own (either order).
    w_only = imresize(x, size=(30, 80))
    torch.testing.assert_close(imresize(w_only, size=(15, 80)), y, atol=1e-12, rtol=0)


def test_long_axis_banded_chunks_match_direct_weighted_sum() -> None:
    # 700 inputs are split into several banded matmul chunks at both scales.
    x = torch.rand(2, 2, 5, 700, dtype=torch.float64)
    for scale in (2.0, 1 / 3):
        out_w = int(np.ceil(700 * scale))
        w, idx = contributions(700, out_w, out_w / 700)  # size= implies scale out/in
        direct = (x[..., torch.tensor(idx)] * torch.tensor(w)).sum(-1)
        torch.testing.assert_close(imresize(x, size=(5, out_w)), direct, atol=1e-12, rtol=0)


def test_batch_equals_single_images() -> None:
    x = torch.rand(3, 2, 20, 30)
    y = imresize(x, 1 / 3)
    for i in range(3):
        torch.testing.assert_close(imresize(x[i:i + 1], 1 / 3), y[i:i + 1])


def test_tiles_equal_whole_image() -> None:
    # Upscaling is local: a crop with a 3-pixel margin reproduces the whole image's interior.
    x = torch.rand(1, 3, 40, 40)
    whole = imresize(x, 4.0)
    tile = imresize(x[..., 10:30, 12:32], 4.0)
    torch.testing.assert_close(tile[..., 12:68, 12:68], whole[..., 52:108, 60:116],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_kept(dtype: torch.dtype) -> None:
    x = torch.rand(1, 1, 8, 8).to(dtype)
    y = imresize(x, 2.0)
    assert y.dtype == dtype
    ref = imresize(x.double(), 2.0)
    torch.testing.assert_close(y.double(), ref, atol=2e-2, rtol=0)


def test_differentiable() -> None:
    x = torch.rand(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, 2.0), (x,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.rand(2, 3, 50, 70)
    for scale in (4.0, 0.25):
        torch.testing.assert_close(imresize(x.cuda(), scale).cpu(), imresize(x, scale),
                                   atol=1e-5, rtol=0)


def test_bad_arguments() -> None:
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ConfigError):
        imresize(x)
    with pytest.raises(ConfigError):
        imresize(x, 2.0, size=(8, 8))
    with pytest.raises(ConfigError):
        imresize(torch.ones(1, 1, 4, 4, dtype=torch.uint8), 2.0)
    with pytest.raises(ConfigError):
        imresize(x, -1.0)


def test_modcrop_numpy_and_tensor() -> None:
    assert modcrop(np.zeros((13, 10, 3)), 4).shape == (12, 8, 3)
    assert modcrop(np.zeros((13, 10)), 3).shape == (12, 9)
    assert modcrop(torch.zeros(2, 3, 13, 10), 4).shape == (2, 3, 12, 8)


def test_rounding_like_matlab() -> None:
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 2.4999])
    assert round_half_away(x).tolist() == [1.0, 2.0, 3.0, -1.0, -3.0, 2.0]
    levels = torch.tensor([-0.1, 0.0, 2.5 / 255, 127.5 / 255, 1.0, 1.2])
    assert to_uint8(levels).tolist() == [0, 0, 3, 128, 255, 255]
    torch.testing.assert_close(quantize(levels), to_uint8(levels).float() / 255)


def test_autocast_does_not_lower_precision() -> None:
    x = torch.rand(1, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = imresize(x, 2.0)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, imresize(x, 2.0), atol=1e-6, rtol=0)


def test_gather_path_used_off_cpu_matches_banded_path() -> None:
    # CUDA runs the gather form; check it here on CPU against the banded matmuls.
    x = torch.rand(2, 3, 30, 300, dtype=torch.float64)
    for in_len, dim, scale in ((300, -1, 1 / 3), (30, -2, 4.0)):
        out_len = int(np.ceil(in_len * scale))
        plan = resize._plan(in_len, out_len, scale, x.device, x.dtype)
        torch.testing.assert_close(resize._gathered(x, dim, plan), resize._banded(x, dim, plan),
                                   atol=1e-12, rtol=0)
