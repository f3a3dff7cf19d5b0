"""Tiled inference: tiles equal the whole image for every arch; colour, alpha, dtype, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sr_engine.color import rgb_to_ycbcr, ycbcr_to_rgb
from sr_engine.data.io import Picture, load_image, save_image
from sr_engine.degrade.resize import imresize, round_half_away
from sr_engine.errors import Cancelled, ConfigError, EngineError
from sr_engine.inference import (
    UpscaleConfig,
    upscale_file,
    upscale_files,
    upscale_picture,
    upscale_tensor,
)
from sr_engine.inference import precision as precision_module
from sr_engine.progress import ProgressEvent
from sr_engine.registry import ArchSpec, create_model, get_spec, list_models
from sr_engine.zoo import LoadedModel

# Narrow widths keep every arch fast on CPU; depth (and so the halo) stays as designed.
SMALL = {"n_feats": 8, "n1": 8, "n2": 8, "d": 8, "s": 4, "recursions": 4}
ARCH_SCALES = [pytest.param(spec, s, id=f"{spec.id}-x{s}")
               for spec in list_models() for s in spec.scales]


def make_model(spec: ArchSpec, scale: int) -> LoadedModel:
    hparams = spec.resolve_hparams({k: v for k, v in SMALL.items() if k in spec.defaults})
    torch.manual_seed(0)
    module = create_model(spec.id, scale=scale, **hparams).eval()
    return LoadedModel(module=module, spec=spec, scale=scale, hparams=hparams, meta=None,
                       name=spec.id, device="cpu")


def whole_image(model: LoadedModel, lr: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.module(lr).clamp(0, 1)


@pytest.mark.parametrize("spec,scale", ARCH_SCALES)
def test_tiled_output_equals_whole_image_output(spec, scale):
    model = make_model(spec, scale)
    lr = torch.rand(2, spec.channels, 40, 33, generator=torch.Generator().manual_seed(1))
    tiled = upscale_tensor(model, lr, tile=16)
    assert tiled.dtype == torch.float32
    assert tiled.shape == (2, spec.channels, 40 * scale, 33 * scale)
    assert (tiled - whole_image(model, lr)).abs().max().item() < 1e-4


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.id)
def test_batching_tiles_does_not_change_the_output(spec):
    model = make_model(spec, spec.scales[0])
    lr = torch.rand(1, spec.channels, 37, 35, generator=torch.Generator().manual_seed(2))
    one = upscale_tensor(model, lr, tile=16, batch=1)
    assert (upscale_tensor(model, lr, tile=16, batch=4) - one).abs().max().item() < 1e-5


class StridedNet(nn.Module):
    """A stride-2 encoder: only even inputs work and shifts must be even to commute."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 3 * (2 * scale) ** 2, 3, padding=1),
                                  nn.PixelShuffle(2 * scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_size_multiple_archs_are_padded_and_aligned_like_the_whole_image():
    spec = ArchSpec(id="strided", family="test", build=StridedNet, scales=(2,), color="rgb",
                    input_space="lr", halo=lambda scale, hparams: 5, size_multiple=2,
                    min_size=10)
    torch.manual_seed(0)
    model = LoadedModel(module=StridedNet(2).eval(), spec=spec, scale=2, hparams={}, meta=None,
                        name="strided", device=torch.device("cpu"))
    lr = torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(4))
    whole = upscale_tensor(model, lr, tile=0)
    assert whole.shape == (1, 3, 74, 58)
    assert (upscale_tensor(model, lr, tile=16) - whole).abs().max().item() < 1e-5


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_returns_clamped_float32(precision):
    model = make_model(get_spec("espcn"), 2)
    lr = torch.rand(1, 1, 24, 20, generator=torch.Generator().manual_seed(3))
    out = upscale_tensor(model, lr, tile=16, precision=precision)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1
    assert (out - whole_image(model, lr)).abs().max().item() < 0.05


def test_unsupported_autocast_is_an_engine_error(monkeypatch):
    monkeypatch.setattr(precision_module, "autocast_supported", lambda *args: False)
    with pytest.raises(EngineError, match="cannot run fp16 on cpu; use bf16"):
        upscale_tensor(make_model(get_spec("espcn"), 2), torch.rand(1, 1, 8, 8),
                       precision="fp16")


def test_wrong_channel_count_is_a_config_error():
    with pytest.raises(ConfigError, match="expects"):
        upscale_tensor(make_model(get_spec("espcn"), 2), torch.rand(1, 3, 8, 8))


# -- pictures -------------------------------------------------------------------------------

def random_pixels(h: int, w: int, c: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, (h, w, c)).astype(dtype)


