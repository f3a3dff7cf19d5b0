"""Losses: pixel terms, the weighted content loss, SRGAN's adversarial terms and the VGG19
perceptual loss with user-given weights (path, file:// and http:// URLs, .safetensors/.pth)."""

from __future__ import annotations

import functools
import http.server
import math
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sr_engine.errors import CheckpointError, ConfigError
from sr_engine.losses import (
    VGG19_LAYERS,
    ContentLoss,
    PerceptualLoss,
    charbonnier_loss,
    discriminator_loss,
    generator_adversarial_loss,
    l1_loss,
    mse_loss,
    resolve_source,
)

LAYERS = ["relu1_2", "relu2_1"]  # needs only features.0, .2 and .5: a ~0.3 MB file



def _vgg_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64)}
    state = {}
    for idx, (out_ch, in_ch) in shapes.items():
        state[f"features.{idx}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=g) * 0.05
        state[f"features.{idx}.bias"] = torch.randn(out_ch, generator=g) * 0.01
    return state


@pytest.fixture
def vgg_file(tmp_path: Path) -> Path:
    path = tmp_path / "vgg19_small.safetensors"
    save_file(_vgg_state(), str(path))
    return path


@pytest.fixture
def images() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 24, 24, generator=g), torch.rand(2, 3, 24, 24, generator=g)


def test_pixel_losses_values() -> None:
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    assert l1_loss(a, b).item() == pytest.approx(1.0)
    assert mse_loss(a, b).item() == pytest.approx(1.5)
    # Charbonnier: eps at zero error, about |d| for large errors
    assert charbonnier_loss(a, a).item() == pytest.approx(1e-3)
    assert charbonnier_loss(a, b).item() == pytest.approx((1 + 1 + 2 + 1e-3) / 4, abs=1e-6)


def test_content_loss_weights_and_parts(images) -> None:
    sr, hr = images
    loss = ContentLoss({"l1": 0.5, "mse": 2.0, "charbonnier": 0.0})
    total, parts = loss(sr, hr)
    assert set(parts) == {"l1", "mse"}
    assert total.item() == pytest.approx(0.5 * l1_loss(sr, hr).item() + 2 * mse_loss(sr, hr).item())


@pytest.mark.parametrize("weights", [{}, {"l1": 0.0}, {"l2": 1.0}, {"perceptual": 1.0}])
def test_content_loss_rejects_bad_weights(weights) -> None:
    with pytest.raises(ConfigError):
        ContentLoss(weights)


def test_adversarial_terms() -> None:
    zero = torch.zeros(4, 1)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    sure_real, sure_fake = torch.full((4, 1), 10.0), torch.full((4, 1), -10.0)
    assert discriminator_loss(sure_real, sure_fake).item() < 1e-3
    # the generator is rewarded when the discriminator calls its output real
    assert generator_adversarial_loss(sure_real) < generator_adversarial_loss(sure_fake)


def test_vgg_layer_indices_match_torchvision() -> None:
    assert VGG19_LAYERS["conv1_1"] == 0 and VGG19_LAYERS["relu1_2"] == 3
    assert VGG19_LAYERS["conv5_4"] == 34 and VGG19_LAYERS["relu5_4"] == 35
    assert VGG19_LAYERS["pool5"] == 36
    with pytest.raises(ConfigError, match="relu9_9"):
        PerceptualLoss("unused", ["relu9_9"])


def test_perceptual_loss_by_path(vgg_file: Path, images) -> None:
    sr, hr = images
    loss = PerceptualLoss(vgg_file, LAYERS)
    assert len(loss.features) == VGG19_LAYERS["relu2_1"] + 1
    assert loss(hr, hr).item() == 0.0
    sr = sr.clone().requires_grad_(True)
    value = loss(sr, hr)
    value.backward()
    assert value.item() > 0 and sr.grad is not None and sr.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())
    assert loss(sr[:, :1], hr[:, :1]).item() > 0  # Y input is repeated to 3 channels


def test_perceptual_loss_from_pth_and_file_url(vgg_file: Path, tmp_path: Path, images) -> None:
    sr, hr = images
    pth = tmp_path / "vgg19_small.pth"
    torch.save(_vgg_state(), pth)
    legacy = tmp_path / "vgg19_legacy.pth"  # torchvision's published file is pre-zip format
    torch.save(_vgg_state(), legacy, _use_new_zipfile_serialization=False)
    expected = PerceptualLoss(vgg_file, LAYERS)(sr, hr)
    for path in (pth, legacy):
        assert PerceptualLoss(path, LAYERS)(sr, hr).item() == pytest.approx(expected.item())
    by_url = PerceptualLoss(vgg_file.as_uri(), LAYERS)(sr, hr)
    assert by_url.item() == pytest.approx(expected.item())


def test_perceptual_weights_from_http_cached(vgg_file: Path, tmp_path: Path, monkeypatch,
                                            images) -> None:
    monkeypatch.setenv("SR_ENGINE_CACHE", str(tmp_path / "cache"))
    handler = functools.partial(_QuietHandler, directory=str(vgg_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{vgg_file.name}"
        local = resolve_source(url)
        assert local.parent.parent == tmp_path / "cache"
        assert local.read_bytes() == vgg_file.read_bytes()
        sr, hr = images
        by_http = PerceptualLoss(url, LAYERS)(sr, hr)
        assert by_http.item() == pytest.approx(PerceptualLoss(vgg_file, LAYERS)(sr, hr).item())
        with pytest.raises(CheckpointError, match="cannot download"):
            resolve_source(f"http://127.0.0.1:{server.server_port}/missing.pth")
    finally:
        server.shutdown()
        server.server_close()
    assert not list((tmp_path / "cache" / "weights").glob(".part-*"))  # no partial leftovers


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


def test_wrong_weight_files_are_clear_errors(tmp_path: Path, vgg_file: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        PerceptualLoss(tmp_path / "nope.safetensors", LAYERS)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a tensor file")
    with pytest.raises(CheckpointError, match="unreadable"):
        PerceptualLoss(junk, LAYERS)
    other = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(1)}, str(other))
    with pytest.raises(CheckpointError, match="features.0.weight"):
        PerceptualLoss(other, LAYERS)
    with pytest.raises(CheckpointError, match="features.7.weight"):  # file too shallow
        PerceptualLoss(vgg_file, ["relu3_1"])
    pickled = tmp_path / "evil.pth"  # arbitrary objects are refused (weights_only=True)
    torch.save({"features.0.weight": _QuietHandler}, pickled)
    with pytest.raises(CheckpointError, match="unreadable"):
        PerceptualLoss(pickled, LAYERS)
    bad_shape = _vgg_state()
    bad_shape["features.2.weight"] = torch.zeros(64, 32, 3, 3)
    save_file(bad_shape, str(other))
    with pytest.raises(CheckpointError, match="shape"):
        PerceptualLoss(other, LAYERS)
