"""Two passes instead of tiles, for archs that split into `features` and `reconstruct`
(ArchSpec.feature_halo): the LR feature map of the image, then the upsampler tile by tile.

Why: tiles of the whole network each recompute its whole halo. For EDSR x4 in bf16 the
tiles that fit 1 GiB are 368 pixels with a 37-pixel halo: 1.44x the useful work on a
2000x1500 image. The feature trunk needs little memory per pixel (64 channels at LR), so it
runs in one or a few large tiles, and the upsampler, which needs the most (256 channels at
twice the resolution), reads a 3-pixel halo; the two passes execute about 1.0x.
Each pass's tiles read their own halo, so the output equals the whole-image forward exactly
as plain tiling does. Used by tile "auto" when the image does not fit one forward; the
feature map (n_feats x h x w, in the compute precision) is held between the passes. Each
pass runs its stage the way sr_engine.inference.fast runs the whole network (eager, frozen,
a bf16 copy, fused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sr_engine.inference.autotile import LIVE, bytes_per_element, fit_tile
from sr_engine.inference.cost import model_cost
from sr_engine.inference.fast import Stage, stage_runnable
from sr_engine.inference.precision import precision_context
from sr_engine.inference.tiling import SizeRules, Tile, crop_region, plan_tiles, run_tiles
from sr_engine.progress import ProgressCallback, ProgressEvent
from sr_engine.zoo import LoadedModel

COUNT_SIZE = 32
# Pass two's tiles on CPU are at most this many LR pixels across, whatever the budget allows:
# EDSR x4 bf16 on 2000x1500 (AMX Xeon, 2 cores, fused graph, freed memory reused) took
# 9.2-9.8 s with a 1.58 GB peak at 160 against 11.1-11.6 s and 2.3-2.5 GB at the budget's
# 352 (smaller tensors are reused whole and stay in cache longer); its halo is 3 pixels.
CPU_RECONSTRUCT_TILE = 160
_peaks: dict[str, tuple[float, float, int]] = {}  # key -> (features, reconstruct, channels)

Reader = Callable[[list[Tile]], Tensor]  # tiles -> (n, C, h, w) float32 in [0, 1]
Writer = Callable[[Tensor, list[Tile]], None]  # (n, C, s*h, s*w) in [0, 1] -> the output


@dataclass(frozen=True)
class Plan:
    feature_tile: int  # 0: the whole image in one features pass
    feature_rules: SizeRules
    reconstruct_tile: int
    reconstruct_rules: SizeRules


def _stage_peaks(model: LoadedModel) -> tuple[float, float, int]:
    """Largest layer input + output elements per LR pixel of each stage (once per arch),
    and the channels of the feature map."""
    key = f"{model.spec.id}|{model.scale}|{json.dumps(model.hparams, sort_keys=True)}"
    if key not in _peaks:
        net = model.module
        with torch.inference_mode():
            probe = torch.zeros(1, model.spec.channels, 8, 8, device=model.device)
            channels = net.features(probe).shape[1]
        features = model_cost(Stage(net, "features"), model.spec.channels, COUNT_SIZE,
                              model.device).peak_elems
        rebuild = model_cost(Stage(net, "reconstruct"), channels, COUNT_SIZE,
                             model.device).peak_elems
        _peaks[key] = (features, rebuild, channels)
    return _peaks[key]


def plan(model: LoadedModel, height: int, width: int, *, precision: str, rules: SizeRules,
         extra_halo: int = 0) -> Plan | None:
    """Two passes for `model` on a height x width image, or None when its arch does not
    split (or needs padded sizes, which the feature map does not keep). `extra_halo`: the
    context that work done beside the network on pass two's tiles needs (bicubic alpha)."""
    spec = model.spec
    if spec.feature_halo is None or rules.size_multiple != 1 or rules.min_size > 1:
        return None
    feature_halo = spec.feature_halo(model.scale, model.hparams)
    feature_rules = SizeRules(halo=feature_halo)
    # What the caller's rules add (a larger overlap) stays in pass two.
    rebuild_rules = SizeRules(halo=max(rules.halo - feature_halo, extra_halo, 0))
    device = torch.device(model.device)
    size = bytes_per_element(precision) * LIVE
    features, rebuild, channels = _stage_peaks(model)
    # The feature map is held through both passes: their tiles get the rest of the budget.
    held = channels * height * width * bytes_per_element(precision)
    rebuild_tile = fit_tile(rebuild * size, height, width, rules=rebuild_rules, batch=1,
                            device=device, reserved=held)
    if device.type == "cpu":
        rebuild_tile = min(rebuild_tile or CPU_RECONSTRUCT_TILE, CPU_RECONSTRUCT_TILE)
    return Plan(fit_tile(features * size, height, width, rules=feature_rules, batch=1,
                         device=device, reserved=held), feature_rules,
                rebuild_tile, rebuild_rules)


