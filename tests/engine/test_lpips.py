"""LPIPS (sr_engine.metrics.lpips): properties, an independent re-computation from the formula,
weight loading and its errors, `evaluate(with_lpips=True)` and `evaluate --metrics lpips`.

The weight files are small stand-ins in the exact key layouts of the real ones (torchvision's
VGG16 `features.N.*`, the LPIPS release's `lin{k}.model.1.weight`), with random weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from sr_engine.cli import main
from sr_engine.degrade import gaussian_blur
from sr_engine.degrade.resize import imresize
from sr_engine.errors import CheckpointError, ConfigError, ImageError
from sr_engine.evaluate import evaluate, load_eval_set, output_rgb, super_resolve
from sr_engine.metrics.lpips import ENV_BACKBONE, ENV_LINEAR, LPIPS, load_lpips
from sr_engine.zoo import load_model

# VGG16 ("D") written out: the conv widths of each block; a 2x2 max-pool precedes blocks 2-5,
# and the LPIPS tap is the last ReLU of each block (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# The release's ScalingLayer and normalize_tensor's eps, as published.
SHIFT, SCALE, EPS = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450), 1e-10


def _conv_indices() -> list[tuple[int, int, int]]:
    """(features index, in channels, out channels) of VGG16's 13 convolutions."""
    out, index, channels = [], 0, 3
    for b, widths in enumerate(BLOCKS):
        if b:
            index += 1  # the pool
        for width in widths:
            out.append((index, channels, width))
            index, channels = index + 2, width
    return out


def _backbone_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, cin, cout in _conv_indices():
        std = (2.0 / (cout * 9)) ** 0.5  # torchvision's kaiming_normal_(fan_out)
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * std
        state[f"features.{index}.bias"] = torch.randn(cout, generator=g) * 0.05
    return state


def _linear_state(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"lin{k}.model.1.weight": torch.rand(1, widths[-1], 1, 1, generator=g)
            for k, widths in enumerate(BLOCKS)}


