"""Perceptual training without ImageNet weights: the seeded random VGG19 loss network, the
TV regulariser, SRGAN started from an SRResNet checkpoint, what its checkpoint and card
record, and "latest, not best PSNR" for perceptual models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sr_engine.checkpoint import CheckpointMeta, read_meta, save_checkpoint
from sr_engine.errors import ConfigError
from sr_engine.losses import PerceptualLoss
from sr_engine.losses.calibrate import hr_patches, measure
from sr_engine.losses.pixel import total_variation
from sr_engine.metrics.niqe import niqe_params_path
from sr_engine.registry import create_model, get_spec
from sr_engine.ship import training_card
from sr_engine.train import TrainConfig, train
from sr_engine.train.outputs import read_log
from sr_engine.train.session import Session
from sr_engine.train.validate import Validator
from tests.engine.test_train import _write_images

SMOKE = Path(__file__).resolve().parents[2] / "sr_engine" / "recipes" / "tiny_smoke.toml"
TINY = "model.hparams={n_resblocks = 1, n_feats = 8}"


def _config(tmp_path: Path, *extra: str) -> TrainConfig:
    train_dir = _write_images(tmp_path / "train", 3, 48, 0)
    val_dir = _write_images(tmp_path / "val", 2, 32, 1)
    return TrainConfig.from_toml(SMOKE).with_overrides(
        [f'data.train=["{train_dir}"]', f'data.val="{val_dir}"',
         f'train.out_dir="{tmp_path / "run"}"', "optim.warmup_steps=0", *extra])


def test_random_vgg_is_a_pure_function_of_its_seed() -> None:
    sr, hr = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    a, b = PerceptualLoss("random:0", ["relu2_2"]), PerceptualLoss("random:0", ["relu2_2"])
    other = PerceptualLoss("random:1", ["relu2_2"])
    assert a.describe() == b.describe()
    assert a(sr, hr).item() == b(sr, hr).item()
    assert a.describe()["sha256"] != other.describe()["sha256"]
    assert a(sr, hr).item() != other(sr, hr).item()
    assert a.describe() | {"sha256": ""} == {"net": "vgg19", "weights": "random:0",
                                             "kind": "random init", "layers": "relu2_2",
                                             "sha256": ""}


def test_random_vgg_keeps_the_signal_alive_to_relu5_4() -> None:
    # torchvision's fan_out init: deep random features neither vanish nor explode, so a
    # relu5_4 loss still tells a blurred image from a sharp one.
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 64, 64)
    blurred = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)
    loss = PerceptualLoss("random:0", ["relu5_4"])
    assert loss(blurred, hr).item() > 1e-6
    assert loss(hr, hr).item() == 0.0


@pytest.mark.parametrize("source", ["random:", "random:x", "random:1.5"])
def test_malformed_random_source(source: str) -> None:
    with pytest.raises(ConfigError, match="random:SEED"):
        PerceptualLoss(source, ["relu1_1"])


def test_total_variation() -> None:
    assert total_variation(torch.full((1, 3, 8, 8), 0.3), None).item() == 0.0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0  # every horizontal neighbour differs by 1, no vertical one does
    assert total_variation(stripes, None).item() == pytest.approx(1.0)


def test_srgan_is_srresnet_trained_for_texture() -> None:
    srgan, srresnet = get_spec("srgan"), get_spec("srresnet")
    assert srgan.build is srresnet.build and srgan.objective == "perceptual"
    assert srresnet.objective == "psnr" and get_spec("johnson").objective == "perceptual"


def test_srgan_starts_from_srresnet_and_records_its_loss_network(tmp_path: Path) -> None:
    init = tmp_path / "srresnet_x2.safetensors"
    hparams = {"n_resblocks": 1, "n_feats": 8}
    torch.manual_seed(3)
    net = create_model("srresnet", scale=2, **hparams)
    save_checkpoint(init, net, CheckpointMeta(arch="srresnet", scale=2, hparams=hparams,
                                              color="rgb"))
    config = _config(tmp_path, "model.arch=srgan", TINY, f'model.init="{init}"',
                     "loss.l1=0", "loss.perceptual=1", 'loss.perceptual_weights="random:7"',
                     'loss.perceptual_layers=["relu1_2"]', "loss.tv=0.01",
                     "loss.adversarial=0.001",
                     "loss.discriminator_hparams={n_feats = 4, dense = 8}",
                     "train.steps=2", "train.val_every=1", "train.log_every=1",
                     'model.color_fix="meanstd"')
    result = train(config)
    meta = read_meta(result.best_checkpoint)
    assert meta.arch == "srgan" and meta.feature_network["weights"] == "random:7"
    assert meta.color_fix == "meanstd"  # what color fix "auto" will apply to its outputs
    assert meta.feature_network["sha256"] == PerceptualLoss(
        "random:7", ["relu1_2"]).describe()["sha256"]
    # a perceptual model ships its latest validated weights, whatever their PSNR
    assert meta.step == 2 and meta.notes.startswith("latest validation")
    logged = [line for line in read_log(result.out_dir) if line["kind"] == "train"]
    assert {"perceptual", "tv", "adversarial"} <= set(logged[-1])
    card = training_card("srgan_x2", meta.to_dict(), [])
    assert "random init `random:7`, layers relu1_2, weights sha256" in card
    assert "colour fix applied by default (color_fix auto): meanstd" in card


def test_init_refuses_another_network(tmp_path: Path) -> None:
    init = tmp_path / "edsr_x2.safetensors"
    hp = {"n_resblocks": 1, "n_feats": 8}
    save_checkpoint(init, create_model("edsr", scale=2, **hp),
                    CheckpointMeta(arch="edsr", scale=2, hparams=hp, color="rgb"))
    config = _config(tmp_path, "model.arch=srgan", TINY, f'model.init="{init}"',
                     "train.steps=1")
    with pytest.raises(ConfigError, match="is edsr"):
        train(config)


@pytest.mark.skipif(not niqe_params_path().is_file(),
                    reason="NIQE's pristine model absent (../shared/data/metrics or "
                           "$SR_NIQE_PARAMS)")
def test_perceptual_models_validate_with_niqe_too(tmp_path: Path) -> None:
    folder = _write_images(tmp_path / "val", 2, 208, 2)
    hp = {"n_resblocks": 1, "n_feats": 8}
    figures = {}
    for arch in ("srgan", "srresnet"):
        validator = Validator(folder, spec=get_spec(arch), scale=4, hparams=hp, name=arch,
                              device=torch.device("cpu"))
        figures[arch] = validator(create_model(arch, scale=4, **hp))
    assert set(figures["srgan"]) == {"psnr", "ssim", "niqe"} and figures["srgan"]["niqe"] > 0
    assert set(figures["srresnet"]) == {"psnr", "ssim"}


def test_the_calibration_measures_every_figure_the_recipes_quote(tmp_path: Path) -> None:
    folder = _write_images(tmp_path / "hr", 3, 128, 4)
    hr = hr_patches(folder, 2, seed=0)
    assert hr.shape == (2, 3, 96, 96) and torch.equal(hr, hr_patches(folder, 2, seed=0))
    figures = measure(hr)
    terms = ("pixel_mse", "pixel_l1", "relu5_4", "five_layers", "relu2_2")
    assert set(figures) == {"tv_hr", *(f"{t}_{m}" for t in terms
                                       for m in ("srresnet", "bicubic"))}
    assert all(v > 0 for v in figures.values())


@pytest.mark.parametrize(("arch", "last", "best", "improved"), [
    ("srresnet", {"psnr": 30.0, "niqe": 5.0}, {"psnr": 30.1, "niqe": 9.0}, False),  # by PSNR
    ("srresnet", {"psnr": 30.2}, {"psnr": 30.1}, True),
    ("srgan", {"psnr": 29.0, "niqe": 7.5}, {"psnr": 30.0, "niqe": 8.0}, True),  # by NIQE
    ("srgan", {"psnr": 30.4, "niqe": 11.3}, {"psnr": 30.2, "niqe": 7.6}, False),
    ("srgan", {"psnr": 29.0}, {"psnr": 30.0}, True),  # no NIQE at hand: the latest
])
def test_which_validation_a_run_keeps(arch: str, last: dict, best: dict, improved: bool) -> None:
    run = SimpleNamespace(spec=get_spec(arch), last_metrics=last, best_metrics=best,
                          best_psnr=best["psnr"])
    assert Session.improved(run) is improved
