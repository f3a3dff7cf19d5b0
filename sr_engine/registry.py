"""Explicit registry of architectures. Registry ids are stable API (checkpoints, URLs).

Every SR model created here has ONE calling convention, whatever its paper does:

    model(lr) -> hr,  lr: (N, C, h, w) float in [0, 1],  hr: (N, C, s*h, s*w), same dtype

C is 1 (the Y channel of MATLAB rgb2ycbcr, divided by 255) for `color == "y"` and 3 (RGB)
for `color == "rgb"`. Pre-upsampling archs (`input_space == "upsampled"`, SRCNN/VDSR/DRCN)
do their MATLAB-bicubic upsampling inside forward(), so tiling, training and evaluation
never special-case them. The list of archs lives in `sr_engine.archs.ARCHS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from sr_engine.errors import ConfigError, UnknownModelError


@dataclass(frozen=True)
class ArchSpec:
    """What an architecture is and needs; read by tiling, training, CLI and web.

    `halo(scale, hparams)` is the receptive-field radius in LR pixels: an output pixel
    depends on LR pixels at most that far away (tiles overlap by at least this much).
    `size_multiple`/`min_size` constrain the LR input (h, w). `scale_specific` lists
    state-dict key prefixes whose meaning depends on the scale even where their shape does
    not (FSRCNN's stride-s deconvolution): fine-tuning from another scale leaves them fresh.
    `feature_halo(scale, hparams)`, for archs whose module has `features(lr)` (an LR feature
    map) and `reconstruct(features)` (the HR image) with forward = reconstruct . features: the
    halo of `features` alone (reconstruct's is the rest). Large images then run in two passes
    (sr_engine.inference.staged) instead of tiles that each recompute the whole halo.
    `objective` says what training optimises: "psnr" (fidelity to the reference) or
    "perceptual" (natural-looking texture, trading PSNR away: SRGAN, Johnson et al.).
    """

    id: str
    family: str
    build: Callable[..., nn.Module]  # build(scale=s, **hparams) -> nn.Module
    scales: tuple[int, ...]
    color: Literal["y", "rgb"]
    input_space: Literal["lr", "upsampled"]
    halo: Callable[[int, Mapping[str, Any]], int]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    kind: Literal["sr", "video", "discriminator"] = "sr"
    trainable: bool = True
    size_multiple: int = 1
    min_size: int = 1
    description: str = ""
    paper: str = ""
    scale_specific: tuple[str, ...] = ()
    feature_halo: Callable[[int, Mapping[str, Any]], int] | None = None
    objective: Literal["psnr", "perceptual"] = "psnr"

    @property
    def channels(self) -> int:
        return 1 if self.color == "y" else 3

    def frames(self, hparams: Mapping[str, Any]) -> int:
        """Consecutive frames the network takes (1 for image models; video models say in
        their `frames` hyperparameter). Its input has `channels * frames` channels."""
        return int(hparams.get("frames", 1)) if self.kind == "video" else 1

    def resolve_hparams(self, hparams: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with `hparams`; a `variant` key expands to its preset."""
        merged = dict(self.defaults)
        given = dict(hparams or {})
        variant = given.pop("variant", None)
        if variant is not None:
            if variant not in self.variants:
                raise ConfigError(
                    f"{self.id}: unknown variant {variant!r}; known: {sorted(self.variants)}")
            merged.update(self.variants[variant])
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"{self.id}: unknown hyperparameter(s) {unknown}; known: {sorted(self.defaults)}")
        merged.update(given)
        return merged

    def check_scale(self, scale: int) -> None:
        if scale not in self.scales:
            raise ConfigError(f"{self.id} supports scales {list(self.scales)}, not x{scale}")


def _registry() -> dict[str, ArchSpec]:
    from sr_engine.archs import ARCHS  # imported late: archs import this module

    return {spec.id: spec for spec in ARCHS}


def list_models(kind: str | None = "sr") -> list[ArchSpec]:
    """Registered architectures (of one `kind`, or all with kind=None), in registry order."""
    return [s for s in _registry().values() if kind is None or s.kind == kind]


def get_spec(arch_id: str) -> ArchSpec:
    try:
        return _registry()[arch_id]
    except KeyError:
        known = ", ".join(_registry())
        raise UnknownModelError(f"unknown architecture {arch_id!r}; registered: {known}") from None


def create_model(arch_id: str, *, scale: int, **hparams: Any) -> nn.Module:
    """Build an untrained model. Unknown archs, scales and hyperparameters are ConfigErrors."""
    spec = get_spec(arch_id)
    if spec.kind != "discriminator":
        spec.check_scale(scale)
    return spec.build(scale=scale, **spec.resolve_hparams(hparams))
