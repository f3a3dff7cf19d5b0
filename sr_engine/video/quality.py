"""The video quality table of `sr-engine benchmark`: every model with x4 weights (image
models frame by frame, video models on their windows) and bicubic, scored on a clip set by
`evaluate --video` (BI x4, Y, border 4, frames then clips), with the temporal figures.

The set is Vid4 (or any clip folders) when `--video-data` names it; else clips made from the
Set14 stills by `make-clips` (seed 0), a development set that is *not* Vid4: the published
Vid4 figures are listed under the table for reference, never beside its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sr_engine.progress import ProgressCallback, emit
from sr_engine.video.evaluate import evaluate_video, fmt_figure
from sr_engine.video.synth import make_clips
from sr_engine.zoo import available_checkpoints, load_model

SCALE = 4
STILLS = "Set14"  # the stills the development clips are made from
# BI x4, Y, as the VESPCN paper reports them (../shared/data/PROTOCOL.md quotes the PSNRs).
PUBLISHED_VID4 = {"bicubic": (23.78, 0.6347), "VSRnet": (24.81, 0.7020),
                  "VESPCN": (25.35, 0.7557)}


@dataclass(frozen=True)
class VideoQualityRow:
    model: str
    arch: str
    frames: int  # the model's window: 1 for image models
    psnr: float
    ssim: float
    temporal_error: float | None
    warp_error_sr: float | None
    warp_error_hr: float | None


def clip_set(given: Path | None, stills_dirs: Sequence[Path], cache: Path) -> tuple[Path, str]:
    """The clip folder to score on and how to name it: `given`, else clips made (once, into
    `cache`) from the Set14 stills among `stills_dirs`; ("", "") without either."""
    if given is not None:
        return given, given.name
    stills = next((d for d in stills_dirs if d.name == STILLS), None)
    if stills is None:
        return Path(), ""
    if not (cache / "clips.json").is_file():
        make_clips(stills, cache, frames=7, seed=0)
    return cache, f"clips made from the {STILLS} stills (seed 0, 7 frames; not Vid4)"


def default_models(scale: int = SCALE) -> list[str]:
    """bicubic and every checkpoint with x`scale` weights the engine finds."""
    return ["bicubic", *sorted(str(p) for p, meta in available_checkpoints()
                               if meta.scale == scale)]


def video_quality_rows(models: Sequence[str], data: Path, *, scale: int = SCALE,
                       device: str = "auto", progress: ProgressCallback | None = None
                       ) -> list[VideoQualityRow]:
    rows = []
    for name in models:
        model = load_model(name, scale=scale, device=device)
        emit(progress, "validating", f"video quality: {model.name}")
        report = evaluate_video(model, data, scale=scale, precision="fp32")
        rows.append(VideoQualityRow(model.name, model.spec.id, model.frames, report.psnr_y,
                                    report.ssim_y, report.temporal_error,
                                    report.warp_error_sr, report.warp_error_hr))
    return rows


def video_quality_table(rows: Sequence[VideoQualityRow], label: str) -> list[str]:
    """Markdown lines: rows best PSNR first, then the published Vid4 figures."""
    if not rows:
        return []
    lines = [f"On {label}, x{SCALE}, BI, Y, border {SCALE}; PSNR/SSIM averaged over each "
             "clip's frames, then over clips. Temporal error: RMSE of the output's "
             "frame-to-frame change against the reference's; warping error: after undoing "
             "the global motion, beside the HR frames' own (lower is better; "
             "sr_engine/video/evaluate.py).", "",
             "| model | arch | frames in | PSNR | SSIM | temporal error | warping error "
             "(HR) |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r.psnr):
        lines.append(f"| {r.model} | {r.arch} | {r.frames} | {r.psnr:.2f} | {r.ssim:.4f} | "
                     f"{fmt_figure(r.temporal_error)} | {fmt_figure(r.warp_error_sr)} "
                     f"({fmt_figure(r.warp_error_hr)}) |")
    published = ", ".join(f"{name} {p:.2f} / {s:.4f}" for name, (p, s)
                          in PUBLISHED_VID4.items())
    return [*lines, "", f"Published on Vid4 (BI x4, Y): {published}."]
