"""The models a user can pick: bicubic (no weights), every checkpoint the engine finds and
the models promoted from training runs.

Catalogue ids are what forms, the API and Result rows use; `engine_name` is what goes into
`UpscaleConfig.model` (a registry id or a checkpoint path).
"""

from __future__ import annotations

from dataclasses import dataclass

from sr_engine.errors import ConfigError, EngineError

BICUBIC = "bicubic"
DEFAULT_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class ModelChoice:
    id: str
    label: str
    engine_name: str
    scales: tuple[int, ...]
    description: str
    kind: str  # "baseline", "checkpoint" or "promoted"
    video_only: bool = False  # a video model (VESPCN): it takes consecutive frames of a clip

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "scales": list(self.scales),
                "description": self.description, "kind": self.kind,
                "video_only": self.video_only}


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
        if video_only:
            label += " [videos only]"
        if meta.metrics:
            figures = meta.summary()
            label += f" — {figures}"
            description += f"; {figures}"
        choices.append(ModelChoice(id=ident, label=label, engine_name=str(path),
                                   scales=(int(meta.scale),), description=description,
                                   kind="checkpoint", video_only=video_only))
    return choices + _promoted(seen)


def _promoted(seen: set[str]) -> list[ModelChoice]:
    """Models promoted from training runs (webapp.training): their files live in the data
    dir, their names and metrics in the database."""
    from webapp.training.models import PromotedModel

    out = []
    for m in PromotedModel.objects.exclude(name__in=seen):
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(m.metrics.items())
                            if isinstance(v, (int, float)))
        out.append(ModelChoice(
            id=m.name, label=f"{m.name} ({m.arch} x{m.scale}, trained here)",
            engine_name=m.path, scales=(m.scale,), kind="promoted",
            video_only=_video_arch(m.arch),
            description=f"{m.arch} trained in the studio, step {m.step}"
                        + (f"; {metrics}" if metrics else "")))
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
