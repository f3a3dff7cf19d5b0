"""Video SR evaluation (`sr-engine evaluate --video DIR`): the image protocol applied to clips,
plus two temporal-consistency figures.

Layout: DIR holds one folder of HR frames per clip, as Vid4, REDS4 and UDM10 are shipped
(DIR/calendar/*.png, DIR/city/*.png, ...); clips are taken in name order, a clip's frames in
natural name order (digits compared as numbers: frame_9 before frame_10). A DIR holding frames
and no folders is one clip. Hidden folders are ignored.

Degradation, each frame on its own (sr_engine.evaluate does the same for images):

- "bi": modcrop, then MATLAB imresize(HR, 1/s, 'bicubic') rounded to uint8 (`protocol_lr`).
- "bd": modcrop, then MATLAB imfilter(HR, fspecial('gaussian', 7, 1.6), 'replicate') rounded to
  uint8, then every s-th pixel from the first (HR(1:s:end, 1:s:end)): the BD of Zhang et al.
  (SRMD) used for Vid4 BD. Other code differs in small ways (BasicSR's duf_downsample uses a
  13x13 kernel, reflected borders and no rounding), which moves PSNR by hundredths of a dB.

Scoring: each frame is upscaled in order, on its own (a video model with its window of
neighbours, the clip's ends repeated), exactly as an image is evaluated (`super_resolve_y`:
Y or RGB models, gray frames, outputs stored as uint8), and scored on Y
(uint8 levels, `scale` pixels shaved per border) by PSNR and SSIM. A clip's figure is the mean
over its frames; the set's the mean over clips (the BasicVSR / mmagic convention, so a long
clip does not outweigh a short one).

Temporal consistency (no optical-flow library: numpy only), on the same Y levels, shaved by
`scale` pixels, for each pair of consecutive frames t-1, t; a clip's figure is the mean over
its pairs, the set's the mean over clips that have a pair:

- `temporal_error` (tE, reference-based, lower is better): the RMSE, in Y levels, between the
  output's change (SR_t - SR_t-1) and the reference's change (HR_t - HR_t-1). 0 for the HR
  frames themselves; it counts flicker (change that the reference does not have) and missing
  motion alike.
- `warp_error_sr` (reference-free, lower is better): the RMSE between SR_t and SR_t-1 moved by
  the global translation from HR_t-1 to HR_t, over the area both frames cover. The translation
  is estimated once per pair on the HR frames (Hann-windowed phase correlation, numpy FFT,
  whole pixels), so SR artefacts cannot bias it. Only a whole-pixel global shift is undone:
  sub-pixel motion, local motion, occlusions and lighting change remain in the figure, which
  is why `warp_error_hr`, the same figure for the HR frames, stands beside it. An output
  about as consistent as the reference scores near warp_error_hr; flicker scores above it,
  and an over-smooth output can score below it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from sr_engine.data.io import IMAGE_SUFFIXES, load_image
from sr_engine.degrade.blur import gaussian_blur
from sr_engine.degrade.resize import modcrop, round_half_away
from sr_engine.errors import ConfigError, ImageError
from sr_engine.evaluate import (
    EvalImage,
    json_safe,
    levels8,
    protocol_lr,
    super_resolve_y,
    y_levels,
)
from sr_engine.inference.fast import Runnable
from sr_engine.metrics import psnr, ssim
from sr_engine.progress import ProgressCallback, Reporter
from sr_engine.video.window import windows

if TYPE_CHECKING:
    from sr_engine.zoo import LoadedModel

DEGRADATIONS = ("bi", "bd")
BD_SIGMA = 1.6
BD_RADIUS = 3  # fspecial('gaussian', 7, 1.6): a 7x7 kernel


@dataclass(frozen=True)
class Clip:
    """One clip of a video set: its name and its HR frame files, in order."""

    name: str
    frames: tuple[Path, ...]


@dataclass
class ClipReport:
    """A clip's means over its frames (temporal ones over its frame pairs; None for a single
    frame) and the per-frame values; Y levels for the temporal figures."""

    name: str
    n_frames: int
    width: int
    height: int
    psnr_y: float
    ssim_y: float
    temporal_error: float | None
    warp_error_sr: float | None
    warp_error_hr: float | None
    per_frame: list[dict] = field(default_factory=list)


@dataclass
class VideoEvalReport:
    """Means over clips of the clips' means; `to_dict()` is JSON-safe (inf dB becomes None)."""

    model: str
    scale: int
    dataset: str
    degradation: str
    psnr_y: float
    ssim_y: float
    temporal_error: float | None
    warp_error_sr: float | None
    warp_error_hr: float | None
    n_clips: int
    n_frames: int
    per_clip: list[ClipReport] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return json_safe(asdict(self))


