"""The zoo: registry ids, weight folders and checkpoint paths -> ready LoadedModels."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import sr_engine
from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.errors import (
    CheckpointError,
    ConfigError,
    EngineError,
    MissingWeightsError,
    UnknownModelError,
)
from sr_engine.registry import create_model, list_models
from sr_engine.zoo import (
    SHIPPED_WEIGHTS,
    available_checkpoints,
    load_model,
    resolve_device,
    weights_dirs,
)

SMALL = {"n1": 8, "n2": 4}


@pytest.fixture(autouse=True)
def no_user_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the folders they set up, never the developer's own weights."""
    monkeypatch.delenv("SR_ENGINE_WEIGHTS", raising=False)


def write_espcn(path: Path, scale: int = 3, name: str = "") -> torch.nn.Module:
    torch.manual_seed(scale)
    model = create_model("espcn", scale=scale, **SMALL)
    meta = CheckpointMeta.for_arch("espcn", scale=scale, hparams=SMALL, name=name)
    save_checkpoint(path, model, meta)
    return model


def assert_frozen_eval(module: torch.nn.Module) -> None:
    assert not module.training
    assert not any(p.requires_grad for p in module.parameters())


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.safetensors"
    original = write_espcn(path, name="my espcn")
    for ref in (path, str(path)):
        loaded = load_model(ref)
        assert (loaded.spec.id, loaded.scale, loaded.name) == ("espcn", 3, "my espcn")
        assert loaded.meta is not None and loaded.hparams == loaded.meta.hparams
        assert loaded.device == torch.device("cpu")
        assert_frozen_eval(loaded.module)
        x = torch.rand(1, 1, 7, 6)
        with torch.no_grad():
            assert torch.equal(loaded.module(x), original.eval()(x))
    assert load_model(path, scale=3).scale == 3
    with pytest.raises(ConfigError, match="x3 model, not x2"):
        load_model(path, scale=2)


def test_missing_path_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model(str(tmp_path / "nothing.safetensors"))


@pytest.mark.parametrize("spec", [s for s in list_models() if not s.trainable],
                         ids=lambda s: s.id)
def test_non_trainable_archs_need_no_weights(spec) -> None:
    loaded = load_model(spec.id, scale=spec.scales[-1])
    assert loaded.meta is None and loaded.name == spec.id and loaded.scale == spec.scales[-1]
    assert_frozen_eval(loaded.module)
    out = loaded.module(torch.rand(1, spec.channels, 4, 5))
    assert out.shape == (1, spec.channels, 4 * loaded.scale, 5 * loaded.scale)
    with pytest.raises(ConfigError, match="give a scale"):
        load_model(spec.id)
    with pytest.raises(ConfigError, match="supports scales"):
        load_model(spec.id, scale=5)


@pytest.mark.parametrize("spec", [s for s in list_models(kind=None) if s.trainable
                                  and s.kind != "discriminator"], ids=lambda s: s.id)
def test_missing_weights_say_how_to_train_them(spec, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", tmp_path)  # shipped files may appear
    scale = spec.scales[-1]
    with pytest.raises(MissingWeightsError) as info:
        load_model(spec.id, scale=scale)
    message = str(info.value)
    assert "\n" not in message
    name = f"{spec.id}_x{scale}.toml"
    exists = (Path(sr_engine.__file__).parent / "recipes" / name).is_file()
    # The command where the recipe exists; never a recipe that does not.
    assert (f"sr-engine train sr_engine/recipes/{name}" in message) == exists
    assert ("none are shipped yet" in message) != exists


def test_weights_env_dirs_are_searched_first(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_espcn(second / "espcn_x3.safetensors", name="from b")
    write_espcn(second / "espcn_x2.safetensors", scale=2, name="b x2")
    (second / "broken.safetensors").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", os.pathsep.join([str(first), str(second)]))
    assert weights_dirs() == [first, second, SHIPPED_WEIGHTS]
    assert load_model("espcn", scale=3).name == "from b"
    write_espcn(first / "espcn_x3.safetensors", name="from a")
    assert load_model("espcn", scale=3).name == "from a"
    listed = [(p.parent.name, p.name) for p, _ in available_checkpoints()
              if p.parent in (first, second)]  # the shipped zoo is listed after them
    assert listed == [("a", "espcn_x3.safetensors"), ("b", "espcn_x2.safetensors"),
                      ("b", "espcn_x3.safetensors")]  # the broken file is skipped


def test_checkpoint_ids_name_arch_and_scale(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", tmp_path / "shipped")
    write_espcn(tmp_path / "espcn_x3.safetensors", name="x3")
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(tmp_path))
    loaded = load_model("espcn_x3")  # as docs/RESULTS.md names it; no scale needed
    assert (loaded.spec.id, loaded.scale, loaded.name) == ("espcn", 3, "x3")
    assert load_model("espcn_x3", scale=3).name == "x3"
    assert load_model("bicubic_x4").scale == 4
    with pytest.raises(ConfigError, match="espcn_x3 is a x3 model, not x2"):
        load_model("espcn_x3", scale=2)
    with pytest.raises(MissingWeightsError, match="espcn x4"):
        load_model("espcn_x4")
    with pytest.raises(UnknownModelError):
        load_model("esrgan_x4")


def test_weights_file_of_another_arch_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_espcn(tmp_path / "fsrcnn_x3.safetensors")
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(tmp_path))
    with pytest.raises(CheckpointError, match="holds a espcn model, not fsrcnn"):
        load_model("fsrcnn", scale=3)


def test_unknown_names_list_the_registry() -> None:
    with pytest.raises(UnknownModelError) as info:
        load_model("esrgan-9000", scale=4)
    assert "edsr" in str(info.value) and "bicubic" in str(info.value)
    with pytest.raises(ConfigError, match="discriminator"):
        load_model("srgan_discriminator", scale=4)


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device().type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="CUDA is not available"):
            resolve_device("cuda:0")