def to_levels(x: torch.Tensor, dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    q = round_half_away(x.clamp(0, 1) * top).clamp(0, top)[0].permute(1, 2, 0)
    return q.numpy().astype(dtype)


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    top = np.iinfo(pixels.dtype).max
    return torch.from_numpy(pixels.astype(np.float32) / top).permute(2, 0, 1)[None]


def picture(pixels: np.ndarray, alpha: np.ndarray | None = None) -> Picture:
    return Picture(pixels=pixels, alpha=alpha, icc_profile=b"icc", format="PNG", n_frames=1)


def test_y_model_on_rgb_runs_the_net_on_luma_and_bicubic_on_chroma():
    model = make_model(get_spec("espcn"), 3)
    pixels = random_pixels(29, 34, 3)
    out = upscale_picture(model, picture(pixels), UpscaleConfig(scale=3, tile=16))
    ycc = rgb_to_ycbcr(as_tensor(pixels))
    y = whole_image(model, ycc[:, :1])
    expected = to_levels(ycbcr_to_rgb(torch.cat([y, imresize(ycc[:, 1:], 3)], dim=1)))
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == (87, 102, 3)
    assert np.abs(out.pixels.astype(int) - expected).max() <= 1
    assert out.icc_profile == b"icc" and out.format == "PNG" and out.alpha is None


@pytest.mark.parametrize("arch", ["espcn", "bicubic"])
def test_gray_pictures_stay_gray(arch):
    model = make_model(get_spec(arch), 2)
    pixels = random_pixels(21, 18, 1, seed=4)
    out = upscale_picture(model, picture(pixels), UpscaleConfig(scale=2, tile=16))
    x = as_tensor(pixels)
    direct = whole_image(model, x if model.spec.channels == 1 else x.expand(-1, 3, -1, -1))
    assert out.pixels.shape == (42, 36, 1)
    assert np.abs(out.pixels.astype(int) - to_levels(direct.mean(1, keepdim=True))).max() <= 1


def test_sixteen_bit_with_alpha_stays_sixteen_bit_and_alpha_is_bicubic():
    model = make_model(get_spec("fsrcnn"), 2)
    pixels = random_pixels(23, 19, 3, np.uint16, seed=5)
    alpha = random_pixels(23, 19, 1, np.uint16, seed=6)[..., 0]
    out = upscale_picture(model, picture(pixels, alpha), UpscaleConfig(scale=2, tile=16))
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (46, 38, 3)
    assert out.alpha is not None and out.alpha.dtype == np.uint16
    expected = to_levels(imresize(as_tensor(alpha[..., None]), 2), np.uint16)[..., 0]
    assert np.abs(out.alpha.astype(int) - expected).max() <= 1


def test_loaded_model_scale_must_match_the_config():
    with pytest.raises(ConfigError, match="x2"):
        upscale_picture(make_model(get_spec("espcn"), 2), picture(random_pixels(8, 8, 3)),
                        UpscaleConfig(scale=4))


# -- files --------------------------------------------------------------------------------

@pytest.fixture
def png(tmp_path):
    path = tmp_path / "in.png"
    save_image(path, picture(random_pixels(40, 36, 3, seed=7)))
    return path


def test_upscale_file_emits_loading_tiling_saving_done(png, tmp_path):
    events: list[ProgressEvent] = []
    dst = tmp_path / "out.png"
    result = upscale_file(png, dst, UpscaleConfig(scale=2, tile=16), progress=events.append,
                          model=make_model(get_spec("bicubic"), 2))
    stages = [e.stage for e in events]
    first_tiling, last_tiling = stages.index("tiling"), len(stages) - stages[::-1].index("tiling")
    assert set(stages[:first_tiling]) == {"loading"}
    assert set(stages[first_tiling:last_tiling]) == {"tiling"}
    assert stages[last_tiling:] == ["saving", "done"]
    counts = [e.current for e in events if e.stage == "tiling"]
    assert counts == list(range(1, result.tiles + 1)) and result.tiles == 9
    assert load_image(dst).pixels.shape == (80, 72, 3)
    assert result.input_size == (36, 40) and result.output_size == (72, 80)
    assert result.to_dict()["dst"] == str(dst)


@pytest.mark.parametrize("stage", ["tiling", "saving", "done"])
def test_cancelled_upscale_leaves_no_output(png, tmp_path, stage):
    def cancel(event: ProgressEvent) -> None:
        if event.stage == stage and event.current in (0, 2):
            raise Cancelled("stopped by user")

    dst = tmp_path / "out.png"
    with pytest.raises(Cancelled):
        upscale_file(png, dst, UpscaleConfig(scale=2, tile=16), progress=cancel,
                     model=make_model(get_spec("bicubic"), 2))
    assert list(tmp_path.iterdir()) == [png]


def test_upscale_files_expands_folders_and_names_outputs(png, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("b.png", "a.png"):
        save_image(folder / name, picture(random_pixels(10, 12, 3)))
    (folder / "notes.txt").write_text("not an image")
    config = UpscaleConfig(scale=2, tile=0, format="webp")
    results = upscale_files([folder, png], tmp_path / "out", config,
                            model=make_model(get_spec("bicubic"), 2))
    assert [r.dst.name for r in results] == ["a_x2.webp", "b_x2.webp", "in_x2.webp"]
    assert all(r.dst.is_file() for r in results)


def test_config_round_trips_and_rejects_bad_values():
    config = UpscaleConfig(model="edsr", scale=2, tile=0, overlap=8, precision="bf16")
    assert UpscaleConfig.from_dict(config.to_dict()) == config
    for bad in ({"tile": 4}, {"batch": 0}, {"scale": 0}, {"overlap": -1}, {"format": "gif"},
                {"precision": "int8"}, {"model": " "}):
        with pytest.raises(ConfigError):
            UpscaleConfig.from_dict(bad)
