"""The evaluation protocol on small synthetic folders: LR making, Y/RGB paths, events, compare."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_engine.color import rgb_to_y
from sr_engine.data.io import Picture, save_image
from sr_engine.degrade.resize import imresize, round_half_away
from sr_engine.errors import ConfigError, ImageError
from sr_engine.evaluate import compare, evaluate, hr_images, load_eval_set, self_check
from sr_engine.metrics import psnr
from sr_engine.progress import ProgressEvent
from sr_engine.zoo import LoadedModel, load_model


def smooth(h: int, w: int, channels: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """A smooth random image (bicubic-upscaled noise), so SR metrics are meaningful."""
    g = torch.Generator().manual_seed(seed)
    x = imresize(torch.rand(1, channels, h // 4 + 1, w // 4 + 1, generator=g), 4.0)
    top = np.iinfo(dtype).max
    x = x[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()
    return np.floor(x * top + 0.5).astype(dtype)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "Tiny"
    root.mkdir()
    save_image(root / "b_rgb.png", Picture(smooth(41, 37, 3, seed=1)))
    save_image(root / "a_gray.png", Picture(smooth(30, 34, 1, seed=2)))
    save_image(root / "c_deep.png", Picture(smooth(32, 28, 3, np.uint16, seed=3)))
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def bicubic() -> LoadedModel:
    return load_model("bicubic", scale=2)


def test_load_eval_set_follows_the_protocol(folder: Path) -> None:
    data = load_eval_set(folder, scale=2)
    assert data.name == "Tiny" and data.scale == 2 and len(data) == 3
    assert [im.name for im in data.images] == ["a_gray.png", "b_rgb.png", "c_deep.png"]
    gray, rgb, deep = data.images
    assert gray.gray and gray.lr.shape == (1, 1, 15, 17) and gray.hr_y.shape == (30, 34)
    assert rgb.lr.shape == (1, 3, 20, 18) and rgb.hr_y.shape == (40, 36)
    hr = torch.from_numpy(smooth(41, 37, 3, seed=1)[:40, :36].astype(np.float64))
    hr = hr.permute(2, 0, 1)[None]
    expected_lr = round_half_away(imresize(hr, 0.5)).clamp(0, 255) / 255
    torch.testing.assert_close(rgb.lr.double(), expected_lr, atol=1e-7, rtol=0)
    torch.testing.assert_close(rgb.hr_y, round_half_away(rgb_to_y(hr / 255) * 255)[0, 0])
    assert deep.lr.shape == (1, 3, 16, 14)  # 16-bit sources are rounded to 8 bits first


@pytest.mark.parametrize("layout", ["flat", "HR folder", "HR beside LR", "SRF folders"])
def test_benchmark_folders_are_read_in_the_layouts_sets_ship_in(tmp_path: Path,
                                                                 layout: str) -> None:
    picture = Picture(smooth(24, 24, 3))
    sub = {"HR folder": "HR", "SRF folders": "image_SRF_2"}.get(layout, "")
    hr = tmp_path / "Set" / sub
    hr.mkdir(parents=True, exist_ok=True)
    tag = {"HR beside LR": "_HR", "SRF folders": "_SRF_2_HR"}.get(layout, "")
    for name in ("a", "b"):
        save_image(hr / f"{name}{tag}.png", picture)
        if tag:  # the LR twin must not be scored as an HR image
            save_image(hr / f"{name}{tag[:-2]}LR.png", Picture(smooth(12, 12, 3)))
    if layout == "HR folder":
        (tmp_path / "Set" / "LR_bicubic").mkdir()
    if layout == "SRF folders":  # another scale's folder beside it is not read
        (tmp_path / "Set" / "image_SRF_4").mkdir()
        save_image(tmp_path / "Set" / "image_SRF_4" / "a_SRF_4_HR.png", picture)
    assert [p.name for p in hr_images(tmp_path / "Set", 2)] == [f"a{tag}.png", f"b{tag}.png"]
    assert load_eval_set(tmp_path / "Set", scale=2).name == "Set"
    if layout == "SRF folders":
        assert len(load_eval_set(tmp_path / "Set", scale=4)) == 1
        with pytest.raises(ConfigError, match="image_SRF_3"):
            load_eval_set(tmp_path / "Set", scale=3)


def test_evaluate_rgb_model_reports_and_events(folder: Path, bicubic: LoadedModel) -> None:
    events: list[ProgressEvent] = []
    report = evaluate(bicubic, folder, progress=events.append)
    assert [(e.stage, e.current, e.total) for e in events] == [("validating", i, 3)
                                                                for i in (1, 2, 3)]
    assert [e.metrics["psnr"] for e in events] == [r["psnr_y"] for r in report.per_image]
    assert report.psnr_y == pytest.approx(np.mean([r["psnr_y"] for r in report.per_image]))
    assert report.n_images == 3 and report.dataset == "Tiny" and report.model == "bicubic"
    assert all(30 < r["psnr_y"] < 80 and 0.8 < r["ssim_y"] <= 1 for r in report.per_image)
    assert report.per_image[1] | {"psnr_y": 0, "ssim_y": 0} == {
        "name": "b_rgb.png", "psnr_y": 0, "ssim_y": 0, "width": 36, "height": 40}
    assert json.loads(json.dumps(report.to_dict()))["n_images"] == 3
    perfect = dataclasses.replace(report, psnr_y=math.inf)
    assert json.loads(json.dumps(perfect.to_dict(), allow_nan=False))["psnr_y"] is None


def test_y_model_sees_unrounded_luma_and_is_scored_on_uint8_luma(folder: Path,
                                                                   bicubic: LoadedModel) -> None:
    spec = dataclasses.replace(bicubic.spec, color="y")
    y_model = dataclasses.replace(bicubic, spec=spec)
    data = load_eval_set(folder, scale=2)
    report = evaluate(y_model, data)
    image = data.images[1]
    sr = round_half_away(imresize(rgb_to_y(image.lr.double()), 2.0).clamp(0, 1) * 255)
    expected = psnr(sr[0, 0], image.hr_y, crop=2, data_range=255.0)
    assert report.per_image[1]["psnr_y"] == pytest.approx(float(expected), abs=1e-9)


def test_evaluate_rejects_mismatches(folder: Path, bicubic: LoadedModel,
                                     tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        evaluate(bicubic, folder, scale=3)
    with pytest.raises(ConfigError):
        evaluate(bicubic, load_eval_set(folder, scale=4))
    with pytest.raises(ConfigError):
        load_eval_set(tmp_path, scale=2)


def test_compare_by_formula() -> None:
    ref = Picture(np.full((20, 24, 1), 100, np.uint8))
    out = Picture(np.full((21, 24, 1), 110, np.uint8))  # one row more: cut to the common area
    got = compare(out, ref, crop=2)
    assert got["psnr_y"] == pytest.approx(20 * math.log10(255 / 10))
    assert got["psnr_rgb"] == pytest.approx(got["psnr_y"])
    c1 = (0.01 * 255) ** 2
    assert got["ssim_y"] == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))
    deep = Picture(ref.pixels.astype(np.uint16) * 257)
    assert compare(deep, ref, crop=0)["psnr_y"] == math.inf
    with pytest.raises(ImageError):
        compare(Picture(np.zeros((60, 24, 1), np.uint8)), ref, crop=2)


def test_self_check_matches_evaluate(folder: Path, bicubic: LoadedModel) -> None:
    pixels = smooth(41, 37, 3, seed=1)
    got = self_check(bicubic, Picture(pixels), scale=2)
    assert set(got) == {"psnr_y", "ssim_y", "psnr_rgb"}
    per_image = evaluate(bicubic, folder).per_image[1]
    assert got["psnr_y"] == pytest.approx(per_image["psnr_y"], abs=0.01)
    assert got["ssim_y"] == pytest.approx(per_image["ssim_y"], abs=1e-4)
    with pytest.raises(ImageError):
        self_check(bicubic, Picture(pixels[:12, :12]), scale=2)


def test_a_cropped_self_check_measures_only_the_centre(bicubic: LoadedModel) -> None:
    pixels = smooth(96, 80, 3, seed=2)
    pixels[:, :20] = 0  # a flat border band that only the whole-image check sees
    centre = Picture(pixels[24:72, 16:64])  # the central 48x48
    got = self_check(bicubic, Picture(pixels), scale=2, crop=48)
    assert got == self_check(bicubic, centre, scale=2)
    assert got != self_check(bicubic, Picture(pixels), scale=2)