def _natural_key(name: str) -> list[str | int]:
    # re.split with a group alternates text and digits, so the lists compare position-wise.
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def frame_files(folder: Path) -> tuple[Path, ...]:
    """The image files of a clip folder in natural name order (frame_9 before frame_10)."""
    files = (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return tuple(sorted(files, key=lambda p: _natural_key(p.name)))


def find_clips(data_dir: str | Path) -> list[Clip]:
    """The clips of a video set folder (layout in the module docstring); ConfigError for a
    missing or empty folder and for a clip folder without frames."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ConfigError(f"video set {root} is not a folder")
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: _natural_key(p.name))
    if not folders:
        frames = frame_files(root)
        if not frames:
            raise ConfigError(f"no clips in {root}: expected one folder of HR frames per clip "
                              f"({root}/CLIP/00000.png, ...)")
        return [Clip(root.name, frames)]
    clips = [Clip(folder.name, frame_files(folder)) for folder in folders]
    for clip in clips:
        if not clip.frames:
            raise ConfigError(f"clip {root / clip.name} holds no frames "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return clips


def bd_lr(hr_levels: Tensor, scale: int, sigma: float = BD_SIGMA) -> Tensor:
    """(1, C, H, W) HR levels (modcropped) -> (1, C, H/s, W/s) float32 LR, values k/255:
    7x7 Gaussian blur with replicated borders, rounded to uint8, every s-th pixel."""
    blurred = gaussian_blur(hr_levels.to(torch.float64), sigma, radius=BD_RADIUS,
                            border="replicate")
    lr = round_half_away(blurred).clamp_(0.0, 255.0)[..., ::scale, ::scale]
    return (lr / 255.0).to(torch.float32).contiguous()


def degrade_frame(hr_levels: Tensor, scale: int, degradation: str = "bi") -> Tensor:
    """The protocol's LR of one HR frame: (1, C, H, W) float64 8-bit levels whose sides are
    multiples of `scale` -> (1, C, H/s, W/s) float32, values k/255."""
    if degradation == "bi":
        return protocol_lr(hr_levels, scale)
    if degradation == "bd":
        return bd_lr(hr_levels, scale)
    raise ConfigError(f"degradation {degradation!r} is not one of {', '.join(DEGRADATIONS)}")


def _shave(y: np.ndarray, border: int) -> np.ndarray:
    return y[border:y.shape[0] - border, border:y.shape[1] - border] if border else y


def _rmse(diff: np.ndarray) -> float:
    return float(np.sqrt(np.mean(diff * diff)))


def temporal_error(sr_prev: np.ndarray, sr: np.ndarray, hr_prev: np.ndarray, hr: np.ndarray,
                   border: int = 0) -> float:
    """RMSE between the output's and the reference's change from one frame to the next:
    (H, W) float arrays of Y levels, `border` pixels shaved."""
    return _rmse(_shave((sr - sr_prev) - (hr - hr_prev), border))


def global_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Whole-pixel (dy, dx) such that b[y, x] ~ a[y - dy, x - dx]: the translation from `a`
    to `b` ((H, W) float arrays), by phase correlation of the Hann-windowed frames."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa = np.fft.rfft2((a - a.mean()) * window)
    fb = np.fft.rfft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-12)
    peak = np.fft.irfft2(cross, s=(h, w))
    dy, dx = (int(i) for i in np.unravel_index(np.argmax(peak), peak.shape))
    return (dy - h if dy > h // 2 else dy, dx - w if dx > w // 2 else dx)


def warping_error(prev: np.ndarray, cur: np.ndarray, shift: tuple[int, int],
                  border: int = 0) -> float | None:
    """RMSE between `cur` and `prev` moved by `shift` (global_shift's convention) over the
    area both cover, less `border` pixels per side; None when nothing is left."""
    (dy, dx), (h, w) = shift, cur.shape
    y0, y1 = max(0, dy) + border, min(h, h + dy) - border
    x0, x1 = max(0, dx) + border, min(w, w + dx) - border
    if y1 <= y0 or x1 <= x0:
        return None
    return _rmse(cur[y0:y1, x0:x1] - prev[y0 - dy:y1 - dy, x0 - dx:x1 - dx])


def _pair_figures(prev: tuple[np.ndarray, np.ndarray], sr: np.ndarray, hr: np.ndarray,
                  border: int) -> dict:
    sr_prev, hr_prev = prev
    shift = global_shift(hr_prev, hr)
    return {"temporal_error": temporal_error(sr_prev, sr, hr_prev, hr, border),
            "warp_error_sr": warping_error(sr_prev, sr, shift, border),
            "warp_error_hr": warping_error(hr_prev, hr, shift, border),
            "shift": list(shift)}


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _load_frame(clip: Clip, path: Path, size: tuple[int, int] | None,
                scale: int) -> tuple[Tensor, tuple[int, int]]:
    picture = load_image(path)
    here = (picture.width, picture.height)
    if size is not None and here != size:
        raise ConfigError(f"clip {clip.name}: frame {path.name} is {here[0]}x{here[1]}, its "
                          f"first frame {size[0]}x{size[1]} (a clip's frames share one size)")
    return modcrop(levels8(picture), scale), here


def _eval_frames(clip: Clip, scale: int, degradation: str) -> Iterator[EvalImage]:
    """The protocol's pair (LR, HR Y) of each frame of `clip`, in order, read as needed."""
    size = None
    for path in clip.frames:
        hr, size = _load_frame(clip, path, size, scale)
        yield EvalImage(name=path.name, lr=degrade_frame(hr, scale, degradation),
                        hr_y=y_levels(hr))


def evaluate_clip(model: LoadedModel, clip: Clip, *, scale: int, degradation: str = "bi",
                  precision: str = "fp32", runner: Runnable | None = None,
                  reporter: Reporter | None = None) -> ClipReport:
    """Degrade, upscale and score a clip's frames in order (one frame in memory at a time, a
    window of them for a video model, the clip's ends repeated)."""
    rows: list[dict] = []
    prev: tuple[np.ndarray, np.ndarray] | None = None  # the previous frame's (SR Y, HR Y)
    for image, window in windows(((f, True) for f in _eval_frames(clip, scale, degradation)),
                                 model.frames):
        sr_y = super_resolve_y(model, image, precision, runner, window=window)
        if sr_y.shape != image.hr_y.shape:
            raise ImageError(f"clip {clip.name}, {image.name}: model output "
                             f"{tuple(sr_y.shape)} does not match HR {tuple(image.hr_y.shape)}")
        p = float(psnr(sr_y, image.hr_y, crop=scale, data_range=255.0))
        s = float(ssim(sr_y, image.hr_y, crop=scale, data_range=255.0))
        row: dict = {"name": image.name, "psnr_y": p, "ssim_y": s}
        sr, ref = sr_y.numpy(), image.hr_y.numpy()
        if prev is not None:
            row.update(_pair_figures(prev, sr, ref, scale))
        rows.append(row)
        prev = (sr, ref)
        if reporter is not None:
            reporter.advance(message=f"{clip.name}/{image.name}",
                             metrics={"psnr": p, "ssim": s})
    height, width = prev[1].shape if prev is not None else (0, 0)
    return ClipReport(
        name=clip.name, n_frames=len(rows), width=width, height=height,
        psnr_y=float(np.mean([r["psnr_y"] for r in rows])),
        ssim_y=float(np.mean([r["ssim_y"] for r in rows])),
        temporal_error=_mean([r.get("temporal_error") for r in rows[1:]]),
        warp_error_sr=_mean([r.get("warp_error_sr") for r in rows[1:]]),
        warp_error_hr=_mean([r.get("warp_error_hr") for r in rows[1:]]),
        per_frame=rows)


def evaluate_video(model: LoadedModel, data_dir: str | Path, *, scale: int | None = None,
                   degradation: str = "bi", precision: str = "fp32",
                   runner: Runnable | None = None,
                   progress: ProgressCallback | None = None) -> VideoEvalReport:
    """Y PSNR/SSIM and the temporal figures of `model` (run eagerly, or by `runner`) on a
    video set folder: per clip and the mean over clips.

    Emits one "validating" event per frame (current of all the set's frames, that frame's
    psnr/ssim); a callback that raises Cancelled stops it.
    """
    scale = model.scale if scale is None else scale
    if scale != model.scale:
        raise ConfigError(f"the model is x{model.scale}, evaluation asks x{scale}")
    if degradation not in DEGRADATIONS:
        raise ConfigError(f"degradation {degradation!r} is not one of "
                          f"{', '.join(DEGRADATIONS)}")
    clips = find_clips(data_dir)
    t0 = time.monotonic()
    reporter = Reporter(progress, "validating", total=sum(len(c.frames) for c in clips))
    reports = [evaluate_clip(model, clip, scale=scale, degradation=degradation,
                             precision=precision, runner=runner, reporter=reporter)
               for clip in clips]
    return VideoEvalReport(
        model=model.name, scale=scale, dataset=Path(data_dir).name, degradation=degradation,
        psnr_y=float(np.mean([c.psnr_y for c in reports])),
        ssim_y=float(np.mean([c.ssim_y for c in reports])),
        temporal_error=_mean([c.temporal_error for c in reports]),
        warp_error_sr=_mean([c.warp_error_sr for c in reports]),
        warp_error_hr=_mean([c.warp_error_hr for c in reports]),
        n_clips=len(reports), n_frames=sum(c.n_frames for c in reports), per_clip=reports,
        seconds=time.monotonic() - t0)


def fmt_figure(value: float | None, digits: int = 2) -> str:
    """A temporal figure for text output ("-" when a clip has a single frame)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
