"""Everything one training run holds, how it is built, saved and restored.

`Session.state_dict()` captures all that a step depends on (weights, EMA, optimizers, RNG
streams, step, bookkeeping), so `train(..., resume=...)` continues bit-identically on CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sr_engine.archs.shuffle import shuffle_in_pixel_order
from sr_engine.checkpoint import load_checkpoint
from sr_engine.data.clips import ClipSampler, RealClipSampler
from sr_engine.data.datasets import PatchSampler
from sr_engine.data.motion import Motion
from sr_engine.errors import ConfigError
from sr_engine.losses import ContentLoss, PerceptualLoss, expand_path
from sr_engine.registry import ArchSpec, create_model, get_spec
from sr_engine.train.config import TrainConfig
from sr_engine.train.ema import EMA
from sr_engine.train.optim import build_optimizer
from sr_engine.train.state import STATE_FILE, load_state, restore_rng, rng_state
from sr_engine.train.validate import Validator
from sr_engine.zoo import resolve_device


def _prepare(module: nn.Module, device: torch.device) -> nn.Module:
    module = module.to(device)
    if device.type != "cpu":
        return module
    shuffle_in_pixel_order(module)  # the shuffle copies whole pixels on channels_last
    # channels_last: oneDNN's fast convolution layout on CPU
    return module.to(memory_format=torch.channels_last)


@dataclass
class Session:
    config: TrainConfig
    device: torch.device
    spec: ArchSpec
    hparams: dict[str, Any]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: ContentLoss
    sampler: PatchSampler
    out_dir: Path
    ema: EMA | None = None
    disc: nn.Module | None = None
    disc_optimizer: torch.optim.Optimizer | None = None
    validator: Validator | None = None
    step: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_step: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # step checkpoints on disk, oldest first
    # The data generator's state after the last batch trained on; batches are built ahead
    # (data/prefetch.py), so the generator itself is further on. None: nothing prefetched.
    data_state: Tensor | None = None

    @property
    def eval_module(self) -> nn.Module:
        """The weights that are validated and saved: the EMA ones when enabled."""
        return self.ema.shadow if self.ema else self.model

    @property
    def best_psnr(self) -> float:
        return self.best_metrics.get("psnr", -math.inf)

    def improved(self) -> bool:
        """Whether the last validation beats the best: by PSNR, or for a perceptual model
        by NIQE (lower is more natural; what it optimises), or, without NIQE at hand, it is
        simply the latest (PSNR falls on purpose as such a model learns texture)."""
        last = self.last_metrics
        if self.spec.objective != "perceptual":
            return last["psnr"] > self.best_psnr
        if "niqe" in last:
            return last["niqe"] < self.best_metrics.get("niqe", math.inf)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "arch": self.spec.id, "scale": self.config.model.scale,
            "hparams": self.hparams,
            "fingerprint": self.sampler.fingerprint, "recipe": self.config.to_dict(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.shadow.state_dict() if self.ema else None,
            "disc": self.disc.state_dict() if self.disc else None,
            "disc_optimizer": self.disc_optimizer.state_dict() if self.disc_optimizer else None,
            "rng": rng_state(self.sampler.generator.get_state() if self.data_state is None
                             else self.data_state), "best_metrics": self.best_metrics,
            "best_step": self.best_step, "last_metrics": self.last_metrics, "kept": self.kept,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ours = (self.spec.id, self.config.model.scale, self.hparams)
        if (state["arch"], state["scale"], state["hparams"]) != ours:
            raise ConfigError(f"the training state is for {state['arch']} x{state['scale']} "
                              f"{state['hparams']}, the recipe trains {ours[0]} x{ours[1]} "
                              f"{ours[2]}")
        if state["fingerprint"] != self.sampler.fingerprint:
            raise ConfigError("the training data changed since this state was saved; "
                              "an exact resume needs the same images")
        self.model.load_state_dict(state["model"])
        _load_optimizer(self.optimizer, state["optimizer"])
        if self.ema:
            self.ema.shadow.load_state_dict(state["ema"])
        if self.disc and self.disc_optimizer:
            self.disc.load_state_dict(state["disc"])
            _load_optimizer(self.disc_optimizer, state["disc_optimizer"])
        restore_rng(state["rng"], self.sampler.generator)
        self.data_state = None  # the generator is at the restored state
        self.step, self.kept = state["step"], list(state["kept"])
        self.best_metrics, self.best_step = state["best_metrics"], state["best_step"]
        self.last_metrics = state["last_metrics"]


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load, then give moment buffers their parameter's memory format (channels_last), as a
    run that never stopped has them, so the update arithmetic runs the same kernels."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state[p].items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    optimizer.state[p][key] = torch.empty_like(p).copy_(value)


def out_dir_of(config: TrainConfig) -> Path:
    out = config.train.out_dir
    return expand_path(out) if out is not None else Path("runs") / config.run_name


def build_session(config: TrainConfig, resume: Path | None = None) -> Session:
    """Load data, build model/optimizers/losses, and restore `resume` when given."""
    out_dir = out_dir_of(config)
    if resume is None and (out_dir / STATE_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a run; resume it or set another "
                          "train.out_dir / train.name")
    cfg, device = config, resolve_device(config.train.device)
    torch.manual_seed(cfg.train.seed)  # weight initialisation
    spec = get_spec(cfg.model.arch)
    hparams = spec.resolve_hparams(cfg.model.hparams)
    model = create_model(spec.id, scale=cfg.model.scale, **hparams)
    if cfg.model.init is not None:
        _init_from(model, expand_path(cfg.model.init), cfg, hparams)
    model = _prepare(model, device).train()
    session = Session(
        config=cfg, device=device, spec=spec, hparams=hparams, model=model,
        optimizer=build_optimizer(model.parameters(), cfg.optim),
        criterion=_prepare(_criterion(cfg), device), sampler=_sampler(cfg, spec, hparams),
        out_dir=out_dir,
        ema=EMA(model, cfg.train.ema) if cfg.train.ema else None,
        validator=_validator(cfg, spec, hparams, device),
    )
    if cfg.loss.intermediate and not hasattr(model, "forward_all"):
        raise ConfigError(f"loss.intermediate needs an arch with forward_all; {spec.id} has none")
    if (cfg.loss.warp or cfg.loss.flow_smooth) and not getattr(model, "compensates_motion",
                                                                False):
        raise ConfigError(f"loss.warp and loss.flow_smooth need a motion-compensated video "
                          f"model; {spec.id} {hparams} has no motion")
    if cfg.loss.adversarial:
        disc = create_model(cfg.loss.discriminator, scale=cfg.model.scale,
                            **cfg.loss.discriminator_hparams)
        session.disc = _prepare(disc, device).train()
        session.disc_optimizer = build_optimizer(session.disc.parameters(), cfg.optim)
    if resume is not None:
        path = resume / STATE_FILE if resume.is_dir() else resume
        session.load_state_dict(load_state(path))
    return session


def _init_from(model: nn.Module, path: Path, cfg: TrainConfig, hparams: dict[str, Any]) -> None:
    """Start from a trained checkpoint of the same network and hparams (SRGAN from SRResNet).

    The checkpoint may be of another scale (x3 or x4 fine-tuned from x2): tensors whose
    shape depends on the scale (ESPCN's last conv) or that the arch declares
    `scale_specific` (FSRCNN's deconvolution) keep their fresh init, every other one is
    copied. Same-scale checkpoints must match tensor for tensor.
    """
    trained, meta = load_checkpoint(path)
    # Archs that build the same module share weights (srgan starts from srresnet).
    same_net = get_spec(meta.arch).build is get_spec(cfg.model.arch).build
    if not same_net or meta.hparams != hparams:
        raise ConfigError(f"model.init {path.name} is {meta.arch} x{meta.scale} {meta.hparams}, "
                          f"not {cfg.model.arch} x{cfg.model.scale} {hparams}")
    weights = trained.state_dict()
    if meta.scale == cfg.model.scale:
        model.load_state_dict(weights)
        return
    ours, fresh = model.state_dict(), get_spec(meta.arch).scale_specific
    shared = {k: v for k, v in weights.items()
              if k in ours and ours[k].shape == v.shape and not k.startswith(fresh)}
    if not shared:
        raise ConfigError(f"model.init {path.name} (x{meta.scale}) shares no tensor with "
                          f"{cfg.model.arch} x{cfg.model.scale}")
    model.load_state_dict(shared, strict=False)


def _criterion(cfg: TrainConfig) -> ContentLoss:
    loss = cfg.loss
    perceptual = (PerceptualLoss(loss.perceptual_weights, loss.perceptual_layers)
                  if loss.perceptual else None)
    return ContentLoss(loss.content_weights(), perceptual)


def _sampler(cfg: TrainConfig, spec: ArchSpec, hparams: dict[str, Any]) -> PatchSampler:
    data = cfg.data
    if spec.kind == "video" and data.clips:
        return RealClipSampler([expand_path(p) for p in data.clips],
                               frames=spec.frames(hparams), scale=cfg.model.scale,
                               patch_size=data.patch_size, color=spec.color,
                               degradation=data.degradation, flips=data.augment.flips,
                               rot90=data.augment.rot90, cache_mb=data.cache_mb,
                               seed=cfg.train.seed)
    if spec.kind == "video":
        return ClipSampler([expand_path(p) for p in data.train], frames=spec.frames(hparams),
                           motion=Motion(**data.motion.to_dict()), scale=cfg.model.scale,
                           patch_size=data.patch_size, color=spec.color,
                           degradation=data.degradation, flips=data.augment.flips,
                           rot90=data.augment.rot90, cache_mb=data.cache_mb,
                           seed=cfg.train.seed)
    return PatchSampler([expand_path(p) for p in data.train], scale=cfg.model.scale,
                        patch_size=data.patch_size, color=spec.color,
                        degradation=data.degradation, flips=data.augment.flips,
                        rot90=data.augment.rot90,
                        rescale=data.augment.rescale, cache_mb=data.cache_mb, seed=cfg.train.seed)


def _validator(cfg: TrainConfig, spec: ArchSpec, hparams: dict[str, Any],
               device: torch.device) -> Validator | None:
    if cfg.data.val is None:
        return None
    folder = expand_path(cfg.data.val)
    if not folder.is_dir():
        raise ConfigError(f"validation folder not found: {folder}")
    return Validator(folder, spec=spec, scale=cfg.model.scale, hparams=hparams,
                     name=cfg.run_name, device=device, clips=out_dir_of(cfg) / "val_clips")
