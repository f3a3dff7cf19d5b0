"""`TrainConfig`: a training recipe, parsed strictly from TOML (unknown keys are errors).

Paths may use `~` and $ENV; relative paths are taken relative to the current directory
when training starts (recipes are run from the repository root). See
`sr_engine/recipes/*.toml` for examples of every section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sr_engine.config import StrictConfig, check
from sr_engine.degrade import Degradation
from sr_engine.errors import ConfigError, UnknownModelError
from sr_engine.losses.perceptual import layer_indices, random_seed
from sr_engine.registry import ArchSpec, get_spec

# "auto": whichever of bf16 and fp32 trains faster on the device (train/precision.py).
TrainPrecision = Literal["fp32", "bf16", "auto"]


def _spec(arch: str, where: str) -> ArchSpec:
    try:
        return get_spec(arch)
    except UnknownModelError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass
class ModelSection(StrictConfig):
    """Which registered SR architecture to train, at which scale, with which hparams;
    `init` names a checkpoint of the same network whose weights the run starts from;
    `color_fix` is what upscaling with color fix "auto" applies to the trained model's
    outputs (Johnson et al. histogram-match theirs), recorded in its checkpoints."""

    arch: str
    scale: int
    hparams: dict[str, Any] = field(default_factory=dict)
    init: Path | None = None
    color_fix: Literal["none", "hist", "meanstd"] = "none"

    def validate(self) -> None:
        spec = _spec(self.arch, "model.arch")
        check(spec.kind in ("sr", "video") and spec.trainable,
              f"model.arch: {self.arch} is not trainable")
        spec.check_scale(self.scale)
        spec.resolve_hparams(self.hparams)


@dataclass
class AugmentSection(StrictConfig):
    """Random dihedral augmentation of training patches, and optional random downscaling.

    `rescale` = (min, max): each HR crop is first shrunk from a crop 1/f times larger, f drawn
    uniformly in the range (FSRCNN and VDSR rescale their training images by 0.6-1.0); (1, 1)
    is off.
    """

    flips: bool = True
    rot90: bool = True
    rescale: tuple[float, float] = (1.0, 1.0)

    def validate(self) -> None:
        lo, hi = self.rescale
        check(0.25 <= lo <= hi <= 1.0,
              "data.augment.rescale must be (min, max) with 0.25 <= min <= max <= 1")


@dataclass
class MotionSection(StrictConfig):
    """Video models: the bounds of the random camera paths that make training clips from
    still images (sr_engine.data.motion): the fastest shift (HR pixels a frame), rotation
    (degrees a frame) and zoom (relative change a frame)."""

    shift: float = 3.0
    angle: float = 0.5
    zoom: float = 0.01

    def validate(self) -> None:
        check(min(self.shift, self.angle, self.zoom) >= 0,
              "data.motion: shift, angle and zoom must be >= 0")


@dataclass
class DataSection(StrictConfig):
    """HR training folders, degraded on the fly; `patch_size` counts LR pixels. Video
    models train on real clips when `clips` names them (folders of clip folders of frames,
    or video files), else on clips made from the `train` stills by `motion`; they validate
    on clip folders (`val` holding one folder of frames per clip) or on clips made from
    `val`'s stills."""

    train: list[Path] = field(default_factory=list)
    val: Path | None = None
    clips: list[Path] = field(default_factory=list)
    patch_size: int = 24
    batch_size: int = 16
    augment: AugmentSection = field(default_factory=AugmentSection)
    degradation: Degradation = field(default_factory=Degradation)
    cache_mb: int = 2048  # decoded uint8 images kept in memory; more is a loading error
    motion: MotionSection = field(default_factory=MotionSection)

    def validate(self) -> None:
        check(len(self.train) > 0 or len(self.clips) > 0,
              "data.train: give at least one HR image folder (or data.clips for a video model)")
        check(self.patch_size >= 4, "data.patch_size must be at least 4 (LR pixels)")
        check(self.batch_size >= 1, "data.batch_size must be at least 1")
        check(self.cache_mb >= 1, "data.cache_mb must be at least 1")


@dataclass
class OptimSection(StrictConfig):
    """Optimizer and learning-rate schedule (linear warmup, then the chosen decay)."""

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[int] = field(default_factory=list)  # steps where `step` multiplies by gamma
    gamma: float = 0.5
    min_lr: float = 0.0  # floor of the cosine schedule
    grad_clip: float = 0.0  # max global gradient norm; 0 = no clipping

    def validate(self) -> None:
        check(self.lr > 0, "optim.lr must be positive")
        check(all(0 <= b < 1 for b in self.betas), "optim.betas must be in [0, 1)")
        check(self.weight_decay >= 0 and self.grad_clip >= 0 and self.min_lr >= 0,
              "optim.weight_decay, grad_clip and min_lr must be >= 0")
        check(self.warmup_steps >= 0, "optim.warmup_steps must be >= 0")
        check(sorted(self.milestones) == self.milestones, "optim.milestones must be increasing")
        check(self.schedule != "step" or bool(self.milestones),
              "optim.schedule = 'step' needs optim.milestones")


