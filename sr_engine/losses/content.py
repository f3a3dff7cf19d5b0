"""The weighted sum of pixel and perceptual terms that a training recipe asks for."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from sr_engine.errors import ConfigError
from sr_engine.losses.perceptual import PerceptualLoss
from sr_engine.losses.pixel import PIXEL_LOSSES


class ContentLoss(nn.Module):
    """sum_k weights[k] * loss_k(sr, hr) over `l1`, `mse`, `charbonnier`, `tv`, `perceptual`.

    sr and hr are (N, C, H, W) float in [0, 1]; terms run in float32 whatever the autocast
    dtype of the model, so bf16 training keeps a precise loss. Zero weights are skipped.
    """

    def __init__(self, weights: Mapping[str, float],
                 perceptual: PerceptualLoss | None = None) -> None:
        super().__init__()
        unknown = set(weights) - set(PIXEL_LOSSES) - {"perceptual"}
        if unknown:
            raise ConfigError(f"unknown loss term(s) {sorted(unknown)}")
        self.weights = {k: float(w) for k, w in weights.items() if w}
        if not self.weights:
            raise ConfigError("the content loss needs at least one non-zero weight")
        if "perceptual" in self.weights and perceptual is None:
            raise ConfigError("a perceptual weight needs a PerceptualLoss (VGG19 weights)")
        self.perceptual = perceptual

    def feature_network(self) -> dict[str, str]:
        """The perceptual term's network as checkpoints record it ({} without one)."""
        return self.perceptual.describe() if self.perceptual is not None else {}

    def forward(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(weighted total, {term: unweighted detached value}) as float32 scalars."""
        sr, hr = sr.float(), hr.float()
        parts: dict[str, Tensor] = {}
        total = sr.new_zeros(())
        for name, weight in self.weights.items():
            fn = self.perceptual if name == "perceptual" else PIXEL_LOSSES[name]
            value = fn(sr, hr)
            total = total + weight * value
            parts[name] = value.detach()
        return total, parts


def mean_parts(history: list[dict[str, Tensor]]) -> dict[str, float]:
    """Average logged loss parts over steps with one device sync (for the log line)."""
    if not history:
        return {}
    return {k: float(torch.stack([h[k] for h in history]).mean()) for k in history[0]}
