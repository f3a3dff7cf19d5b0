"""The colour fix (sr_engine.inference.colorfix): a known colour shift injected into a bicubic
upscale of a smooth colourful test scene is removed by each mode, a correct upscale is left
(almost) as it is, and in the upscaling paths the fix runs once on the whole image (tiled
output == untiled) or video frame, picked by `color_fix` or, for "auto", by the checkpoint's
metadata (and by `sr-engine upscale --color-fix`).

Tolerances, in 8-bit levels (1/255) of mean absolute error per channel against the unshifted
upscale, measured on this scene (bicubic x2 of 48x64):
- shift R + 0.08, B x 0.9 (20.4 and 10.0 levels): hist and meanstd leave 0.2 / 0.4 / 1.8
  (R / G / B); asserted: every channel < 2.5 and the mean < 1/5 of the shift's. In YCbCr a
  gain on B is not a per-channel change, so a little of it stays (see colorfix's docstring).
- a tint and +30% saturation in Cb/Cr, or a brightness offset of +0.05: hist leaves 0.17,
  meanstd 0.05; asserted < 0.5.
- no shift at all: meanstd moves 0.05 on average (at most 0.16 on a pixel), asserted < 0.25
  (and < 1 everywhere); hist moves 0.17 on average, 2.2 at most (it redraws the chroma
  distribution from the 4x fewer input pixels), asserted < 0.5 (and < 3 everywhere).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.cli import main
from sr_engine.color import rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.data.io import Picture, load_image
from sr_engine.errors import ConfigError
from sr_engine.inference import UpscaleConfig, colorfix, upscale_picture
from sr_engine.inference.colorfix import (
    apply_color_fix,
    fix_pixels,
    match_histogram,
    match_mean_std,
    resolve_color_fix,
)
from sr_engine.registry import create_model
from sr_engine.video.config import VideoConfig
from sr_engine.video.upscale import upscale_video
from sr_engine.zoo import LoadedModel, load_model

LEVEL = 1 / 255
MODES = ("hist", "meanstd")


def scene(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth, colourful 8-bit RGB test image with some fine texture, in [36, 181]: no
    shift below saturates."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 0.45 + 0.18 * np.sin(x / 7) * np.cos(y / 11) + 0.08 * np.sin((x + 2 * y) / 2.3)
    g = 0.45 + 0.18 * np.cos(x / 9 + y / 5) + 0.08 * np.cos((3 * x - y) / 2.9)
    b = 0.40 + 0.18 * np.sin(y / 6 - x / 13) + 0.08 * np.sin((x - y) / 1.7)
    return np.round(np.stack([r, g, b], -1) * 255).astype(np.uint8)


def as_tensor(pixels: np.ndarray) -> Tensor:
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def lr() -> np.ndarray:
    return scene()


@pytest.fixture(scope="module")
def clean(lr: np.ndarray) -> Tensor:
    """The bicubic x2 upscale of the scene, no colour fix."""
    model = load_model("bicubic", scale=2)
    out = upscale_picture(model, Picture(pixels=lr), UpscaleConfig(scale=2, color_fix="none"))
    return as_tensor(out.pixels)


def rgb_shift(x: Tensor) -> Tensor:
    x = x.clone()
    x[:, 0] += 0.08
    x[:, 2] *= 0.9
    return x


def chroma_drift(x: Tensor) -> Tensor:
    """A tint and 30% more saturation: what a model trained on feature losses tends to add."""
    ycc = rgb_to_ycbcr(x)
    grey = 128 / 255
    chroma = (ycc[:, 1:] - grey) * 1.3 + grey + torch.tensor([0.03, -0.02]).view(1, 2, 1, 1)
    return ycbcr_to_rgb(torch.cat([ycc[:, :1], chroma], dim=1))


def brighter(x: Tensor) -> Tensor:
    return x + 0.05


def channel_error(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference per channel, in 8-bit levels."""
    return (a - b).abs().mean(dim=(0, 2, 3)) / LEVEL