@dataclass
class LossSection(StrictConfig):
    """Weights of the loss terms; a discriminator is trained when `adversarial` > 0."""

    l1: float = 1.0
    mse: float = 0.0
    charbonnier: float = 0.0
    perceptual: float = 0.0
    tv: float = 0.0  # total variation of the output (Johnson et al.'s regulariser)
    adversarial: float = 0.0
    warp: float = 0.0  # video models: MSE of each warped neighbour against the centre frame
    flow_smooth: float = 0.0  # video models: Huber penalty on the flows' gradients
    # VGG19 weights: path, file:// or http(s):// URL, or random:SEED (docs/PERCEPTUAL.md)
    perceptual_weights: str = ""
    perceptual_layers: list[str] = field(default_factory=lambda: ["relu5_4"])
    discriminator: str = "srgan_discriminator"
    discriminator_hparams: dict[str, Any] = field(default_factory=dict)
    intermediate: float = 0.0  # DRCN recursive supervision: weight at step 0, decays to 0

    def content_weights(self) -> dict[str, float]:
        return {"l1": self.l1, "mse": self.mse, "charbonnier": self.charbonnier,
                "perceptual": self.perceptual, "tv": self.tv}

    def validate(self) -> None:
        weights = [*self.content_weights().values(), self.adversarial, self.intermediate,
                   self.warp, self.flow_smooth]
        check(all(w >= 0 for w in weights), "loss weights must be >= 0")
        check(any(w for k, w in self.content_weights().items() if k != "tv"), "loss: give l1, "
              "mse, charbonnier or perceptual a non-zero weight")
        check(self.intermediate <= 1, "loss.intermediate must be in [0, 1]")
        if self.perceptual:
            check(bool(self.perceptual_weights), "loss.perceptual needs loss.perceptual_weights "
                  "(a VGG19 .safetensors/.pth path or URL, or random:SEED)")
            random_seed(self.perceptual_weights)
            layer_indices(self.perceptual_layers)


@dataclass
class RunSection(StrictConfig):
    """Length, precision, bookkeeping and output of a run."""

    steps: int
    seed: int = 0
    precision: TrainPrecision = "fp32"
    ema: float = 0.0  # EMA decay of the weights; 0 = off
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    keep_last: int = 2
    out_dir: Path | None = None  # default runs/<name>
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    name: str = ""  # default <arch>_x<scale>

    def validate(self) -> None:
        check(self.steps >= 1, "train.steps must be at least 1")
        check(0 <= self.ema < 1, "train.ema must be in [0, 1)")
        check(min(self.log_every, self.val_every, self.ckpt_every, self.keep_last) >= 1,
              "train.log_every, val_every, ckpt_every and keep_last must be at least 1")
        check(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda"),
              f"train.device: {self.device!r} is not auto, cpu, cuda or cuda:N")


@dataclass
class TrainConfig(StrictConfig):
    """A whole recipe: [model], [data], [optim], [loss], [train]."""

    model: ModelSection
    data: DataSection
    train: RunSection
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)

    @property
    def run_name(self) -> str:
        return self.train.name or f"{self.model.arch}_x{self.model.scale}"

    def validate(self) -> None:
        spec = get_spec(self.model.arch)
        check(not self.data.clips or spec.kind == "video",
              f"data.clips: {self.model.arch} is an image model; clips train video models")
        check(self.data.patch_size >= spec.min_size
              and self.data.patch_size % spec.size_multiple == 0,
              f"data.patch_size: {self.model.arch} needs LR inputs of at least {spec.min_size} "
              f"pixels, a multiple of {spec.size_multiple}")
        if self.loss.adversarial:
            disc = _spec(self.loss.discriminator, "loss.discriminator")
            check(disc.kind == "discriminator" and disc.color == spec.color,
                  f"loss.discriminator: {disc.id} cannot judge {self.model.arch}'s "
                  f"{spec.color} outputs")
        if self.optim.schedule == "step":
            check(self.optim.milestones[-1] < self.train.steps,
                  "optim.milestones must be below train.steps")
        check(self.optim.warmup_steps < self.train.steps,
              "optim.warmup_steps must be below train.steps")