def run(model: LoadedModel, stages: Plan, height: int, width: int, *, read: Reader,
        write: Writer, precision: str, progress: ProgressCallback | None = None) -> int:
    """Both passes over an image of height x width LR pixels; returns the tiles run. `read`
    gives network inputs for tiles, `write` takes their upscaled outputs. Progress: one
    "tiling" count over the tiles of both passes."""
    device = torch.device(model.device)
    run_features = stage_runnable(model, precision, "features", model.spec.channels)
    run_reconstruct = stage_runnable(model, precision, "reconstruct", _stage_peaks(model)[2])
    n_first = len(plan_tiles(height, width, tile=stages.feature_tile,
                             rules=stages.feature_rules))
    n_second = len(plan_tiles(height, width, tile=stages.reconstruct_tile,
                              rules=stages.reconstruct_rules))
    held: list[Tensor] = []  # the feature map, allocated by the first tile

    def features(tiles: list[Tile]) -> None:
        x = read(tiles).to(device=device, dtype=torch.float32)
        with precision_context(device, precision):
            f = run_features(x.contiguous(memory_format=torch.channels_last))
        n = f.shape[0] // len(tiles)  # images per tile
        if not held:
            held.append(torch.empty((n, f.shape[1], height, width), dtype=f.dtype,
                                    device=device).contiguous(memory_format=torch.channels_last))
        for i, t in enumerate(tiles):
            c, r = t.core, t.region
            held[0][:, :, c.y0:c.y1, c.x0:c.x1] = \
                f[i * n:(i + 1) * n, :, c.y0 - r.y0:c.y1 - r.y0, c.x0 - r.x0:c.x1 - r.x0]

    def reconstruct(tiles: list[Tile]) -> None:
        f = torch.cat([crop_region(held[0], t.region) for t in tiles])
        with precision_context(device, precision):
            y = run_reconstruct(f.contiguous(memory_format=torch.channels_last))
        write(y.float().clamp_(0.0, 1.0), tiles)

    total = n_first + n_second
    first = None if progress is None else _Offset(progress, 0, total)
    second = None if progress is None else _Offset(progress, n_first, total)
    with torch.inference_mode():
        run_tiles(height, width, features, tile=stages.feature_tile, batch=1,
                  rules=stages.feature_rules, device=device, progress=first)
        run_tiles(height, width, reconstruct, tile=stages.reconstruct_tile, batch=1,
                  rules=stages.reconstruct_rules, device=device, progress=second)
    return total


class _Offset:
    """A progress callback that counts a pass's tiles as part of both passes' total."""

    def __init__(self, progress: ProgressCallback, before: int, total: int) -> None:
        self.progress, self.before, self.total = progress, before, total

    def __call__(self, event: ProgressEvent) -> None:
        self.progress(ProgressEvent(stage=event.stage, current=self.before + event.current,
                                    total=self.total, message=event.message,
                                    metrics=event.metrics))
