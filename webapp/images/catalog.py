"""The models a user can pick: bicubic (no weights), every checkpoint the engine finds and
the models promoted from training runs.

Catalogue ids are what forms, the API and Result rows use; `engine_name` is what goes into
`UpscaleConfig.model` (a registry id or a checkpoint path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sr_engine.errors import ConfigError, EngineError

BICUBIC = "bicubic"
DEFAULT_SCALES = (2, 3, 4)
# What a perceptual model trades away, in words every model list shows beside it.
PERCEPTUAL_NOTE = ("Perceptual: sharper, natural-looking texture; lower PSNR — may invent "
                   "detail")


@dataclass(frozen=True)
class ModelChoice:
    id: str
    label: str
    engine_name: str
    scales: tuple[int, ...]
    description: str
    kind: str  # "baseline", "checkpoint" or "promoted"
    video_only: bool = False  # a video model (VESPCN): it takes consecutive frames of a clip
    objective: str = "psnr"  # "psnr" or "perceptual" (see model_objective)

    @property
    def note(self) -> str:
        """The plain-language trade-off of a perceptual model; "" for the others."""
        return PERCEPTUAL_NOTE if self.objective == "perceptual" else ""

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "scales": list(self.scales),
                "description": self.description, "kind": self.kind,
                "video_only": self.video_only, "objective": self.objective,
                "note": self.note}


def model_objective(arch: str, *, feature_network: Mapping[str, str] | None = None,
                    recipe: Mapping[str, Any] | None = None) -> str:
    """"perceptual" for a model trained for natural texture rather than fidelity: its arch's
    `ArchSpec.objective` says so (srgan, johnson), or its checkpoint records a loss network
    (`feature_network`), or its training recipe gave a perceptual or adversarial loss a
    weight; "psnr" otherwise (bicubic and unknown archs included)."""
    from sr_engine.registry import get_spec

    try:
        if get_spec(arch).objective == "perceptual":
            return "perceptual"
    except EngineError:
        pass
    loss = (recipe or {}).get("loss")
    weighted = isinstance(loss, Mapping) and any(
        isinstance(loss.get(k), (int, float)) and loss[k] > 0
        for k in ("perceptual", "adversarial"))
    return "perceptual" if feature_network or weighted else "psnr"


def _with_note(label: str, objective: str) -> str:
    return f"{label} [{PERCEPTUAL_NOTE}]" if objective == "perceptual" else label


def _bicubic() -> ModelChoice:
    from sr_engine.registry import get_spec

    try:
        spec = get_spec(BICUBIC)
        scales, text = tuple(spec.scales), spec.description
    except EngineError:
        scales, text = DEFAULT_SCALES, ""
    return ModelChoice(BICUBIC, "Bicubic (baseline)", BICUBIC, scales,
                       text or "MATLAB-compatible bicubic interpolation; needs no weights",
                       "baseline")


def model_catalog() -> list[ModelChoice]:
    from sr_engine.zoo import available_checkpoints

    choices = [_bicubic()]
    seen: set[str] = {BICUBIC}
    for path, meta in available_checkpoints():
        ident = path.stem if path.stem not in seen else f"{path.parent.name}-{path.stem}"
        seen.add(ident)
        # The label carries the figures so the upload form shows how good each model is.
        label = f"{meta.arch} x{meta.scale} ({ident})"
        description = f"{meta.arch} checkpoint, step {meta.step}"
        video_only = _video_arch(meta.arch)
        objective = model_objective(meta.arch, feature_network=meta.feature_network,
                                    recipe=meta.recipe)
        if video_only:
            label += " [videos only]"
        label = _with_note(label, objective)
        description = _with_note(description, objective)
        if meta.metrics:
            figures = meta.summary()
            label += f" — {figures}"
            description += f"; {figures}"
        choices.append(ModelChoice(id=ident, label=label, engine_name=str(path),
                                   scales=(int(meta.scale),), description=description,
                                   kind="checkpoint", video_only=video_only,
                                   objective=objective))
    return choices + _promoted(seen)


def _promoted(seen: set[str]) -> list[ModelChoice]:
    """Models promoted from training runs (webapp.training): their files live in the data
    dir, their names and metrics in the database."""
    from webapp.training.models import PromotedModel

    out = []
    for m in PromotedModel.objects.exclude(name__in=seen):
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(m.metrics.items())
                            if isinstance(v, (int, float)))
        objective = model_objective(m.arch, recipe=m.recipe)
        out.append(ModelChoice(
            id=m.name, label=_with_note(f"{m.name} ({m.arch} x{m.scale}, trained here)",
                                        objective),
            engine_name=m.path, scales=(m.scale,), kind="promoted",
            video_only=_video_arch(m.arch), objective=objective,
            description=_with_note(f"{m.arch} trained in the studio, step {m.step}",
                                   objective) + (f"; {metrics}" if metrics else "")))
    return out


def _video_arch(arch: str) -> bool:
    from sr_engine.registry import get_spec

    try:
        return get_spec(arch).kind == "video"
    except EngineError:
        return False


def model_resolve(model_id: str, scale: int, *, images: bool = False) -> ModelChoice:
    """The catalogue entry for `model_id`, checked against `scale` and, when `images` (the
    upload holds a still image), against taking clips only; ConfigError otherwise."""
    for choice in model_catalog():
        if choice.id == model_id:
            if scale not in choice.scales:
                raise ConfigError(f"model {model_id!r} supports scale(s) "
                                  f"{', '.join(f'x{s}' for s in choice.scales)}, not x{scale}")
            if images and choice.video_only:
                raise ConfigError(f"model {model_id!r} is a video model: it upscales videos "
                                  "only (it reads each frame's neighbours)")
            return choice
    raise ConfigError(f"unknown model {model_id!r}; see the list of available models")
