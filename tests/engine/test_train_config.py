"""TrainConfig: every shipped recipe parses, and mistakes are one-line ConfigErrors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from sr_engine.errors import ConfigError
from sr_engine.losses.perceptual import random_seed
from sr_engine.paths import REPO_ROOT
from sr_engine.train import TrainConfig

RECIPE_DIR = REPO_ROOT / "sr_engine" / "recipes"
RECIPES = sorted(RECIPE_DIR.glob("*.toml"))
MINIMAL = {
    "model": {"arch": "espcn", "scale": 2},
    "data": {"train": ["some/folder"]},
    "train": {"steps": 10},
}


def _shipped_name(stem: str) -> str:
    """The model a recipe ships (`fsrcnn_x3_stage2` ships `fsrcnn_x3`, `vdsr_x2_cpu` `vdsr_x2`)."""
    return re.sub(r"_stage\d+$", "", stem.removesuffix("_cpu"))


def _stage(stem: str) -> int:
    """A recipe's stage: `_stage{k}` names it; the first recipe of a model (`srcnn_x2`,
    `edsr_x2_cpu`) is stage 1."""
    found = re.search(r"_stage(\d+)$", stem)
    return int(found.group(1)) if found else 1


def _with(section: str, **values: object) -> dict:
    data = {k: dict(v) for k, v in MINIMAL.items()}
    data.setdefault(section, {}).update(values)
    return data


def test_recipes_are_shipped() -> None:
    names = {p.stem for p in RECIPES}
    light = ("espcn", "fsrcnn", "srcnn", "vdsr", "edsr")
    expected = {f"{a}_x{s}" for a in light for s in (2, 3, 4)}
    assert expected | {"srresnet_x4", "srgan_x4", "tiny_smoke"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_parses_and_round_trips(recipe: Path) -> None:
    config = TrainConfig.from_toml(recipe)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.run_name
    if recipe.stem != "tiny_smoke":  # shipped recipes train on the shared sets, check on them
        # the protocol's training sets, or a part of them (FSRCNN's T91 + General-100)
        assert {p.name for p in config.data.train} <= {"T91", "BSD200", "General100"}
        # Set5; video models on clips made from Set14's stills (14 clips to Set5's 5)
        assert config.data.val is not None and config.data.val.name in ("Set5", "Set14")
        assert recipe.stem.split("_")[0] in (config.model.arch, "srgan")
        # `{arch}_x{scale}.toml`, `{arch}_x{scale}_cpu.toml` for a CPU cut of a GPU recipe, or
        # `{arch}_x{scale}_stage{k}.toml` for a later stage that continues the shipped model
        stem = _shipped_name(recipe.stem)
        assert stem.endswith(f"_x{config.model.scale}")
        if "_stage" in recipe.stem:
            assert config.model.init == Path(f"sr_engine/weights/{stem}.safetensors")


def test_train_zoo_runs_every_cpu_recipe_after_the_weights_it_starts_from() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^ZOO \?=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert found, "Makefile has no ZOO ?= list"
    zoo = found.group(1).replace("\\", " ").split()
    names = {p.stem for p in RECIPES}
    assert set(zoo) <= names
    # on the CPU: the light archs and the video models (their shipped weights were trained
    # on a CPU), every later stage and every CPU cut (the rest need a GPU)
    cpu = {n for n in names if n.split("_")[0] in ("espcn", "fsrcnn", "srcnn", "vespcn", "deepsr")
           or n.endswith("_cpu") or "_stage" in n}
    assert set(zoo) == cpu, "make train-zoo must list every CPU recipe"
    for i, name in enumerate(zoo):
        init = TrainConfig.from_toml(RECIPE_DIR / f"{name}.toml").model.init
        if init is None:
            continue
        shipped_before = [_shipped_name(n) for n in zoo[:i]]
        assert init.stem in shipped_before, f"{name} starts from {init} before it is trained"
        k = _stage(name)
        if k > 1:  # ... and from the stage just before it, not an older or a newer one
            last = max(j for j in range(i) if _shipped_name(zoo[j]) == init.stem)
            assert _stage(zoo[last]) == k - 1, f"{name} must follow stage {k - 1}, not {zoo[last]}"
        else:  # another model (x3 from x2) starts from the last stage of the one it inherits
            later = [n for n in zoo[i:] if _shipped_name(n) == init.stem]
            assert not later, f"{name} starts from {init.stem} before {later} finish it"


@pytest.mark.parametrize("recipe", [p for p in RECIPES if p.stem.endswith("_cpu")],
                         ids=lambda p: p.stem)
def test_cpu_cut_trains_the_same_model_as_its_paper_recipe(recipe: Path) -> None:
    cut = TrainConfig.from_toml(recipe)
    paper = TrainConfig.from_toml(recipe.with_name(recipe.name.removesuffix("_cpu.toml") + ".toml"))
    assert (cut.model.arch, cut.model.scale, cut.model.hparams) == \
        (paper.model.arch, paper.model.scale, paper.model.hparams)
    loss = cut.loss
    if random_seed(loss.perceptual_weights) is not None:
        # the one substitute a cut may make: a seeded random loss network for the paper's
        # ImageNet VGG (which cannot be fetched here), with its own calibrated weight, taps
        # and pixel anchor (docs/PERCEPTUAL.md)
        loss = dataclasses.replace(loss, perceptual=paper.loss.perceptual,
                                   perceptual_weights=paper.loss.perceptual_weights,
                                   perceptual_layers=paper.loss.perceptual_layers,
                                   l1=paper.loss.l1)
    assert loss == paper.loss


def test_defaults_fill_optional_sections() -> None:
    config = TrainConfig.from_dict(MINIMAL)
    assert config.optim.name == "adam" and config.loss.l1 == 1.0
    assert config.run_name == "espcn_x2" and config.train.out_dir is None
    assert config.data.augment.flips and config.data.augment.rot90


@pytest.mark.parametrize(("data", "match"), [
    (_with("optim", momentum=0.9), "optim.momentum"),
    ({**MINIMAL, "extra": {}}, "extra"),
    (_with("train", steps="many"), "train.steps"),
    (_with("optim", name="sgd"), "optim.name"),
    (_with("optim", betas=[0.9]), "optim.betas"),
    (_with("data", train="not-a-list"), "data.train"),
    (_with("model", arch="nope"), "nope"),
    (_with("model", arch="bicubic"), "not trainable"),
    (_with("model", scale=5), "x5"),
    (_with("model", hparams={"depth": 3}), "depth"),
    (_with("optim", schedule="step"), "milestones"),
    (_with("optim", warmup_steps=10), "warmup"),
    (_with("loss", l1=0.0), "non-zero"),
    (_with("loss", perceptual=1.0), "perceptual_weights"),
    (_with("loss", perceptual=1.0, perceptual_weights="w.pth", perceptual_layers=["relu9_1"]),
     "relu9_1"),
    (_with("train", ema=1.0), "ema"),
    (_with("loss", adversarial=1e-3), "cannot judge"),  # espcn outputs Y, the critic wants RGB
    (_with("loss", adversarial=1e-3, discriminator="vdsr"), "cannot judge"),
    (_with("loss", adversarial=1e-3, discriminator="nope"), "loss.discriminator"),
    (_with("train", device="tpu"), "device"),
    (_with("data", augment={"rescale": [0.1, 1.0]}), "data.augment.rescale"),
    (_with("data", augment={"rescale": [0.9, 0.8]}), "data.augment.rescale"),
])
def test_strict_errors(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_dict(data)


def test_overrides() -> None:
    config = TrainConfig.from_dict(MINIMAL).with_overrides(
        ["optim.lr=1e-3", "train.steps=5", 'data.train=["a", "b"]', "train.precision=bf16"])
    assert config.optim.lr == 1e-3 and config.train.steps == 5
    assert [p.name for p in config.data.train] == ["a", "b"] and config.train.precision == "bf16"
    for bad in ["optim.nope=1", "optim.lr", "train.steps=0", "optim.lr=fast", "nope.lr=1"]:
        with pytest.raises(ConfigError):
            TrainConfig.from_dict(MINIMAL).with_overrides([bad])


def test_unknown_key_in_toml_file(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\narch = "espcn"\nscale = 2\n[data]\ntrain = ["x"]\n'
                      '[train]\nsteps = 1\nlearning_rate = 0.1\n')
    with pytest.raises(ConfigError, match="train.learning_rate"):
        TrainConfig.from_toml(recipe)



@pytest.mark.data
@pytest.mark.skipif(not (REPO_ROOT.parent / "shared" / "data").is_dir(),
                    reason="../shared/data (the recipes' relative data paths) is absent")
@pytest.mark.parametrize("recipe", [p for p in RECIPES if p.stem != "tiny_smoke"],
                         ids=lambda p: p.stem)
def test_recipe_folders_exist_from_the_repo_root(recipe: Path) -> None:
    """Recipes are run from the repository root; their relative data paths must resolve."""
    config = TrainConfig.from_toml(recipe)
    assert config.data.val is not None
    for folder in [*config.data.train, config.data.val]:
        assert (REPO_ROOT / folder).is_dir(), folder
    if config.model.init is not None:  # x3/x4 fine-tunes start from a shipped x2 checkpoint
        assert (REPO_ROOT / config.model.init).is_file(), config.model.init
