"""From a preset and a few overrides to a `TrainConfig`: the engine's dataclasses are the
only schema, so every check (arch, scale, hparams, patch size, loss weights) happens there.

Shipped recipes are written for long runs (warmup of hundreds of steps, validation every
few thousand). For a short run from the studio, intervals and warmup the user did not set
are fitted to the number of steps so the charts have points and the config stays valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sr_engine.config import load_toml
from sr_engine.errors import ConfigError
from sr_engine.train import TrainConfig

RECIPES_DIR = Path(__file__).resolve().parents[2] / "sr_engine" / "recipes"
# override name -> dotted key of the config
OVERRIDES = {
    "steps": "train.steps", "batch_size": "data.batch_size", "patch_size": "data.patch_size",
    "lr": "optim.lr", "l1": "loss.l1", "mse": "loss.mse", "charbonnier": "loss.charbonnier",
    "perceptual": "loss.perceptual", "adversarial": "loss.adversarial",
    "precision": "train.precision", "keep_last": "train.keep_last",
    "log_every": "train.log_every", "val_every": "train.val_every",
    "ckpt_every": "train.ckpt_every", "seed": "train.seed", "ema": "train.ema",
    "warmup_steps": "optim.warmup_steps", "hparams": "model.hparams",
}
LOSS_KEYS = ("l1", "mse", "charbonnier", "perceptual", "adversarial")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_data(name: str) -> dict[str, Any]:
    if name not in recipe_names():
        raise ConfigError(f"recipe: unknown preset {name!r}; one of {', '.join(recipe_names())}")
    return load_toml(RECIPES_DIR / f"{name}.toml")


def _set(data: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def build_train_config(*, arch: str, scale: int, recipe: str, train_dir: str,
                       val_dir: str | None, overrides: dict[str, Any], out_dir: str,
                       device: str, name: str) -> TrainConfig:
    """The whole config of a run; ConfigError names the first bad field."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ConfigError(f"overrides: unknown {', '.join(unknown)}; "
                          f"allowed: {', '.join(OVERRIDES)}")
    data = recipe_data(recipe) if recipe else {"train": {"steps": 1000}}
    model = data.setdefault("model", {})
    if model.get("arch") != arch or model.get("scale") != scale:
        model.pop("init", None)  # the preset's init/hparams belong to its own arch/scale
    if model.get("arch") != arch:
        model["hparams"] = {}
    model.update(arch=arch, scale=scale)
    data.setdefault("data", {}).update(train=[train_dir], val=val_dir)
    if any(k in overrides for k in LOSS_KEYS):  # loss weights given: the rest are 0
        data["loss"] = {**data.get("loss", {}), **dict.fromkeys(
            ("l1", "mse", "charbonnier", "perceptual", "adversarial"), 0.0)}
    for key, value in overrides.items():
        _set(data, OVERRIDES[key], value)
    _fit_to_steps(data, set(overrides))
    data["train"].update(out_dir=out_dir, device=device, name=name)
    if data["data"]["val"] is None:
        del data["data"]["val"]
    return TrainConfig.from_dict(data)


def _fit_to_steps(data: dict, given: set[str]) -> None:
    run, optim = data["train"], data.setdefault("optim", {})
    steps = run.get("steps")
    if not isinstance(steps, int) or steps < 1:
        return  # from_dict reports it
    defaults = {"log_every": max(1, steps // 100), "val_every": max(1, steps // 10),
                "ckpt_every": max(1, steps // 10)}
    for key, cap in defaults.items():
        if key not in given:
            run[key] = min(run.get(key, cap), cap)
    if "warmup_steps" not in given and optim.get("warmup_steps", 0) >= steps:
        optim["warmup_steps"] = steps // 10
    if optim.get("milestones"):
        optim["milestones"] = [m for m in optim["milestones"] if m < steps]
        if not optim["milestones"]:
            optim["schedule"] = "cosine"
