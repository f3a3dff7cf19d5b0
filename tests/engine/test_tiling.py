"""Tile planning and the tile loop: exact coverage, halos, size rules, OOM fallback, progress."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sr_engine.errors import Cancelled, EngineError
from sr_engine.inference.tiling import (
    Box,
    SizeRules,
    Tile,
    group_batches,
    plan_tiles,
    region_index,
    run_tiles,
)
from sr_engine.progress import ProgressEvent

CPU = torch.device("cpu")


def coverage(tiles: list[Tile], height: int, width: int) -> np.ndarray:
    seen = np.zeros((height, width), dtype=int)
    for t in tiles:
        seen[t.core.y0:t.core.y1, t.core.x0:t.core.x1] += 1
    return seen


@pytest.mark.parametrize("height,width,tile,halo", [
    (33, 40, 16, 4), (40, 33, 16, 37), (7, 5, 16, 2), (64, 64, 16, 0), (50, 31, 0, 3),
])
def test_cores_cover_the_image_exactly_once_and_regions_hold_the_halo(height, width, tile, halo):
    tiles = plan_tiles(height, width, tile=tile, rules=SizeRules(halo=halo))
    assert (coverage(tiles, height, width) == 1).all()
    for t in tiles:
        r, c = t.region, t.core
        assert 0 <= r.y0 <= c.y0 and c.y1 <= r.y1 <= height
        assert 0 <= r.x0 <= c.x0 and c.x1 <= r.x1 <= width
        # the halo is kept wherever the image has pixels to give
        assert r.y0 <= max(c.y0 - halo, 0) and r.y1 >= min(c.y1 + halo, height)
        assert r.x0 <= max(c.x0 - halo, 0) and r.x1 >= min(c.x1 + halo, width)
    # edge tiles take the halo they lack from inside: one region shape for all
    assert len({t.region.shape for t in tiles}) == 1
    if tile:
        assert max(max(t.core.shape) for t in tiles) <= tile


@pytest.mark.parametrize("height,width,tile,multiple", [
    (1500, 2000, 304, 1), (33, 40, 16, 1), (21, 10, 8, 4), (100, 97, 48, 4)])
def test_tiles_are_as_few_as_the_edge_allows_and_of_near_equal_size(height, width, tile,
                                                                  multiple):
    """No short last tile (a shape of its own, mostly halo): along each axis the cores
    differ by less than one size multiple per tile."""
    tiles = plan_tiles(height, width, tile=tile, rules=SizeRules(halo=3, size_multiple=multiple))
    for length, spans in ((height, {(t.core.y0, t.core.y1) for t in tiles}),
                          (width, {(t.core.x0, t.core.x1) for t in tiles})):
        sizes = [b - a for a, b in spans]
        assert len(sizes) == math.ceil(length / tile) and max(sizes) <= tile
        assert min(sizes) >= max(sizes) - len(sizes) * multiple


def test_tile_zero_is_one_whole_image_tile():
    assert plan_tiles(30, 20, tile=0, rules=SizeRules(halo=5)) == [
        Tile(Box(0, 30, 0, 20), Box(0, 30, 0, 20))]


def test_size_multiple_and_min_size_pad_and_align_regions():
    rules = SizeRules(halo=3, size_multiple=4, min_size=12)
    tiles = plan_tiles(21, 10, tile=6, rules=rules)  # tile rounds up to 8
    assert (coverage(tiles, 21, 10) == 1).all()
    assert rules.padded(21, 10) == (24, 12)
    for t in tiles:
        h, w = t.region.shape
        assert h % 4 == 0 and w % 4 == 0 and h >= 12 and w >= 12
        assert t.region.y0 % 4 == 0 and t.region.x0 % 4 == 0
        assert t.region.y1 <= 24 and t.region.x1 <= 12
        assert t.core.y0 - t.region.y0 >= min(3, t.core.y0)
        assert max(t.core.shape) <= 8


def test_region_index_replicates_the_edge_only_when_needed():
    assert region_index(Box(0, 4, 2, 6), 5, 6) is None
    rows, cols = region_index(Box(2, 7, 0, 3), 5, 6)
    assert rows.tolist() == [2, 3, 4, 4, 4] and cols.tolist() == [0, 1, 2]


def test_batches_group_same_shaped_regions():
    tiles = plan_tiles(40, 33, tile=16, rules=SizeRules(halo=4))
    batches = group_batches(tiles, 3)
    flat = [t for b in batches for t in b]
    assert len(flat) == len(tiles) and set(flat) == set(tiles)
    for b in batches:
        assert 1 <= len(b) <= 3 and len({t.region.shape for t in b}) == 1


def test_progress_counts_tiles_in_order():
    events: list[ProgressEvent] = []
    n = run_tiles(40, 33, lambda tiles: None, tile=16, batch=2, rules=SizeRules(halo=2),
                  device=CPU, progress=events.append)
    assert n == 9 and [e.current for e in events] == list(range(1, 10))
    assert all(e.stage == "tiling" and e.total == 9 for e in events)
    assert events[0].message == "tile 1/9" and events[-1].message == "tile 9/9"


def test_out_of_memory_halves_the_tile_and_replans_the_rest():
    written = np.zeros((100, 90), dtype=int)
    events: list[ProgressEvent] = []

    def work(tiles: list[Tile]) -> None:
        if len(tiles) > 1 or max(tiles[0].region.shape) > 40:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        for t in tiles:
            written[t.core.y0:t.core.y1, t.core.x0:t.core.x1] += 1

    n = run_tiles(100, 90, work, tile=64, batch=4, rules=SizeRules(halo=4), device=CPU,
                  progress=events.append)
    assert (written == 1).all()
    notes = [e.message for e in events if "out of memory" in e.message]
    assert notes == ["out of memory: retrying with tile 32, batch 2",
                     "out of memory: retrying with tile 16, batch 1"]
    assert events[-1].current == events[-1].total == n


def test_out_of_memory_gives_up_below_the_minimum_tile():
    def work(tiles: list[Tile]) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(EngineError, match="out of cpu memory even with 16px tiles"):
        run_tiles(64, 64, work, tile=64, batch=1, rules=SizeRules(halo=1), device=CPU)


def test_cancelled_from_the_callback_stops_the_loop():
    calls = []

    def cancel_at_third(event: ProgressEvent) -> None:
        if event.current == 3:
            raise Cancelled("stopped by user")

    with pytest.raises(Cancelled):
        run_tiles(64, 64, calls.append, tile=16, batch=1, rules=SizeRules(halo=1),
                  device=CPU, progress=cancel_at_third)
    assert len(calls) == 3
