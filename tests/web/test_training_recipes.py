"""Studio presets: a stage recipe that `extends` an earlier one arrives whole; the run form's
precision choices are the engine's."""

from __future__ import annotations

from typing import get_args

from sr_engine.train import TrainConfig
from sr_engine.train.config import TrainPrecision
from webapp.training.forms import TrainingRunForm
from webapp.training.recipes import RECIPES_DIR, build_train_config


def test_a_stage_preset_carries_what_it_inherits(tmp_path):
    shipped = TrainConfig.from_toml(RECIPES_DIR / "vdsr_x2_stage5.toml")
    cfg = build_train_config(arch="vdsr", scale=2, recipe="vdsr_x2_stage5", train_dir="t",
                             val_dir=None, overrides={}, out_dir=str(tmp_path), device="cpu",
                             name="stage")
    # patch size, rate and clipping are written only in earlier stages of the chain
    assert cfg.data.patch_size == shipped.data.patch_size == 21
    assert cfg.optim.lr == shipped.optim.lr == 1e-4
    assert cfg.optim.grad_clip == shipped.optim.grad_clip == 0.4
    assert cfg.model.init == shipped.model.init and cfg.train.steps == 20000


def test_the_form_offers_every_engine_precision_and_auto_reaches_the_config(tmp_path):
    offered = [value for value, _ in TrainingRunForm().fields["precision"].choices if value]
    assert offered == list(get_args(TrainPrecision)) and "auto" in offered
    cfg = build_train_config(arch="espcn", scale=3, recipe="espcn_x3", train_dir="t",
                             val_dir=None, overrides={"precision": "auto"},
                             out_dir=str(tmp_path), device="cpu", name="auto")
    assert cfg.train.precision == "auto"  # resolved by the engine when the run starts
