"""The training loop on a tiny dataset written to tmp: events, outputs, exact resume,
cancellation, GAN/perceptual and recursive-supervision paths, the LR schedule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from sr_engine.archs.shuffle import ShuffleConv
from sr_engine.checkpoint import load_checkpoint
from sr_engine.errors import Cancelled, ConfigError, TrainingStopped
from sr_engine.progress import ProgressEvent
from sr_engine.registry import create_model
from sr_engine.train import TrainConfig, loop, train
from sr_engine.train.config import OptimSection
from sr_engine.train.optim import lr_at
from sr_engine.train.outputs import read_log
from sr_engine.train.session import build_session
from sr_engine.train.state import STATE_FILE, load_state

SMOKE = Path(__file__).resolve().parents[2] / "sr_engine" / "recipes" / "tiny_smoke.toml"



def _write_images(folder: Path, n: int, size: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BILINEAR).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return (_write_images(tmp_path / "train", 3, 40, 0), _write_images(tmp_path / "val", 2, 24, 1))


def _config(data: tuple[Path, Path], out: Path, *extra: str) -> TrainConfig:
    train_dir, val_dir = data
    return TrainConfig.from_toml(SMOKE).with_overrides(
        [f'data.train=["{train_dir}"]', f'data.val="{val_dir}"', f'train.out_dir="{out}"',
         *extra])


def test_smoke_events_outputs_and_checkpoint(data, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    config = _config(data, tmp_path / "run")
    result = train(config, progress=events.append)
    stages = [e.stage for e in events]
    assert stages[0] == "loading" and stages[-1] == "done"
    firsts = [stages.index(s) for s in ("loading", "training", "validating", "saving", "done")]
    assert firsts == sorted(firsts)
    steps = [e.current for e in events if e.stage == "training" and e.metrics]
    assert steps == [2, 4, 6, 8]
    assert {"loss", "l1", "lr", "it/s"} <= set(events[stages.index("training")].metrics)
    val = [e.metrics for e in events if e.stage == "validating" and e.metrics]
    assert len(val) == 2 and all({"psnr", "ssim"} <= set(m) for m in val)

    assert result.steps == 8 and result.out_dir == tmp_path / "run"
    assert result.best_metrics["psnr"] == max(m["psnr"] for m in val)
    assert sorted(p.name for p in result.out_dir.glob("step_*")) == ["step_0000008.safetensors"]
    assert result.last_checkpoint == result.out_dir / "step_0000008.safetensors"
    assert (result.out_dir / STATE_FILE).exists()
    log = read_log(result.out_dir)
    assert [r["step"] for r in log if r["kind"] == "train"] == [2, 4, 6, 8]
    assert [r["step"] for r in log if r["kind"] == "val"] == [4, 8]

    module, meta = load_checkpoint(result.best_checkpoint)
    assert (meta.arch, meta.scale, meta.color) == ("espcn", 2, "y")
    assert meta.hparams["n1"] == 8 and meta.recipe == config.to_dict()
    assert len(meta.data_fingerprint) == 64 and meta.metrics["psnr"] == result.best_metrics["psnr"]
    last, last_meta = load_checkpoint(result.last_checkpoint)
    assert last_meta.step == 8
    ema = load_state(result.out_dir / STATE_FILE)["ema"]  # checkpoints hold the EMA weights
    assert all(torch.equal(v, ema[k]) for k, v in last.state_dict().items())
    lr = torch.rand(1, 1, 6, 6)
    assert module(lr).shape == (1, 1, 12, 12)


def test_heartbeats_between_log_lines_let_a_stop_land_within_a_step(data, tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(loop, "HEARTBEAT_S", 0.0)  # every step that does not log sends one
    events: list[ProgressEvent] = []

    def callback(event: ProgressEvent) -> None:
        events.append(event)
        if event.stage == "training" and event.current >= 3:
            raise Cancelled("stop")

    with pytest.raises(TrainingStopped) as stopped:
        train(_config(data, tmp_path / "run"), progress=callback)
    assert stopped.value.step == 3  # log lines come every 2 steps: 4 without the heartbeat
    assert [(e.current, sorted(e.metrics)[:1]) for e in events if e.stage == "training"] == [
        (1, []), (2, ["it/s"]), (3, [])]
    assert load_state(tmp_path / "run" / STATE_FILE)["step"] == 3


def _stop_at(step: int):
    def callback(event: ProgressEvent) -> None:
        if event.stage == "training" and event.current >= step:
            raise Cancelled("stop")
    return callback


def _tensors(obj: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested state, by path (to compare two states exactly)."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, (list, tuple)) else []
    return {k: v for key, sub in items for k, v in _tensors(sub, f"{prefix}.{key}").items()}


def test_cancel_saves_state_and_resume_is_bit_identical(data, tmp_path: Path) -> None:
    full = train(_config(data, tmp_path / "full"))
    part = _config(data, tmp_path / "part")
    with pytest.raises(Cancelled):
        train(part, progress=_stop_at(4))
    assert load_state(tmp_path / "part" / STATE_FILE)["step"] == 4
    resumed = train(part, resume=tmp_path / "part")
    assert resumed.steps == 8
    a = load_state(full.out_dir / STATE_FILE)
    b = load_state(resumed.out_dir / STATE_FILE)
    ta, tb = _tensors({k: a[k] for k in ("model", "ema", "optimizer", "rng")}), \
        _tensors({k: b[k] for k in ("model", "ema", "optimizer", "rng")})
    assert ta.keys() == tb.keys() and len(ta) > 10
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert a["best_metrics"] == b["best_metrics"]
    log = read_log(resumed.out_dir)
    assert [r["step"] for r in log if r["kind"] == "train"] == [2, 4, 6, 8]


def test_existing_run_needs_resume_and_matching_recipe(data, tmp_path: Path) -> None:
    config = _config(data, tmp_path / "run", "train.steps=2", "optim.warmup_steps=0")
    train(config)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config)
    other = _config(data, tmp_path / "run", "train.steps=4", "model.scale=3")
    with pytest.raises(ConfigError, match="x2"):
        train(other, resume=tmp_path / "run")


def test_gan_with_perceptual_loss_bf16(data, tmp_path: Path) -> None:
    vgg = tmp_path / "vgg.safetensors"
    save_file({"features.0.weight": torch.randn(64, 3, 3, 3) * 0.05,
               "features.0.bias": torch.zeros(64)}, str(vgg))
    config = _config(data, tmp_path / "gan", "model.arch=srresnet",
                     "model.hparams={n_resblocks = 1, n_feats = 8}", "loss.l1=1.0",
                     "loss.perceptual=0.1", f'loss.perceptual_weights="{vgg.as_uri()}"',
                     'loss.perceptual_layers=["relu1_1"]', "loss.adversarial=0.01",
                     "loss.discriminator_hparams={n_feats = 4, dense = 8}",
                     "train.steps=2", "optim.warmup_steps=0", "train.precision=bf16",
                     "train.log_every=1")
    events: list[ProgressEvent] = []
    train(config, progress=events.append)
    logged = [e.metrics for e in events if e.stage == "training"]
    assert {"perceptual", "adversarial", "discriminator"} <= set(logged[-1])
    assert all(math.isfinite(m["loss"]) for m in logged)
    state = load_state(tmp_path / "gan" / STATE_FILE)
    assert state["disc"] and state["disc_optimizer"]["state"]


def test_recursive_supervision_needs_forward_all(data, tmp_path: Path) -> None:
    drcn = _config(data, tmp_path / "drcn", "model.arch=drcn", "loss.intermediate=0.5",
                   "model.hparams={n_feats = 4, recursions = 2}", "train.steps=2",
                   "optim.warmup_steps=0")
    assert train(drcn).steps == 2
    with pytest.raises(ConfigError, match="forward_all"):
        train(_config(data, tmp_path / "espcn", "loss.intermediate=0.5"))


def test_lr_schedule() -> None:
    cosine = OptimSection(lr=1e-3, warmup_steps=4, min_lr=1e-5)
    assert [lr_at(s, cosine, 100) for s in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lr_at(52, cosine, 100) == pytest.approx((1e-3 + 1e-5) / 2)
    assert lr_at(100, cosine, 100) == pytest.approx(1e-5)
    step = OptimSection(lr=1.0, schedule="step", milestones=[10, 20], gamma=0.1)
    assert [lr_at(s, step, 30) for s in (0, 9, 10, 19, 20)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01])
    assert lr_at(7, OptimSection(lr=0.5, schedule="constant"), 10) == 0.5


def test_init_from_a_checkpoint(data, tmp_path: Path) -> None:
    first = train(_config(data, tmp_path / "first", "train.steps=2", "optim.warmup_steps=0"))
    init = f'model.init="{first.last_checkpoint}"'
    session = build_session(_config(data, tmp_path / "second", init))
    trained, _ = load_checkpoint(first.last_checkpoint)
    ours = session.model.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in trained.state_dict().items())
    wider = _config(data, tmp_path / "third", init, "model.hparams={n1 = 16, n2 = 8}")
    with pytest.raises(ConfigError, match="model.init"):
        build_session(wider)


def test_init_from_another_scale_copies_the_shared_tensors(data, tmp_path: Path) -> None:
    """x3 fine-tuned from x2: all but the scale-dependent last conv (s^2 outputs) copied."""
    first = train(_config(data, tmp_path / "x2", "train.steps=2", "optim.warmup_steps=0"))
    init = f'model.init="{first.last_checkpoint}"'
    session = build_session(_config(data, tmp_path / "x3", init, "model.scale=3"))
    trained = load_checkpoint(first.last_checkpoint)[0].state_dict()
    ours = session.model.state_dict()
    same = {k for k, v in trained.items() if ours[k].shape == v.shape}
    assert same == set(trained) - {"body.4.weight", "body.4.bias"}
    assert all(torch.equal(ours[k], trained[k]) for k in same)
    assert ours["body.4.weight"].shape[0] == 9


def test_fsrcnn_from_another_scale_keeps_a_fresh_deconvolution(data, tmp_path: Path) -> None:
    """FSRCNN's deconvolution has the same shape at every scale but is another filter bank:
    an x3 run started from x2 copies the body and leaves the deconvolution at its init."""
    tiny = ("model.arch='fsrcnn'", "model.hparams={d = 8, s = 4, m = 1}")
    first = train(_config(data, tmp_path / "x2", *tiny, "train.steps=2",
                          "optim.warmup_steps=0"))
    init = f'model.init="{first.last_checkpoint}"'
    torch.manual_seed(0)
    fresh = create_model("fsrcnn", scale=3, d=8, s=4, m=1).state_dict()
    ours = build_session(_config(data, tmp_path / "x3", *tiny, init,
                                 "model.scale=3")).model.state_dict()
    trained = load_checkpoint(first.last_checkpoint)[0].state_dict()
    for key, value in trained.items():
        expected = fresh[key] if key.startswith("deconv.") else value
        assert torch.equal(ours[key], expected), key


def test_training_on_cpu_trains_the_upsampler_in_pixel_order(data, tmp_path: Path) -> None:
    # sr_engine.archs.shuffle: same tensors, a cheaper shuffle (tests/engine/test_shuffle_order)
    edsr = ['model.arch="edsr"', "model.scale=4", "model.hparams={n_resblocks=1, n_feats=8}",
            "data.patch_size=4"]
    session = build_session(_config(data, tmp_path / "run", *edsr))
    kinds = {type(m) for m in session.model.modules()}
    assert ShuffleConv in kinds and torch.nn.PixelShuffle not in kinds
