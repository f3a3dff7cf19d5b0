"""Studio presets: a stage recipe that `extends` an earlier one arrives whole."""

from __future__ import annotations

from sr_engine.train import TrainConfig
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
