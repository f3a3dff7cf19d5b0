"""NIQE (sr_engine.metrics.niqe): the MATLAB reference value, properties, `evaluate --metrics`."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.cli import main
from sr_engine.degrade import gaussian_blur
from sr_engine.errors import ConfigError, ImageError
from sr_engine.evaluate import evaluate, load_eval_set, parse_metrics, super_resolve_y, y_levels
from sr_engine.metrics.niqe import (
    NiqeModel,
    aggd_params,
    load_niqe_model,
    luma8,
    niqe,
    niqe_params_path,
    niqe_rgb,
)
from sr_engine.paths import shared_data_dir
from sr_engine.zoo import load_model

SHARED = shared_data_dir()
SET14 = SHARED / "benchmark" / "Set14" if SHARED else Path("missing")
REAL_MODEL = SHARED / "metrics" / "niqe_pris_params.npz" if SHARED else Path("missing")
needs_shared = pytest.mark.skipif(
    not (REAL_MODEL.is_file() and SET14.is_dir()),
    reason="shared NIQE model or Set14 absent (../shared/data or $SR_SHARED_DATA)")

# BasicSR (basicsr/metrics/niqe.py, commit 8d56e3a) quotes "MATLAB R2021a result for
# baboon.png: 5.72957338 (5.7296)" for its test_scripts/data/baboon.png, a 492x480 image equal
# to the left 492 columns of Set14's 500x480 baboon.png. NIQE keeps only the top-left 480x480
# (whole 96x96 blocks) of either, so the value holds when that crop is this RGB:
MATLAB_BABOON = 5.72957338
BABOON_CROP_SHA256 = "64c7ab043d20dde3dff70ae5fcbd28ab2a0191b9d8c3e999b3ea6f4136b42587"


def _fspecial_gaussian(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t * t) / (2 * sigma * sigma))
    w = np.outer(g, g)
    return w / w.sum()


@pytest.fixture
def toy_model() -> NiqeModel:
    """A stand-in pristine model (not the authors'): for tests that need no real values."""
    return NiqeModel(mu=np.zeros(36), cov=np.eye(36), window=_fspecial_gaussian())


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smoothed noise on [0, 255] 8-bit levels: some texture, no flat areas."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(128.0, 60.0, (h, w)))[None, None]
    return np.clip(np.floor(gaussian_blur(x, 1.0)[0, 0].numpy() + 0.5), 0, 255)


def _centre_y(name: str, edge: int = 192) -> np.ndarray:
    y = luma8(np.asarray(Image.open(SET14 / name).convert("RGB")))
    top, left = (y.shape[0] - edge) // 2, (y.shape[1] - edge) // 2
    return y[top:top + edge, left:left + edge]


@pytest.mark.data
@needs_shared
def test_matches_matlab_on_baboon() -> None:
    rgb = np.asarray(Image.open(SET14 / "baboon.png").convert("RGB"))
    crop = np.ascontiguousarray(rgb[:480, :480])
    if hashlib.sha256(crop.tobytes()).hexdigest() != BABOON_CROP_SHA256:
        pytest.skip("Set14/baboon.png is not the image MATLAB's value was computed on")
    value = niqe_rgb(rgb)  # MATLAB: uint8 rgb2ycbcr Y, no border crop
    print(f"NIQE baboon: {value:.8f} (MATLAB {MATLAB_BABOON})")
    assert round(value, 4) == round(MATLAB_BABOON, 4)
    assert value == pytest.approx(MATLAB_BABOON, abs=5e-5)


@pytest.mark.data
@needs_shared
def test_shared_model_is_the_release_model() -> None:
    model = load_niqe_model(REAL_MODEL)
    assert model.mu.shape == (36,) and model.cov.shape == (36, 36)
    np.testing.assert_allclose(model.window, _fspecial_gaussian(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.cov, model.cov.T, rtol=0, atol=1e-12)


@pytest.mark.data
@needs_shared
@pytest.mark.parametrize("name", ["bridge.png", "zebra.png"])
def test_blur_and_noise_raise_niqe(name: str) -> None:
    model = load_niqe_model(REAL_MODEL)
    clean = _centre_y(name)
    blurred = gaussian_blur(torch.from_numpy(clean)[None, None], 2.0, border="replicate")
    blurred = np.clip(np.floor(blurred[0, 0].numpy() + 0.5), 0, 255)
    rng = np.random.default_rng(1)
    noisy = np.clip(np.floor(clean + rng.normal(0.0, 25.0, clean.shape) + 0.5), 0, 255)
    base = niqe(clean, model=model)
    assert niqe(blurred, model=model) > base + 2
    assert niqe(noisy, model=model) > base + 5


def test_aggd_fit_recovers_known_shapes() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    gauss = rng.normal(0.0, 3.0, (1, n))
    alpha, bl, br = aggd_params(gauss)
    assert alpha[0] == pytest.approx(2.0, abs=0.05)
    assert bl[0] == pytest.approx(3.0 * math.sqrt(2), rel=0.02)  # beta = sigma sqrt(G(1/a)/G(3/a))
    assert br[0] == pytest.approx(bl[0], rel=0.02)
    laplace = rng.laplace(0.0, 1.5, (1, n))
    alpha, bl, br = aggd_params(laplace)
    assert alpha[0] == pytest.approx(1.0, abs=0.05) and bl[0] == pytest.approx(1.5, rel=0.03)
    # An AGGD twice as wide on the right: each side's mass is proportional to its width.
    right = rng.random(n) < 2 / 3
    skewed = np.where(right, 2 * np.abs(gauss[0]), -np.abs(gauss[0]))[None]
    alpha, bl, br = aggd_params(skewed)
    assert alpha[0] == pytest.approx(2.0, abs=0.05) and br[0] / bl[0] == pytest.approx(2, rel=0.03)
    alpha, bl, br = aggd_params(np.abs(gauss))  # nothing left of 0: MATLAB's mean([]) is NaN
    assert math.isnan(bl[0]) and br[0] > 0


def test_deterministic_and_input_types_agree(toy_model: NiqeModel) -> None:
    img = _textured(200, 300)
    first = niqe(img, model=toy_model)
    assert math.isfinite(first) and first > 0
    assert niqe(img, model=toy_model) == first
    assert niqe(torch.from_numpy(img)[None, None], model=toy_model) == first
    assert niqe(img.astype(np.float32), model=toy_model) == first
    rgb = np.stack([img, np.roll(img, 7, axis=0), np.roll(img, 5, axis=1)], -1).astype(np.uint8)
    y = y_levels(torch.from_numpy(rgb).permute(2, 0, 1)[None].double())  # the protocol's Y
    assert niqe_rgb(rgb, model=toy_model) == niqe(y, model=toy_model)
    assert niqe_rgb(img.astype(np.uint8), model=toy_model) == first  # gray is its own luma


def test_crop_border_shaves_before_the_blocks(toy_model: NiqeModel) -> None:
    img = _textured(300, 300, seed=2)
    shaved = niqe(img, crop_border=10, model=toy_model)
    assert shaved == niqe(img[10:-10, 10:-10], model=toy_model)
    assert shaved != niqe(img, model=toy_model)
    with pytest.raises(ImageError, match="96x96"):
        niqe(img, crop_border=105, model=toy_model)  # 90x90 left
    with pytest.raises(ConfigError):
        niqe(img, crop_border=-1, model=toy_model)


def test_smaller_than_a_block_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("SR_NIQE_PARAMS", str(tmp_path / "absent.npz"))  # checked before the model
    with pytest.raises(ImageError, match=r"at least 96x96 pixels .* got 95x400"):
        niqe(np.zeros((95, 400)))
    with pytest.raises(ConfigError, match="one luma image"):
        niqe(np.zeros((2, 100, 100)))


def test_missing_model_names_path_and_env_var(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "niqe.npz"
    monkeypatch.setenv("SR_NIQE_PARAMS", str(missing))
    assert niqe_params_path() == missing
    with pytest.raises(ConfigError) as err:
        niqe(_textured(100, 100))
    msg = str(err.value)
    assert str(missing) in msg and "SR_NIQE_PARAMS" in msg and "\n" not in msg
    monkeypatch.delenv("SR_NIQE_PARAMS")
    monkeypatch.setenv("SR_SHARED_DATA", str(tmp_path))  # a shared folder without metrics/
    default = tmp_path / "metrics" / "niqe_pris_params.npz"
    assert niqe_params_path() == default
    with pytest.raises(ConfigError, match="SR_NIQE_PARAMS"):
        load_niqe_model()


def _write_model(path: Path, model: NiqeModel) -> Path:
    np.savez(path, mu_pris_param=model.mu[None], cov_pris_param=model.cov,
             gaussian_window=model.window)
    return path


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(2):  # x2 and 2 pixels shaved leave 196x196 of each output: 2x2 blocks
        Image.fromarray(_textured(200, 200, seed=i).astype(np.uint8)).convert("RGB").save(
            folder / f"im{i}.png")
    return folder


def test_parse_metrics() -> None:
    assert parse_metrics("psnr,ssim") == ("psnr", "ssim")
    assert parse_metrics(" NIQE , psnr,niqe") == ("niqe", "psnr")
    with pytest.raises(ConfigError, match="'fid'.*psnr, ssim, niqe, lpips"):
        parse_metrics("psnr,fid")
    with pytest.raises(ConfigError):
        parse_metrics(" , ")


def test_evaluate_niqe_is_on_the_stored_output(hr_dir: Path, toy_model: NiqeModel,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR_NIQE_PARAMS", str(_write_model(tmp_path / "m.npz", toy_model)))
    bicubic = load_model("bicubic", scale=2)
    data = load_eval_set(hr_dir, scale=2)
    plain = evaluate(bicubic, data)
    assert plain.niqe is None and "niqe" not in plain.per_image[0]
    assert plain.to_dict()["niqe"] is None
    report = evaluate(bicubic, data, with_niqe=True)
    for image, row in zip(data.images, report.per_image, strict=True):
        expected = niqe(super_resolve_y(bicubic, image), crop_border=2, model=toy_model)
        assert row["niqe"] == expected
    assert report.niqe == pytest.approx(np.mean([r["niqe"] for r in report.per_image]))
    assert report.psnr_y == plain.psnr_y


def test_cli_metrics(hr_dir: Path, toy_model: NiqeModel, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SR_NIQE_PARAMS", str(_write_model(tmp_path / "m.npz", toy_model)))
    base = ["evaluate", "--model", "bicubic", "--scale", "2", "--data", str(hr_dir)]
    assert main([*base, "--metrics", "psnr,ssim,niqe", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["niqe"] > 0 and all(r["niqe"] > 0 for r in report["per_image"])
    assert main([*base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["niqe"] is None
    assert main(["-q", *base, "--metrics", "niqe,psnr"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("im0.png") and "NIQE" in lines[0] and " dB" in lines[0]
    assert lines[-1].index("NIQE") < lines[-1].index("PSNR") and "SSIM" not in lines[-1]
    assert main(["-q", *base]) == 0
    assert "NIQE" not in capsys.readouterr().out
    assert main(["-q", *base, "--metrics", "psnr,fid"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sr-engine: error:") and "fid" in err and "\n" not in err
    monkeypatch.setenv("SR_NIQE_PARAMS", str(tmp_path / "absent.npz"))
    assert main(["-q", *base, "--metrics", "niqe"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SR_NIQE_PARAMS" in err and "absent.npz" in err and "\n" not in err