class NotATensor:
    """Something a weights file must not be able to smuggle in (weights_only refuses it)."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lpips")
    backbone, linear = root / "vgg16.safetensors", root / "vgg.pth"
    save_file(_backbone_state(), str(backbone))
    torch.save(_linear_state(), linear)
    return backbone, linear


@pytest.fixture(scope="module")
def net(files: tuple[Path, Path]) -> LPIPS:
    return LPIPS(*files)


@pytest.fixture
def env(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BACKBONE, str(files[0]))
    monkeypatch.setenv(ENV_LINEAR, str(files[1]))


@pytest.fixture(autouse=True)
def no_lpips_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BACKBONE, raising=False)
    monkeypatch.delenv(ENV_LINEAR, raising=False)


def textured(n: int = 1, size: int = 48, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) in [0, 1]: noise at a few scales, so blur has something to remove."""
    g = torch.Generator().manual_seed(seed)
    x = sum(imresize(torch.rand(n, 3, size // f, size // f, generator=g), float(f)) / 3
            for f in (1, 4, 8))
    return x.clamp(0.0, 1.0)


def reference_lpips(a: torch.Tensor, b: torch.Tensor, backbone: dict[str, torch.Tensor],
                    linear: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, 5) per-layer LPIPS terms straight from the formula, float64."""
    shift = torch.tensor(SHIFT, dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, dtype=torch.float64).view(1, 3, 1, 1)

    def taps(x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x.double() * 2 - 1) - shift) / scale
        convs = iter(_conv_indices())
        out = []
        for b, widths in enumerate(BLOCKS):
            if b:
                h = F.max_pool2d(h, 2)
            for _ in widths:
                index, _, _ = next(convs)
                h = F.relu(F.conv2d(h, backbone[f"features.{index}.weight"].double(),
                                    backbone[f"features.{index}.bias"].double(), padding=1))
            out.append(h)
        return out

    terms = []
    for k, (fa, fb) in enumerate(zip(taps(a), taps(b), strict=True)):
        na = fa / (torch.sqrt((fa ** 2).sum(dim=1, keepdim=True)) + EPS)
        nb = fb / (torch.sqrt((fb ** 2).sum(dim=1, keepdim=True)) + EPS)
        w = linear[f"lin{k}.model.1.weight"].double().flatten()
        weighted = torch.einsum("nchw,c->nhw", (na - nb) ** 2, w)
        terms.append(weighted.mean(dim=(1, 2)))
    return torch.stack(terms, dim=1)


# --- properties --------------------------------------------------------------------------


def test_identical_images_are_zero_and_distance_is_symmetric_and_positive(net: LPIPS) -> None:
    a, b = textured(2, seed=0), textured(2, seed=1)
    with torch.no_grad():
        assert torch.equal(net(a, a), torch.zeros(2))
        d_ab, d_ba = net(a, b), net(b, a)
    assert d_ab.shape == (2,) and d_ab.dtype == torch.float32
    torch.testing.assert_close(d_ab, d_ba, rtol=0, atol=1e-7)
    assert bool((d_ab > 0).all())


def test_more_blur_is_farther(net: LPIPS) -> None:
    x = textured(1, 64, seed=3)
    sigmas = (0.6, 1.2, 2.0, 3.0)
    with torch.no_grad():
        d = [float(net(x, gaussian_blur(x, s))) for s in sigmas]
    assert all(near < far for near, far in zip(d, d[1:], strict=False)), d
    assert d[-1] > 2 * d[0], d  # a real spread, not rounding noise


def test_batch_equals_per_image(net: LPIPS) -> None:
    a, b = textured(3, seed=4), textured(3, seed=5)
    with torch.no_grad():
        batch = net(a, b)
        single = torch.cat([net(a[i:i + 1], b[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=0, atol=1e-6)


def test_matches_an_independent_recomputation(files: tuple[Path, Path], net: LPIPS) -> None:
    backbone, linear = load_file(str(files[0])), torch.load(files[1], weights_only=True)
    a = textured(2, 40, seed=6)
    b = gaussian_blur(a, 1.0) * 0.9 + 0.05
    expected = reference_lpips(a, b, backbone, linear)
    assert bool((expected > 0).all())
    exact = LPIPS(*files).double()
    with torch.no_grad():
        torch.testing.assert_close(exact.layer_distances(a, b), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(exact(a, b), expected.sum(dim=1), rtol=0, atol=1e-6)
        # the float32 module agrees to float32 precision
        torch.testing.assert_close(net(a, b).double(), expected.sum(dim=1), rtol=1e-4, atol=1e-6)


def test_inputs_are_checked(net: LPIPS) -> None:
    with pytest.raises(ConfigError, match="3, H, W"):
        net(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    with pytest.raises(ConfigError):
        net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 30))
    with pytest.raises(ImageError, match="16x16"):
        net(torch.rand(1, 3, 15, 40), torch.rand(1, 3, 15, 40))


def test_gradients_reach_the_input_not_the_network(net: LPIPS) -> None:
    a, b = textured(1, seed=7), textured(1, seed=8).requires_grad_(True)
    net(a, b).sum().backward()
    assert b.grad is not None and float(b.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


# --- loading -----------------------------------------------------------------------------


def test_load_from_environment_and_file_url(files: tuple[Path, Path], env: None) -> None:
    a, b = textured(1, seed=9), textured(1, seed=10)
    by_env = load_lpips()
    by_url = load_lpips(files[0].as_uri(), files[1].as_uri())
    with torch.no_grad():
        assert float(by_env(a, b)) == float(by_url(a, b)) > 0
    pth = files[0].with_name("vgg16_features.pth")  # torchvision's own format, .pth
    torch.save(_backbone_state(), pth)
    with torch.no_grad():
        assert float(load_lpips(pth)(a, b)) == float(by_env(a, b))


def test_missing_environment_is_one_clear_line(files: tuple[Path, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as both:
        load_lpips()
    message = str(both.value)
    assert ENV_BACKBONE in message and ENV_LINEAR in message and "\n" not in message
    monkeypatch.setenv(ENV_BACKBONE, str(files[0]))
    with pytest.raises(ConfigError) as one:
        load_lpips()
    assert ENV_LINEAR in str(one.value) and ENV_BACKBONE not in str(one.value)
    monkeypatch.delenv(ENV_BACKBONE)
    with pytest.raises(ConfigError, match=ENV_BACKBONE):
        load_lpips(linear=files[1])


def test_wrong_weight_files_are_clear_errors(files: tuple[Path, Path], tmp_path: Path) -> None:
    backbone, linear = files
    with pytest.raises(CheckpointError, match="not found"):
        load_lpips(tmp_path / "absent.safetensors", linear)
    with pytest.raises(CheckpointError, match="not VGG16 weights.*features.0.weight"):
        load_lpips(linear, linear)  # the two files swapped
    with pytest.raises(CheckpointError, match="not LPIPS VGG linear weights.*lin0"):
        load_lpips(backbone, backbone)
    shallow = _backbone_state()
    del shallow["features.28.weight"]  # conv5_3, the last layer LPIPS needs
    save_file(shallow, str(tmp_path / "shallow.safetensors"))
    with pytest.raises(CheckpointError, match="features.28.weight"):
        load_lpips(tmp_path / "shallow.safetensors", linear)
    misshapen = _backbone_state()
    misshapen["features.2.weight"] = torch.zeros(64, 32, 3, 3)
    save_file(misshapen, str(tmp_path / "misshapen.safetensors"))
    with pytest.raises(CheckpointError, match=r"features.2.weight has shape \(64, 32, 3, 3\)"):
        load_lpips(tmp_path / "misshapen.safetensors", linear)
    lin = _linear_state()
    lin["lin3.model.1.weight"] = torch.rand(1, 256, 1, 1)
    torch.save(lin, tmp_path / "short.pth")
    with pytest.raises(CheckpointError, match=r"lin3.model.1.weight has shape \(1, 256, 1, 1\)"):
        load_lpips(backbone, tmp_path / "short.pth")
    lin = _linear_state()
    lin["lin1.model.1.weight"][0, 5] = -0.1
    torch.save(lin, tmp_path / "negative.pth")
    with pytest.raises(CheckpointError, match="lin1.*non-negative"):
        load_lpips(backbone, tmp_path / "negative.pth")
    torch.save({"lin0.model.1.weight": NotATensor}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_lpips(backbone, tmp_path / "pickled.pth")
    torch.save({**_backbone_state(), "extra": NotATensor()}, tmp_path / "pickled_vgg.pth")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_lpips(tmp_path / "pickled_vgg.pth", linear)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="state dict"):
        load_lpips(backbone, tmp_path / "list.pth")


# --- evaluate ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lpips_set") / "Tiny"
    folder.mkdir()
    for i in range(2):
        pixels = (textured(1, 48, seed=20 + i)[0].permute(1, 2, 0).numpy() * 255).round()
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"im{i}.png")
    gray = (textured(1, 40, seed=30)[0, 0].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(gray).save(folder / "im2_gray.png")
    return folder


@pytest.mark.parametrize("model_name", ["bicubic", "espcn_x2"])  # an RGB and a Y model
def test_evaluate_lpips_is_on_the_stored_rgb_output(hr_dir: Path, net: LPIPS, env: None,
                                                    model_name: str) -> None:
    model = load_model(model_name, scale=2)
    data = load_eval_set(hr_dir, scale=2)
    plain = evaluate(model, data)
    assert plain.lpips is None and "lpips" not in plain.per_image[0]
    report = evaluate(model, data, with_lpips=True)
    assert report.psnr_y == plain.psnr_y and report.niqe is None
    for image, row in zip(data.images, report.per_image, strict=True):
        out = output_rgb(super_resolve(model, image), image, 2)
        assert out.shape[1] == 3 and torch.equal(out, out.round())
        hr = image.hr.double().expand(1, 3, -1, -1)
        with torch.no_grad():
            expected = float(net((out / 255)[..., 2:-2, 2:-2].float(),
                                 (hr / 255)[..., 2:-2, 2:-2].float()))
        assert row["lpips"] == pytest.approx(expected, rel=1e-6) and row["lpips"] > 0
    assert report.lpips == pytest.approx(np.mean([r["lpips"] for r in report.per_image]))
    assert report.to_dict()["lpips"] == report.lpips


def test_y_model_output_is_coloured_as_upscale_colours_it(hr_dir: Path) -> None:
    from sr_engine.data.io import Picture
    from sr_engine.inference import UpscaleConfig, upscale_picture

    model = load_model("espcn_x2", scale=2)
    image = load_eval_set(hr_dir, scale=2).images[0]
    assert not image.gray
    lr = Picture(pixels=(image.lr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    upscaled = upscale_picture(model, lr, UpscaleConfig(model="espcn_x2", scale=2,
                                                        precision="fp32", color_fix="none"))
    expected = torch.from_numpy(upscaled.pixels.astype(np.float64)).permute(2, 0, 1)[None]
    diff = (output_rgb(super_resolve(model, image), image, 2) - expected).abs()
    assert float(diff.max()) <= 1.0  # the same colours, up to a rounding step at most


def test_evaluate_refuses_lpips_without_weights_before_any_work(hr_dir: Path) -> None:
    with pytest.raises(ConfigError, match=ENV_BACKBONE):
        evaluate(load_model("bicubic", scale=2), hr_dir / "absent", with_lpips=True)


def test_cli_metrics_lpips(hr_dir: Path, files: tuple[Path, Path],
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "--model", "bicubic", "--scale", "2", "--data", str(hr_dir)]
    assert main(["-q", *base, "--metrics", "psnr,lpips"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("sr-engine: error:") and "\n" not in err and captured.out == ""
    assert ENV_BACKBONE in err and ENV_LINEAR in err
    assert main(["-q", "evaluate", "--model", "bicubic", "--scale", "2", "--video",
                 str(hr_dir), "--metrics", "lpips"]) == 2
    assert "--data image sets only" in capsys.readouterr().err
    monkeypatch.setenv(ENV_BACKBONE, str(files[0]))
    monkeypatch.setenv(ENV_LINEAR, str(files[1]))
    assert main(["-q", *base, "--metrics", "psnr,ssim,lpips"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(re.search(r" dB .*LPIPS \d+\.\d{4}$", line)
                                   for line in lines[:3])
    assert "LPIPS" in lines[-1] and "over 3 images" in lines[-1]
    assert main([*base, "--metrics", "lpips", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lpips"] > 0 and all(r["lpips"] > 0 for r in report["per_image"])
    assert report["niqe"] is None
