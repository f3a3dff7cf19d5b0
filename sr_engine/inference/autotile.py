"""tile = "auto": the largest tile whose activations fit a memory budget, or none at all.

Every tile recomputes a halo of context around its core: EDSR x4's 37-pixel halo makes
256-pixel tiles execute 1.4x (480x320) to 1.6x (2000x1500) the useful work, so fewer, larger
tiles are faster, down to one forward over the whole image; memory is what stops that. A
forward's peak is set by its largest layer (input + output, counted per LR pixel with hooks,
once per arch) times LIVE for what stays alive beside it (a residual skip, the output
buffer): measured peak RSS grew by 1.03x (VDSR x4 fp32), 1.1x (EDSR x4 fp32) and 1.17x
(EDSR x4 bf16) of that count per pixel, whole-image forwards of 240x160 against 480x320.
On CPU one tile runs per forward (batching tiles there only adds memory); on CUDA `batch`
tiles share the budget.

Budget: `SR_ENGINE_TILE_MEMORY_MB` (default 1024) for one forward's activations on CPU; on
CUDA, half the device memory free when the model is first run, at most that budget x 8.
"""

from __future__ import annotations

import json
import math
import os

import torch

from sr_engine.errors import ConfigError
from sr_engine.inference.config import MIN_TILE
from sr_engine.inference.cost import model_cost
from sr_engine.inference.tiling import SizeRules
from sr_engine.zoo import LoadedModel

LIVE = 1.25
DEFAULT_BUDGET_MB = 1024
COUNT_SIZE = 32  # the input edge the hooks count on (costs scale with pixels)
_peaks: dict[str, float] = {}  # arch|scale|hparams -> peak activation elements per LR pixel


def budget_bytes(device: torch.device) -> int:
    raw = os.environ.get("SR_ENGINE_TILE_MEMORY_MB", "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_BUDGET_MB
    except ValueError:
        raise ConfigError(f"SR_ENGINE_TILE_MEMORY_MB={raw!r}: expected megabytes") from None
    if mb < 16:
        raise ConfigError(f"SR_ENGINE_TILE_MEMORY_MB={mb}: must be at least 16")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(free // 2, 8 * mb * 2**20)
    return mb * 2**20


def peak_elements(model: LoadedModel, rules: SizeRules) -> float:
    """The largest layer's input + output elements per LR pixel (counted once per arch)."""
    key = f"{model.spec.id}|{model.scale}|{json.dumps(model.hparams, sort_keys=True)}"
    if key not in _peaks:
        size = max(rules.padded(COUNT_SIZE, COUNT_SIZE))
        _peaks[key] = model_cost(model.module, model.in_channels, size,
                                 model.device).peak_elems
    return _peaks[key]


def resolve_tile(tile: int | str, batch: int, model: LoadedModel, height: int, width: int, *,
                 precision: str, rules: SizeRules) -> tuple[int, int]:
    """(tile, batch) to run: as given, or chosen by `choose_tile` when tile is "auto"."""
    if tile != "auto":
        return int(tile), batch
    return choose_tile(model, height, width, precision=precision, rules=rules, batch=batch)


def choose_tile(model: LoadedModel, height: int, width: int, *, precision: str,
                rules: SizeRules, batch: int) -> tuple[int, int]:
    """(tile, batch) for an image of height x width LR pixels: (0, 1) when one forward over
    the whole image fits the budget, else the largest core edge (a multiple of 16, at least
    MIN_TILE) whose region fits."""
    device = torch.device(model.device)
    batch = batch if device.type == "cuda" else 1
    per_pixel = peak_elements(model, rules) * bytes_per_element(precision) * LIVE
    return fit_tile(per_pixel, height, width, rules=rules, batch=batch, device=device), batch


def bytes_per_element(precision: str) -> int:
    return 4 if precision == "fp32" else 2


def fit_tile(per_pixel: float, height: int, width: int, *, rules: SizeRules, batch: int,
             device: torch.device, reserved: int = 0) -> int:
    """0 when `batch` forwards over the whole image need at most the budget (less `reserved`
    bytes held beside them) at `per_pixel` bytes per LR pixel, else the largest core edge
    whose region does."""
    fits = max(budget_bytes(device) - reserved, 0) / per_pixel  # LR pixels one forward may hold
    padded_h, padded_w = rules.padded(height, width)
    if padded_h * padded_w <= fits:
        return 0
    region = math.isqrt(int(fits // batch))
    return max((region - 2 * rules.halo) // 16 * 16, MIN_TILE)
