"""NIQE, the no-reference Natural Image Quality Evaluator (Mittal, Soundararajan, Bovik,
"Making a 'Completely Blind' Image Quality Analyzer", IEEE SPL 2013), as the authors' MATLAB
release computes it (computequality.m, computefeature.m, estimateaggdparam.m): lower is more
natural.

The image is cut to whole 96x96 blocks (top-left); at each of two scales (the second is MATLAB
`imresize(im, 0.5)`, bicubic with antialiasing) its MSCN coefficients (7x7 Gaussian window,
'replicate' borders as `imfilter`) give 18 AGGD features per block (blocks of 96/scale pixels);
the 36-feature mean (`nanmean`) and covariance (`nancov`) of the blocks are compared with the
pristine model through `pinv` of the averaged covariances. Vectorised over blocks, float64.
Where a neighbourhood's weighted mean equals its centre exactly (flat areas), the MSCN
coefficient is exactly 0 rather than MATLAB's rounding residue (see `mscn`).

The pristine model is not shipped: `$SR_NIQE_PARAMS`, else `metrics/niqe_pris_params.npz` in
the shared data folder (`sr_engine.paths.shared_data_dir`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sr_engine.color import rgb_to_y
from sr_engine.degrade.resize import imresize, round_half_away
from sr_engine.errors import ConfigError, ImageError
from sr_engine.paths import REPO_ROOT, shared_data_dir

ENV_PARAMS = "SR_NIQE_PARAMS"
PARAMS_NAME = "niqe_pris_params.npz"
BLOCK = 96  # block_size_h = block_size_w = 96, no overlap (the release's settings)
N_FEATURES = 18  # per scale
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # circshift offsets of computefeature.m
_ROWS_PER_CHUNK = 256  # rows of the (rows x 9801) gamma-grid search held at once


@dataclass(frozen=True)
class NiqeModel:
    """The pristine model: feature mean (36,), covariance (36, 36), 7x7 Gaussian window."""

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray


def niqe_params_path() -> Path:
    """`$SR_NIQE_PARAMS`, else <shared data>/metrics/niqe_pris_params.npz (may not exist)."""
    env = os.environ.get(ENV_PARAMS)
    if env:
        return Path(os.path.expandvars(os.path.expanduser(env)))
    root = shared_data_dir() or REPO_ROOT.parent / "shared" / "data"
    return root / "metrics" / PARAMS_NAME


def load_niqe_model(path: str | os.PathLike[str] | None = None) -> NiqeModel:
    """Read the pristine model (numpy, no pickles); ConfigError naming the path when absent."""
    p = niqe_params_path() if path is None else Path(path)
    if not p.is_file():
        raise ConfigError(f"NIQE pristine model not found: {p} (set ${ENV_PARAMS} to the "
                          f"path of {PARAMS_NAME})")
    stat = p.stat()
    return _load(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: str, _mtime_ns: int, _size: int) -> NiqeModel:
    try:
        with np.load(path, allow_pickle=False) as npz:
            mu = np.asarray(npz["mu_pris_param"], dtype=np.float64).reshape(-1)
            cov = np.asarray(npz["cov_pris_param"], dtype=np.float64)
            window = np.asarray(npz["gaussian_window"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"cannot read the NIQE pristine model {path}: {exc}") from None
    if mu.shape != (2 * N_FEATURES,) or cov.shape != (2 * N_FEATURES,) * 2 \
            or window.ndim != 2 or window.shape[0] != window.shape[1] or window.shape[0] % 2 == 0:
        raise ConfigError(f"NIQE pristine model {path} has unexpected shapes: mu {mu.shape}, "
                          f"cov {cov.shape}, window {window.shape}")
    return NiqeModel(mu=mu, cov=cov, window=window)


@cache
def _gamma_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MATLAB `gam = 0.2:0.001:10` (colon fills from both ends), r_gam and Gamma(k/gam)."""
    a, d, b, n = 0.2, 0.001, 10.0, 9800
    k = np.arange(n + 1, dtype=np.float64)
    gam = np.where(k <= n // 2, a + k * d, b - (n - k) * d)
    gam[n // 2] = (a + b) / 2
    g1, g2, g3 = (np.array([math.gamma(c / g) for g in gam]) for c in (1.0, 2.0, 3.0))
    return gam, g2 * g2 / (g1 * g3), g1, g2, g3


def _nearest(rhatnorm: np.ndarray) -> np.ndarray:
    """Index of min((r_gam - rhatnorm).^2) per value: first on ties, 1 when NaN, as MATLAB."""
    r_gam = _gamma_grid()[1]
    out = np.empty(rhatnorm.shape[0], dtype=np.int64)
    for i in range(0, rhatnorm.shape[0], _ROWS_PER_CHUNK):
        part = rhatnorm[i:i + _ROWS_PER_CHUNK, None]
        out[i:i + _ROWS_PER_CHUNK] = np.argmin((r_gam[None, :] - part) ** 2, axis=1)
    return out


def _aggd(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """estimateaggdparam.m on each row of `vec` (m, n): grid index of alpha, beta_l, beta_r."""
    _, _, g1, _, g3 = _gamma_grid()
    sq = vec * vec
    neg, pos = vec < 0, vec > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt(np.where(neg, sq, 0.0).sum(axis=1) / neg.sum(axis=1))
        right = np.sqrt(np.where(pos, sq, 0.0).sum(axis=1) / pos.sum(axis=1))
        gammahat = left / right
        rhat = np.abs(vec).mean(axis=1) ** 2 / sq.mean(axis=1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    idx = _nearest(rhatnorm)
    ratio = np.sqrt(g1[idx] / g3[idx])
    return idx, left * ratio, right * ratio


def aggd_params(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """estimateaggdparam.m on each row of `vec` (m, n): alpha, beta_l, beta_r, each (m,).

    Rows without negative (positive) values give NaN beta_l (beta_r), as MATLAB's empty means.
    """
    idx, left, right = _aggd(np.asarray(vec, dtype=np.float64))
    return _gamma_grid()[0][idx], left, right


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """computefeature.m on (nb, b, b) MSCN blocks -> (nb, 18)."""
    nb = blocks.shape[0]
    gam, _, g1, g2, _ = _gamma_grid()
    idx, bl, br = _aggd(blocks.reshape(nb, -1))
    feats = [gam[idx], (bl + br) / 2]
    for shift in _SHIFTS:  # circshift within each block
        pair = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(nb, -1)
        idx, bl, br = _aggd(pair)
        feats += [gam[idx], (br - bl) * (g2[idx] / g1[idx]), bl, br]
    return np.stack(feats, axis=1)


def mscn(im: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MSCN coefficients `(im - mu) ./ (sigma + 1)` of a 2-D float64 image, with
    mu = imfilter(im, w, 'replicate') and sigma = sqrt(abs(imfilter(im.^2, w, 'replicate') -
    mu.^2)), w the window normalised to sum 1 (computequality.m).

    Computed from the neighbours' differences to the centre pixel, summed per distinct window
    weight first (exact for 8-bit levels), so that where the weighted mean equals the centre
    in exact arithmetic (flat areas, point-symmetric patterns) the coefficient is exactly 0.
    MATLAB leaves its own rounding residue there, whose signs the AGGD fits count (they split
    the coefficients at 0): a direct 49-tap sum misses the MATLAB value BasicSR quotes for
    baboon.png by 4e-4, exact zeros meet it to 5e-7 (tests/engine/test_niqe.py).
    """
    k = window.shape[0]
    w = window / window.sum()
    padded = np.pad(im, k // 2, mode="edge")
    h, wd = im.shape
    mean_d = np.zeros_like(im)  # mu - im
    mean_d2 = np.zeros_like(im)  # imfilter((im - centre).^2)
    for weight in np.unique(w):
        d_sum, d2_sum = np.zeros_like(im), np.zeros_like(im)
        for i, j in zip(*np.nonzero(w == weight), strict=True):
            d = padded[i:i + h, j:j + wd] - im
            d_sum += d
            d2_sum += d * d
        mean_d += weight * d_sum
        mean_d2 += weight * d2_sum
    sigma = np.sqrt(np.abs(mean_d2 - mean_d * mean_d))  # the variance does not see the shift
    return -mean_d / (sigma + 1)


def _scale_features(im: np.ndarray, window: np.ndarray, block: int) -> np.ndarray:
    """The 18 features of each block x block tile of `im`'s MSCN, in blkproc (column) order."""
    structdis = mscn(im, window)
    nh, nw = structdis.shape[0] // block, structdis.shape[1] // block
    tiles = structdis.reshape(nh, block, nw, block).transpose(2, 0, 1, 3)
    return _block_features(tiles.reshape(nh * nw, block, block))


def _nan_moments(x: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """MATLAB `nanmean(x)` and `nancov(x)` of the (blocks, 36) features.

    One block is a row vector to MATLAB: both give scalars (the mean and variance of its
    finite values) that broadcast against the pristine model. Otherwise the mean of each
    column's finite values and the covariance of the rows without NaN (N-1 normalised; one
    such row: zeros; none: NaN).
    """
    if x.shape[0] == 1:
        v = x[0][~np.isnan(x[0])]
        if not v.size:
            return math.nan, math.nan
        return float(v.mean()), float(np.var(v, ddof=1 if v.size > 1 else 0))
    finite = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, x, 0.0).sum(axis=0) / finite.sum(axis=0)
    rows = x[finite.all(axis=1)]
    if rows.shape[0] < 2:
        return mean, np.full((x.shape[1],) * 2, 0.0 if rows.shape[0] else math.nan)
    return mean, np.cov(rows, rowvar=False)


def _pinv(a: np.ndarray) -> np.ndarray:
    """MATLAB `pinv`: singular values above max(size) * eps * max(s) are kept."""
    u, s, vt = np.linalg.svd(a)
    tol = max(a.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=s > tol)
    return (vt.T * inv_s) @ u.T


def _as_luma(img: np.ndarray | Tensor) -> np.ndarray:
    arr = img.detach().cpu().numpy() if isinstance(img, Tensor) else np.asarray(img)
    if arr.ndim > 2 and all(n == 1 for n in arr.shape[:-2]):
        arr = arr.reshape(arr.shape[-2:])
    if arr.ndim != 2:
        raise ConfigError(f"NIQE takes one luma image (H, W), got shape {arr.shape}")
    return arr.astype(np.float64)


def measurable(height: int, width: int, crop_border: int = 0) -> bool:
    """Whether NIQE of an image this size means something: at least two whole blocks per
    side after the border crop (with one, MATLAB's statistics degenerate; see `niqe`)."""
    return min(height, width) - 2 * crop_border >= 2 * BLOCK


def niqe(img_y: np.ndarray | Tensor, crop_border: int = 0, *,
         model: NiqeModel | None = None) -> float:
    """NIQE of a luma image (H, W) with values on [0, 255] (MATLAB `double(im)`; not rounded).

    `crop_border` pixels are shaved from every side first, then the image is cut to whole 96x96
    blocks (ImageError when not one is left). `model` defaults to `load_niqe_model()`.
    ImageError too when no block has finite features (a flat image: MATLAB's pinv fails).
    With a single block (both sides under 192 pixels) MATLAB's nanmean/nancov see a vector
    and return scalars; so does this, so such values match MATLAB but mean little.
    """
    im = _as_luma(img_y)
    if not np.isfinite(im).all():
        raise ImageError("NIQE input has non-finite values")
    if crop_border < 0 or 2 * crop_border >= min(im.shape):
        raise ConfigError(f"crop_border {crop_border} leaves nothing of a "
                          f"{im.shape[0]}x{im.shape[1]} image")
    if crop_border:
        im = im[crop_border:-crop_border, crop_border:-crop_border]
    nh, nw = im.shape[0] // BLOCK, im.shape[1] // BLOCK
    if not nh or not nw:
        raise ImageError(f"NIQE needs at least {BLOCK}x{BLOCK} pixels after the border crop, "
                         f"got {im.shape[0]}x{im.shape[1]}")
    model = load_niqe_model() if model is None else model
    im = im[:nh * BLOCK, :nw * BLOCK]
    feats = [_scale_features(im, model.window, BLOCK)]
    half = imresize(torch.from_numpy(np.ascontiguousarray(im)), 0.5).numpy()
    feats.append(_scale_features(half, model.window, BLOCK // 2))
    mu_dist, cov_dist = _nan_moments(np.concatenate(feats, axis=1))
    if np.isnan(mu_dist).any() or np.isnan(cov_dist).any():
        raise ImageError(f"NIQE is undefined for this {im.shape[0]}x{im.shape[1]} image: no "
                         "block has finite features (a flat image?)")
    diff = model.mu - mu_dist
    return float(np.sqrt(diff @ _pinv((model.cov + cov_dist) / 2) @ diff))


def luma8(rgb: np.ndarray | Tensor) -> np.ndarray:
    """(H, W, 3) RGB 8-bit levels -> (H, W) float64 `uint8(rgb2ycbcr(rgb))(:, :, 1)` levels;
    (H, W) or (H, W, 1) gray is returned as it is."""
    arr = rgb.detach().cpu().numpy() if isinstance(rgb, Tensor) else np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr.astype(np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"expected an (H, W, 3) RGB or (H, W) gray image, got {arr.shape}")
    x = torch.from_numpy(arr.astype(np.float64)).permute(2, 0, 1).unsqueeze(0) / 255.0
    return round_half_away(rgb_to_y(x) * 255.0)[0, 0].numpy()


def niqe_rgb(rgb: np.ndarray | Tensor, crop_border: int = 0, *,
             model: NiqeModel | None = None) -> float:
    """NIQE of an 8-bit RGB (H, W, 3) image (or gray (H, W)) on the luma MATLAB's protocol
    uses: Y of `rgb2ycbcr`, rounded to uint8 as MATLAB returns it for uint8 input."""
    return niqe(luma8(rgb), crop_border, model=model)
