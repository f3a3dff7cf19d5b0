"""tile = "auto" (sr_engine.inference.autotile): the whole image when its activations fit the
budget, else the largest tiles that do; the output is the whole-image output either way."""

from __future__ import annotations

import pytest
import torch

from sr_engine.errors import ConfigError
from sr_engine.inference import UpscaleConfig, autotile, upscale_tensor
from sr_engine.inference.tensor import size_rules
from sr_engine.registry import get_spec
from tests.engine.test_inference import make_model


def _choose(model, height, width, *, precision="fp32", batch=4):
    return autotile.choose_tile(model, height, width, precision=precision,
                                rules=size_rules(model), batch=batch)


def test_the_whole_image_runs_in_one_forward_when_it_fits(monkeypatch):
    monkeypatch.setenv("SR_ENGINE_TILE_MEMORY_MB", "64")
    model = make_model(get_spec("espcn"), 2)
    assert _choose(model, 100, 80) == (0, 1)


def test_larger_images_get_the_largest_tiles_whose_activations_fit(monkeypatch):
    monkeypatch.setenv("SR_ENGINE_TILE_MEMORY_MB", "16")
    model = make_model(get_spec("fsrcnn"), 2)
    rules = size_rules(model)
    per_pixel = autotile.peak_elements(model, rules) * 4 * autotile.LIVE
    tile, batch = _choose(model, 4000, 3000)
    assert batch == 1  # on CPU tiles are not batched: that only adds memory
    assert tile > 0 and tile % 16 == 0
    assert (tile + 2 * rules.halo) ** 2 * per_pixel <= 16 * 2**20  # its region fits
    assert (tile + 16 + 2 * rules.halo) ** 2 * per_pixel > 16 * 2**20  # the next one would not
    bf16_tile, _ = _choose(model, 4000, 3000, precision="bf16")
    assert bf16_tile > tile  # half the bytes per activation


def test_the_budget_setting_is_checked(monkeypatch):
    model = make_model(get_spec("espcn"), 2)
    for bad in ("lots", "8"):
        monkeypatch.setenv("SR_ENGINE_TILE_MEMORY_MB", bad)
        with pytest.raises(ConfigError, match="SR_ENGINE_TILE_MEMORY_MB"):
            _choose(model, 10, 10)


def test_auto_tiles_give_the_whole_image_output(monkeypatch):
    model = make_model(get_spec("fsrcnn"), 3)
    lr = torch.rand(1, 1, 70, 90)
    whole = upscale_tensor(model, lr, tile=0, precision="fp32")
    monkeypatch.setattr(autotile, "budget_bytes", lambda device: 40 * 40 * 200)
    assert autotile.choose_tile(model, 70, 90, precision="fp32", rules=size_rules(model),
                                batch=1)[0] > 0
    tiled = upscale_tensor(model, lr, tile="auto", precision="fp32")
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_auto_is_the_default_and_a_valid_config_value():
    assert UpscaleConfig().tile == "auto"
    assert UpscaleConfig.from_dict({"tile": "auto"}).tile == "auto"
    with pytest.raises(ConfigError, match="tile"):
        UpscaleConfig.from_dict({"tile": "big"})
