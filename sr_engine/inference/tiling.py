"""Tile planning and the tile loop (with the CUDA out-of-memory fallback).

A tile is a *core* (the LR pixels whose upscaled values it writes; cores partition the
image) and a *region* (the core grown by the halo and clipped to the image, which is what
the network sees). Because every output pixel depends only on LR pixels within the halo,
a core's output computed from its region equals the whole-image output there.

Archs with `size_multiple`/`min_size` constraints see the image replicate-padded up to a
valid size; regions then start on multiples of `size_multiple` so that the network's
stride pattern lines up with the whole-image pass.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from sr_engine.errors import ConfigError, EngineError
from sr_engine.inference.config import MIN_TILE
from sr_engine.progress import ProgressCallback, Reporter


class Box(NamedTuple):
    """A half-open pixel rectangle: rows [y0, y1), columns [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass(frozen=True)
class Tile:
    """One unit of work in LR pixels: the network reads `region` and the tile writes the
    upscaled `core`. `region` contains `core` and passes the image edge only where the arch
    needs padding."""

    core: Box
    region: Box


@dataclass(frozen=True)
class SizeRules:
    """What an arch demands of its LR input and how far its outputs look."""

    halo: int
    size_multiple: int = 1
    min_size: int = 1

    def padded(self, height: int, width: int) -> tuple[int, int]:
        """The smallest valid input size that contains a `height` x `width` image."""
        m = self.size_multiple
        least = _round_up(self.min_size, m)
        return max(_round_up(height, m), least), max(_round_up(width, m), least)


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _spans(lo: int, hi: int, step: int, multiple: int) -> list[tuple[int, int]]:
    """As few spans of at most `step` (a multiple of `multiple`) as cover [lo, hi), of
    near-equal size: tiles of one or two shapes let the allocator reuse each tile's freed
    tensors for the next (a short last tile of its own shape left holes that raised EDSR
    x4's peak memory on 2000x1500), and no tile is a sliver that is mostly halo."""
    if step <= 0:
        return [(lo, hi)]
    size = _round_up(math.ceil((hi - lo) / math.ceil((hi - lo) / step)), multiple)
    return [(a, min(a + size, hi)) for a in range(lo, hi, size)]


def _grow(lo: int, hi: int, rules: SizeRules, limit: int, length: int = 0) -> tuple[int, int]:
    """Grow the core span [lo, hi) by the halo, aligned to the size multiple, within
    [0, limit); then to at least `length` (and the arch's minimum) by taking more context
    on the side away from the image edge."""
    m = rules.size_multiple
    start = max(lo - rules.halo, 0) // m * m
    end = min(_round_up(hi + rules.halo, m), limit)
    need = max(_round_up(rules.min_size, m), length)
    if end - start < need:  # more context never changes the core's output
        end = min(start + need, limit)
        start = max(end - need, 0)
    return start, end


def plan_tiles(height: int, width: int, *, tile: int, rules: SizeRules,
               areas: Sequence[Box] | None = None) -> list[Tile]:
    """Tiles whose cores partition `areas` (default: the whole image), in raster order.

    `tile` is the core edge in LR pixels (0 = one tile per area); it is rounded up to the
    arch's size multiple.
    """
    if height < 1 or width < 1:
        raise ConfigError(f"cannot tile an empty image ({width}x{height})")
    step = _round_up(tile, rules.size_multiple) if tile > 0 else 0
    limit_h, limit_w = rules.padded(height, width)
    boxes = areas or [Box(0, height, 0, width)]
    rows = [_spans(a.y0, a.y1, step, rules.size_multiple) for a in boxes]
    cols = [_spans(a.x0, a.x1, step, rules.size_multiple) for a in boxes]
    # Every region as large as the largest (edge tiles take their missing halo from inside):
    # tiles of one shape batch together and reuse each other's freed tensors.
    length_h, length_w = _longest(rows, rules, limit_h), _longest(cols, rules, limit_w)
    tiles = []
    for spans_y, spans_x in zip(rows, cols, strict=True):
        for y0, y1 in spans_y:
            ry = _grow(y0, y1, rules, limit_h, length_h)
            for x0, x1 in spans_x:
                rx = _grow(x0, x1, rules, limit_w, length_w)
                tiles.append(Tile(Box(y0, y1, x0, x1), Box(*ry, *rx)))
    return tiles


def _longest(spans: list[list[tuple[int, int]]], rules: SizeRules, limit: int) -> int:
    """The longest region `_grow` gives any of `spans`."""
    return max(end - start for row in spans
               for start, end in (_grow(lo, hi, rules, limit) for lo, hi in row))


def group_batches(tiles: Iterable[Tile], batch: int) -> list[list[Tile]]:
    """Batches of at most `batch` tiles with same-shaped regions (so they can be stacked)."""
    by_shape: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        by_shape.setdefault(t.region.shape, []).append(t)
    return [group[i:i + batch] for group in by_shape.values()
            for i in range(0, len(group), batch)]


def region_index(region: Box, height: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row/column indices reading `region` with replicate padding, or None when it lies
    inside the image (plain slicing then suffices)."""
    if region.y1 <= height and region.x1 <= width:
        return None
    rows = np.minimum(np.arange(region.y0, region.y1), height - 1)
    cols = np.minimum(np.arange(region.x0, region.x1), width - 1)
    return rows, cols


def crop_region(x: torch.Tensor, region: Box) -> torch.Tensor:
    """`region` of an (N, C, H, W) tensor, replicate-padded where it passes the edge."""
    index = region_index(region, x.shape[-2], x.shape[-1])
    if index is None:
        return x[..., region.y0:region.y1, region.x0:region.x1]
    rows, cols = (torch.from_numpy(i).to(x.device) for i in index)
    return x.index_select(-2, rows).index_select(-1, cols)


def core_of(out: torch.Tensor, tile: Tile, scale: int) -> torch.Tensor:
    """The part of a region's upscaled output (…, s*rh, s*rw) that belongs to its core."""
    y = (tile.core.y0 - tile.region.y0) * scale
    x = (tile.core.x0 - tile.region.x0) * scale
    h, w = tile.core.shape
    return out[..., y:y + h * scale, x:x + w * scale]


def run_tiles(height: int, width: int, work: Callable[[list[Tile]], None], *, tile: int,
              batch: int, rules: SizeRules, device: torch.device,
              progress: ProgressCallback | None = None) -> int:
    """Run `work` on batches of tiles covering the image; return the number of tiles run.

    `work(tiles)` reads, upscales and writes its tiles. On CUDA out-of-memory the tile and
    batch are halved and the unwritten cores re-planned; below MIN_TILE it gives up with an
    EngineError. A `Cancelled` raised by the progress callback propagates.
    """
    queue = deque(group_batches(plan_tiles(height, width, tile=tile, rules=rules), batch))
    reporter = Reporter(progress, "tiling", total=sum(map(len, queue)))
    while queue:
        out_of_memory = False
        try:
            work(queue[0])
        except torch.OutOfMemoryError:
            out_of_memory = True  # handled outside: the traceback pins the failed tensors
        if out_of_memory:
            tile, batch = _shrink(tile or max(height, width), batch, device)
            remaining = [t.core for group in queue for t in group]
            queue = deque(group_batches(
                plan_tiles(height, width, tile=tile, rules=rules, areas=remaining), batch))
            reporter.total = reporter.current + sum(map(len, queue))
            reporter.emit(f"out of memory: retrying with tile {tile}, batch {batch}")
            continue
        for _ in queue.popleft():
            reporter.advance(message=f"tile {reporter.current + 1}/{reporter.total}")
    return reporter.current


def _shrink(tile: int, batch: int, device: torch.device) -> tuple[int, int]:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    smaller = tile // 2
    if smaller < MIN_TILE:
        raise EngineError(f"out of {device.type} memory even with {tile}px tiles; "
                          "try precision=fp16, a smaller model or a bigger device")
    return smaller, max(1, batch // 2)
