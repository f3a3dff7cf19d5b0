"""Pictures of a run for the staff pages: sample crops refreshed at each validation (LR,
bicubic, model, HR) and the degradation preview of a dataset. Engine math lives in
`sr_engine.train.samples`; this module picks the image and writes PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from sr_engine.data.io import IMAGE_SUFFIXES, Picture, load_image, save_image
from sr_engine.errors import EngineError
from sr_engine.train import TrainConfig
from webapp.training.models import Dataset, TrainingRun

SAMPLE_KINDS = ("lr", "bicubic", "model", "hr")


def first_image(folder: Path) -> Path | None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return files[0] if files else None


def _tensor(picture: Picture) -> torch.Tensor:
    """Picture -> (C, H, W) float in [0, 1]."""
    pixels = picture.pixels.astype(np.float32) / float(np.iinfo(picture.pixels.dtype).max)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _pixels8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> contiguous (H, W, C) uint8."""
    pixels = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(pixels)


def save_tensor(path: Path, x: torch.Tensor) -> None:
    """(C, H, W) in [0, 1] -> 8-bit PNG, written atomically."""
    save_image(path, Picture(pixels=_pixels8(x)), format="png")


def samples_dir(run: TrainingRun) -> Path:
    return Path(run.out_dir) / "samples"


class SampleWriter:
    """The `on_validate` hook of a run: crops of the first validation (else training) image."""

    def __init__(self, run: TrainingRun, config: TrainConfig) -> None:
        self.run_id, self.folder = run.id, samples_dir(run)
        self.scale, self.arch = config.model.scale, config.model.arch
        source = Path(config.data.val or config.data.train[0])
        path = first_image(source)
        self.hr = _tensor(load_image(path)) if path else None

    def __call__(self, module: nn.Module, step: int) -> None:
        from sr_engine.registry import get_spec
        from sr_engine.train.samples import sample_crops

        if self.hr is None:
            return
        try:
            crops = sample_crops(module, self.hr, scale=self.scale,
                                 color=get_spec(self.arch).color)
        except EngineError:  # an image too small for samples must not stop the training
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for kind, x in crops.items():
            save_tensor(self.folder / f"{kind}.png", x)
        TrainingRun.objects.filter(id=self.run_id).update(sample_step=step)


def dataset_preview(*, dataset: Dataset, scale: int, degradation: dict,
                    seed: int = 0) -> dict[str, bytes]:
    """PNG bytes of {"hr", "lr", "bicubic"} for the dataset's first image; ConfigError for a
    bad degradation (the engine's Degradation dataclass checks it)."""
    import io

    from PIL import Image

    from sr_engine.degrade import Degradation
    from sr_engine.train.samples import degradation_preview

    config = Degradation.from_dict(degradation, where="degradation")
    path = first_image(Path(dataset.path))
    if path is None:
        raise EngineError(f"{dataset.name} has no images")
    views = degradation_preview(_tensor(load_image(path)), scale=scale, degradation=config,
                                seed=seed)
    out = {}
    for kind, x in views.items():
        buf = io.BytesIO()
        Image.fromarray(_pixels8(x)).save(buf, format="PNG")
        out[kind] = buf.getvalue()
    return out
