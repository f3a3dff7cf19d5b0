"""Validation during training: the evaluation protocol on a folder, loaded once per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sr_engine.evaluate import evaluate, load_eval_set
from sr_engine.registry import ArchSpec
from sr_engine.zoo import LoadedModel


class Validator:
    """PSNR/SSIM on Y (the standard protocol) of a module on one image folder.

    The folder is decoded and its LR images made once; each call evaluates in fp32 so that
    the best-checkpoint choice does not depend on the training precision.
    """

    def __init__(self, folder: Path, *, spec: ArchSpec, scale: int, hparams: dict[str, Any],
                 name: str, device: torch.device) -> None:
        self.folder = folder
        self.data = load_eval_set(folder, scale=scale)
        self.spec, self.scale, self.hparams = spec, scale, hparams
        self.name, self.device = name, device

    def __call__(self, module: nn.Module) -> dict[str, float]:
        """{"psnr": dB, "ssim": in [0, 1]} of `module`; restores its train/eval mode."""
        was_training = module.training
        loaded = LoadedModel(module=module.eval(), spec=self.spec, scale=self.scale,
                             hparams=self.hparams, meta=None, name=self.name, device=self.device)
        try:
            report = evaluate(loaded, self.data, scale=self.scale, precision="fp32")
        finally:
            module.train(was_training)
        return {"psnr": float(report.psnr_y), "ssim": float(report.ssim_y)}