@pytest.mark.parametrize("mode", MODES)
def test_an_rgb_offset_and_gain_is_removed(lr, clean, mode):
    shifted = rgb_shift(clean)
    assert shifted.max() <= 1  # nothing clipped: the shift is all there is to undo
    before = channel_error(shifted, clean)
    after = channel_error(apply_color_fix(shifted, as_tensor(lr), mode), clean)
    assert before.tolist() == pytest.approx([20.4, 0.0, 10.0], abs=0.1)
    assert after.max() < 2.5, after
    assert after.mean() < before.mean() / 5, (after, before)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shift", [chroma_drift, brighter])
def test_a_tint_saturation_or_brightness_shift_is_removed(lr, clean, mode, shift):
    shifted = shift(clean)
    assert shifted.min() >= 0 and shifted.max() <= 1
    before = channel_error(shifted, clean)
    after = channel_error(apply_color_fix(shifted, as_tensor(lr), mode), clean)
    assert before.min() > 4, before
    assert after.max() < 0.5, after


@pytest.mark.parametrize(("mode", "mean_tol", "max_tol"), [("meanstd", 0.25, 1), ("hist", 0.5, 3)])
def test_a_correct_upscale_is_left_almost_unchanged(lr, clean, mode, mean_tol, max_tol):
    fixed = apply_color_fix(clean, as_tensor(lr), mode)
    assert channel_error(fixed, clean).max() < mean_tol
    assert (fixed - clean).abs().max() / LEVEL < max_tol


def test_a_grey_image_has_its_mean_moved_only(lr, clean):
    grey, ref = clean.mean(dim=1, keepdim=True), as_tensor(lr).mean(dim=1, keepdim=True)
    for mode in MODES:
        fixed = apply_color_fix(grey * 0.9 + 0.08, ref, mode)
        assert torch.allclose(fixed - fixed.mean(), (grey - grey.mean()) * 0.9, atol=1e-6)
        assert fixed.mean() == pytest.approx(ref.mean().item(), abs=1e-6)


def test_none_is_the_output_itself_and_the_result_is_clamped(lr, clean):
    assert apply_color_fix(clean, as_tensor(lr), "none") is clean
    dark = torch.zeros(1, 3, 8, 8)
    dark[..., :4, :] = 1.0
    fixed = apply_color_fix(torch.rand(1, 3, 16, 16), dark, "meanstd")
    assert fixed.min() >= 0 and fixed.max() <= 1
    with pytest.raises(ConfigError, match="color_fix: expected one of"):
        apply_color_fix(clean, as_tensor(lr), "purple")
    with pytest.raises(ConfigError, match="same N and C"):
        apply_color_fix(clean, as_tensor(lr)[:, :1], "hist")


def test_histogram_matching_uses_exact_ranks():
    torch.manual_seed(0)
    ref = torch.rand(2, 3, 7, 9)
    near = ref.repeat_interleave(3, 2).repeat_interleave(3, 3)  # each value 9 times
    # Any increasing curve of the same values comes back to them exactly, ties included.
    assert torch.equal(match_histogram(near ** 2 * 0.5 + 0.1, ref), near)
    coarse = (ref * 10).round() / 10
    coarse_near = coarse.repeat_interleave(3, 2).repeat_interleave(3, 3)
    assert torch.equal(match_histogram(coarse_near * 0.7, coarse), coarse_near)
    # Equal values stay equal (one tone curve), and the order of the values is kept.
    out = torch.rand(1, 1, 30, 30).mul(20).round()
    mapped = match_histogram(out, torch.rand(1, 1, 10, 10))
    flat, got = out.flatten(), mapped.flatten()
    order = torch.argsort(flat)
    assert bool((got[order].diff() >= 0).all())
    assert all(got[flat == v].unique().numel() == 1 for v in flat.unique())


