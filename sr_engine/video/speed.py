"""The video speed table of `sr-engine benchmark`: frames per second of 480p frames upscaled
x4 by each shipped x4 model the way a clip is (sr_engine.video.upscale runs each decoded frame
through `upscale_picture`, tile "auto"), in fp32 and in each reduced precision the device runs
natively. Decoding and encoding are not counted.

Frames are not batched: on CPU, four 480p frames in one forward measured no faster than four
forwards (ESPCN x4 0.97x, FSRCNN x4 0.96x, SRCNN x4 0.71x of the time per frame).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sr_engine.data.io import Picture
from sr_engine.errors import ConfigError, MissingWeightsError
from sr_engine.inference import UpscaleConfig, upscale_picture
from sr_engine.inference.precision import AUTOCAST_DTYPES, autocast_supported
from sr_engine.machine import cpu_isa
from sr_engine.progress import ProgressCallback, Reporter
from sr_engine.zoo import LoadedModel, load_model, resolve_device

# 480p as a 16:9 clip decodes (FWVGA); a 4:3 one (640x480) has 0.75 of its pixels.
VIDEO_SIZE = (854, 480)
VIDEO_SCALE = 4
# Where bf16 is native on a CPU; elsewhere it is emulated (12x slower than fp32 measured on
# an AVX2-only one: sr_engine.inference.auto), a figure nobody would run at.
NATIVE_BF16_CPU = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class VideoSpeedRow:
    model: str
    device: str
    precision: str
    width: int  # input frame
    height: int
    scale: int
    frames: int  # frames timed (0: not run)
    median_s: float | None  # seconds per frame; None: the device has no native unit ("n/a")

    @property
    def fps(self) -> float | None:
        return None if not self.median_s else 1.0 / self.median_s


def native_precision(device: torch.device, precision: str) -> bool:
    """Does `device` run `precision` on units made for it? fp32 always; on CUDA fp16, and bf16
    where torch says so; on a CPU bf16 with AMX or AVX512-BF16 only, fp16 never."""
    if precision == "fp32":
        return True
    if precision not in AUTOCAST_DTYPES or not autocast_supported(
            device.type, AUTOCAST_DTYPES[precision]):
        return False
    if device.type == "cuda":
        return precision == "fp16" or torch.cuda.is_bf16_supported()
    return precision == "bf16" and cpu_isa() in NATIVE_BF16_CPU


def video_frame(size: tuple[int, int] = VIDEO_SIZE) -> Picture:
    """A (height, width, 3) uint8 frame of seeded noise (speed does not depend on content)."""
    width, height = size
    rng = np.random.default_rng(0)
    return Picture(pixels=rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def time_frames(model: LoadedModel, frame: Picture, precision: str, *, frames: int,
                budget_s: float) -> tuple[float, int]:
    """Median seconds of `upscale_picture` (tile "auto", as each frame of a clip runs) over up
    to `frames` runs on `frame`, and how many ran: at least one, then none once `budget_s`
    is spent. One warm-up on a 64x64 corner first builds what the first frame of a clip
    builds once (the fast path's choice, oneDNN's kernels), without a full frame's cost."""
    config = UpscaleConfig(model=model.name, scale=model.scale, precision=precision)
    corner = Picture(pixels=np.ascontiguousarray(frame.pixels[:64, :64]))
    upscale_picture(model, corner, config)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max(frames, 1) and (not times or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        upscale_picture(model, frame, config)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def video_speed_rows(models: Sequence[str], *, devices: Sequence[str],
                     precisions: Sequence[str], size: tuple[int, int] = VIDEO_SIZE,
                     scale: int = VIDEO_SCALE, frames: int = 3, budget_s: float = 60.0,
                     progress: ProgressCallback | None = None
                     ) -> tuple[list[VideoSpeedRow], list[str]]:
    """Frames per second of each model with x`scale` weights (shipped or in
    $SR_ENGINE_WEIGHTS: the fast path and precision auto key on them) on a `size` (width,
    height) frame, per device and precision; and the models left out (no such weights).

    A precision the device does not run natively gets a row without a time ("n/a"); bicubic,
    which has no network, runs in fp32 only."""
    rows: list[VideoSpeedRow] = []
    left_out: list[str] = []
    frame = video_frame(size)
    for device in devices:
        dev = resolve_device(device)
        loaded = []
        for name in models:
            try:
                loaded.append(load_model(name, scale=scale, device=dev))
            except (MissingWeightsError, ConfigError):
                left_out.append(name)
        combos = [(m, p) for m in loaded for p in precisions
                  if p == "fp32" or m.spec.id != "bicubic"]
        rep = Reporter(progress, "validating", total=len(combos))
        for model, precision in combos:
            median, count = None, 0
            if native_precision(dev, precision):
                median, count = time_frames(model, frame, precision, frames=frames,
                                            budget_s=budget_s)
            rows.append(VideoSpeedRow(model.name, dev.type, precision, *size, scale, count,
                                      median))
            rep.advance(message=f"video speed {model.name} {dev.type} {precision}")
    return rows, list(dict.fromkeys(left_out))


def _fps_cell(row: VideoSpeedRow | None) -> str:
    if row is None:
        return "-"
    if row.median_s is None:
        return "n/a"
    return f"{row.fps:.3g} ({row.median_s:.3g} s)"


def video_speed_table(rows: Sequence[VideoSpeedRow], left_out: Sequence[str] = ()) -> list[str]:
    """One line per model and device, one column per precision: frames/s (seconds a frame)."""
    if not rows:
        return []
    precisions = list(dict.fromkeys(r.precision for r in rows))
    cells = {(r.model, r.device, r.precision): r for r in rows}
    first = rows[0]
    lines = [f"Each {first.width}x{first.height} frame upscaled x{first.scale} to "
             f"{first.width * first.scale}x{first.height * first.scale} by `upscale_picture` "
             "(tile auto), as `sr-engine upscale clip.mp4` runs each decoded frame (decoding "
             "and encoding not counted); the median of the frames timed after a warm-up. "
             "n/a: this device has no native unit for that precision; -: not run (bicubic "
             "has no network).", "",
             "| model | device | " + " | ".join(f"{p} frames/s (s/frame)" for p in precisions)
             + " | frames timed |", "|---|---|" + "---|" * (len(precisions) + 1)]
    for model, device in dict.fromkeys((r.model, r.device) for r in rows):
        row = [cells.get((model, device, p)) for p in precisions]
        timed = " / ".join(str(r.frames) for r in row if r is not None and r.frames)
        lines.append(f"| {model} | {device} | " + " | ".join(_fps_cell(r) for r in row)
                     + f" | {timed} |")
    if left_out:
        lines += ["", f"Left out (no x{first.scale} weights): {', '.join(left_out)}."]
    return lines
