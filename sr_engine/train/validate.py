"""Validation during training: the evaluation protocol on a folder, loaded once per run;
for video models, on clips (`evaluate --video`): the folder's clip folders, or clips made
once per run from its stills (seeded, so every run of a recipe validates on the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sr_engine.errors import ConfigError
from sr_engine.evaluate import evaluate, load_eval_set
from sr_engine.metrics.niqe import measurable, niqe_params_path
from sr_engine.registry import ArchSpec
from sr_engine.video.evaluate import evaluate_video
from sr_engine.video.synth import make_clips
from sr_engine.zoo import LoadedModel

VAL_FRAMES = 7  # frames of each validation clip made from a still


class Validator:
    """PSNR/SSIM on Y (the standard protocol) of a module on one image folder, and NIQE for
    perceptual models (what they optimise is naturalness, which PSNR does not see) where
    NIQE's pristine model is at hand and the images are large enough.

    The folder is decoded and its LR images made once; each call evaluates in fp32 so that
    the best-checkpoint choice does not depend on the training precision.
    """

    def __init__(self, folder: Path, *, spec: ArchSpec, scale: int, hparams: dict[str, Any],
                 name: str, device: torch.device, clips: Path | None = None) -> None:
        self.folder = folder
        self.spec, self.scale, self.hparams = spec, scale, hparams
        self.name, self.device = name, device
        self.video = spec.kind == "video"
        if self.video:
            has_clips = any(p.is_dir() for p in folder.iterdir())
            if not has_clips:
                if clips is None:
                    raise ConfigError(f"{folder} holds stills: name a folder for their clips")
                make_clips(folder, clips, frames=VAL_FRAMES, seed=0)
            self.clips = folder if has_clips else clips
            self.label = folder.name if has_clips else \
                f"clips made from the {folder.name} stills (seed 0, {VAL_FRAMES} frames)"
        else:
            self.label = folder.name
            self.data = load_eval_set(folder, scale=scale)
        self.niqe = (spec.objective == "perceptual" and not self.video
                     and niqe_params_path().is_file()
                     and all(measurable(*i.hr_y.shape, scale) for i in self.data.images))

    def __call__(self, module: nn.Module) -> dict[str, float]:
        """{"psnr": dB, "ssim": in [0, 1][, "niqe"]} of `module`; restores its mode."""
        was_training = module.training
        loaded = LoadedModel(module=module.eval(), spec=self.spec, scale=self.scale,
                             hparams=self.hparams, meta=None, name=self.name, device=self.device)
        try:
            report = evaluate_video(loaded, self.clips, scale=self.scale, precision="fp32") \
                if self.video else evaluate(loaded, self.data, scale=self.scale, precision="fp32",
                                            with_niqe=self.niqe)
        finally:
            module.train(was_training)
        niqe = {"niqe": float(report.niqe)} if self.niqe else {}
        return {"psnr": float(report.psnr_y), "ssim": float(report.ssim_y), **niqe}