def test_the_torch_sort_used_off_cpu_gives_the_same_matching(monkeypatch):
    torch.manual_seed(3)
    out, ref = torch.rand(1, 2, 40, 40).mul(50).round() / 50, torch.rand(1, 2, 10, 10)
    on_cpu = match_histogram(out, ref)
    monkeypatch.setattr(colorfix, "_sorted", lambda x: torch.sort(x).values)
    monkeypatch.setattr(colorfix, "_run_of", torch.searchsorted)
    assert torch.equal(match_histogram(out, ref), on_cpu)


def test_mean_std_transfer_sets_each_channels_statistics():
    torch.manual_seed(1)
    out, ref = torch.rand(1, 3, 20, 20), torch.rand(1, 3, 5, 5) * 0.3 + 0.2
    fixed = match_mean_std(out, ref)
    std, mean = torch.std_mean(fixed, dim=(2, 3), correction=0)
    ref_std, ref_mean = torch.std_mean(ref, dim=(2, 3), correction=0)
    assert torch.allclose(mean, ref_mean, atol=1e-6) and torch.allclose(std, ref_std, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("dtype", "channels"), [(np.uint8, 3), (np.uint16, 3), (np.uint8, 1)])
def test_the_integer_path_matches_the_tensor_function(lr, mode, dtype, channels):
    rng = np.random.default_rng(2)
    top = np.iinfo(dtype).max
    ref = (lr[..., :channels].astype(np.int64) * (top // 255)).astype(dtype)
    noise = rng.integers(-30, 30, (96, 128, channels)) * (top // 255)
    out = (np.repeat(np.repeat(ref, 2, 0), 2, 1) + noise).clip(0, top).astype(dtype)
    fixed = out.copy()
    fix_pixels(fixed, ref, mode)

    def floats(a: np.ndarray) -> Tensor:
        return torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None] / top

    expected = (apply_color_fix(floats(out), floats(ref), mode) * top + 0.5).floor()
    got = floats(fixed) * top
    # float32 against float64: a level from rounding at .5; and hist ranks YCbCr values that
    # tie in one precision and not in the other (measured up to 0.12/255, 32 16-bit levels).
    assert (got - expected).abs().max() <= max(1, top / 255 / 4)
    assert (got - floats(out) * top).abs().max() > 0  # the fix did something


class Tinted(nn.Module):
    """bicubic with a colour cast, like a model whose colours drift."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        return rgb_shift(self.inner(x)).clamp(0, 1)


@pytest.fixture
def tinted(monkeypatch) -> LoadedModel:
    monkeypatch.setenv("SR_ENGINE_FREEZE", "0")
    base = load_model("bicubic", scale=2)
    return dataclasses.replace(base, module=Tinted(base.module), name="tinted", runnables={})


@pytest.mark.parametrize("mode", MODES)
def test_upscaling_fixes_the_whole_image_once_so_tiles_change_nothing(lr, clean, tinted, mode):
    picture = Picture(pixels=lr)
    plain = as_tensor(upscale_picture(tinted, picture, UpscaleConfig(
        scale=2, tile=0, color_fix="none")).pixels)
    whole = upscale_picture(tinted, picture, UpscaleConfig(scale=2, tile=0, color_fix=mode))
    tiled = upscale_picture(tinted, picture, UpscaleConfig(scale=2, tile=16, color_fix=mode))
    assert np.array_equal(tiled.pixels, whole.pixels)
    assert channel_error(plain, clean).max() > 9  # the cast is there without the fix
    assert channel_error(as_tensor(whole.pixels), clean).max() < 2.5  # and gone with it


def test_auto_is_none_without_metadata_and_what_a_checkpoint_asks_for(tmp_path, lr):
    assert resolve_color_fix("auto", None) == "none"
    assert resolve_color_fix("meanstd", None) == "meanstd"
    bicubic = load_model("bicubic", scale=2)
    picture = Picture(pixels=lr)
    auto = upscale_picture(bicubic, picture, UpscaleConfig(scale=2))
    none = upscale_picture(bicubic, picture, UpscaleConfig(scale=2, color_fix="none"))
    assert np.array_equal(auto.pixels, none.pixels)
    model = load_model(_espcn(tmp_path, "hist"))
    assert model.meta is not None and model.meta.color_fix == "hist"
    outputs = {mode: upscale_picture(model, picture, UpscaleConfig(scale=2, color_fix=mode))
               for mode in ("auto", "hist", "none")}
    assert np.array_equal(outputs["auto"].pixels, outputs["hist"].pixels)
    assert not np.array_equal(outputs["auto"].pixels, outputs["none"].pixels)
    with pytest.raises(ConfigError, match="color_fix"):
        CheckpointMeta.for_arch("espcn", scale=2, color_fix="purple")


def _espcn(folder: Path, color_fix: str) -> Path:
    """A tiny untrained ESPCN x2 (its luma is far off: a colour fix has work to do)."""
    torch.manual_seed(0)
    module = create_model("espcn", scale=2, n1=8, n2=8)
    meta = CheckpointMeta.for_arch("espcn", scale=2, hparams={"n1": 8, "n2": 8},
                                   color_fix=color_fix)
    return save_checkpoint(folder / f"espcn_{color_fix}.safetensors", module, meta)


def test_the_cli_takes_color_fix(tmp_path, lr, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(lr).save(src)
    ckpt = _espcn(tmp_path, "meanstd")
    for mode in ("auto", "meanstd", "none"):
        assert main(["-q", "upscale", str(src), "-o", str(tmp_path / f"{mode}.png"),
                     "--model", str(ckpt), "--scale", "2", "--color-fix", mode]) == 0
    outputs = {m: load_image(tmp_path / f"{m}.png").pixels for m in ("auto", "meanstd", "none")}
    assert np.array_equal(outputs["auto"], outputs["meanstd"])  # what the checkpoint asks
    luma = {m: rgb_to_ycbcr(as_tensor(p))[:, 0].mean().item() for m, p in outputs.items()}
    target = rgb_to_ycbcr(as_tensor(lr))[:, 0].mean().item()
    assert abs(luma["meanstd"] - target) < LEVEL < abs(luma["none"] - target)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["upscale", str(src), "-o", str(tmp_path / "x.png"), "--color-fix", "purple"])
    assert "--color-fix: invalid choice: 'purple'" in capsys.readouterr().err


def _scene_clip(path: Path, frames: int = 3) -> Path:
    """The scene, moving a pixel a frame, as a lossless H.264 clip (BT.601, limited range)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "0"})
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(scene(), i, axis=1), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _frame_means(path: Path) -> np.ndarray:
    """Each frame's mean R, G, B in 8-bit levels, read with BT.601 like the engine reads it."""
    with av.open(str(path)) as clip:
        return np.array([f.reformat(format="rgb24", src_colorspace=5, src_color_range=1,
                                    dst_color_range=2).to_ndarray().mean(axis=(0, 1))
                         for f in clip.decode(video=0)])


def test_a_clip_is_colour_fixed_frame_by_frame(tmp_path, tinted):
    src = _scene_clip(tmp_path / "scene.mp4")
    bicubic = load_model("bicubic", scale=2)
    runs = {"plain": (bicubic, "none"), "cast": (tinted, "none"), "fixed": (tinted, "meanstd")}
    for name, (model, mode) in runs.items():
        upscale_video(src, tmp_path / f"{name}.mp4", UpscaleConfig(scale=2, color_fix=mode),
                      VideoConfig(crf=0), model=model)
    # Against the untinted model's clip: the YUV round trips move every channel of every
    # output the same ~1.3 levels from the source, with or without a colour fix.
    plain = _frame_means(tmp_path / "plain.mp4")
    cast = _frame_means(tmp_path / "cast.mp4") - plain
    fixed = _frame_means(tmp_path / "fixed.mp4") - plain
    assert cast.shape == fixed.shape == (3, 3)
    assert (cast[:, 0] > 15).all() and (cast[:, 2] < -7).all()  # R + 0.08, B x 0.9
    assert np.abs(fixed).max() < 0.5, fixed
