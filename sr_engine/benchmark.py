"""Quality and speed tables: what `sr-engine benchmark` measures and writes.

Quality: the evaluation protocol (sr_engine.evaluate) for each model x scale x dataset, beside
the published figure and the difference. Speed: output megapixels per second of the tiled
inference path on a fixed random input, per arch, device and precision, as the median of
repeated side-by-side runs (architectures at random init: speed does not depend on weights).
Video speed: sr_engine.video.speed.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import sr_engine
from sr_engine.errors import ConfigError, MissingWeightsError
from sr_engine.evaluate import evaluate, load_eval_set
from sr_engine.inference import upscale_tensor
from sr_engine.machine import cpu_label
from sr_engine.metrics.niqe import measurable as niqe_measurable
from sr_engine.paths import REPO_ROOT
from sr_engine.progress import ProgressCallback, Reporter
from sr_engine.published import published
from sr_engine.registry import create_model, get_spec, list_models
from sr_engine.zoo import LoadedModel, load_model, resolve_device


@dataclass(frozen=True)
class QualityRow:
    model: str
    arch: str
    scale: int
    dataset: str
    psnr: float
    ssim: float
    n_images: int
    paper_psnr: float | None
    paper_ssim: float | None
    step: int | None = None  # training step of the checkpoint; None for bicubic
    source: str = ""  # what was loaded (an id or a checkpoint path), to load it again
    niqe: float | None = None  # mean NIQE of the outputs (lower = more natural), if measured


@dataclass(frozen=True)
class SpeedRow:
    arch: str
    scale: int
    device: str
    precision: str
    lr_size: int
    median_s: float
    mpix_per_s: float  # output megapixels per second
    params: int


def quality_rows(models: Sequence[str], scales: Sequence[int], data_dirs: Sequence[Path], *,
                 device: str = "auto", progress: ProgressCallback | None = None,
                 niqe: bool = False) -> tuple[list[QualityRow], list[str]]:
    """Evaluate each model x scale on each dataset (and NIQE of the outputs with `niqe`);
    returns rows and skipped-combination notes."""
    rows: list[QualityRow] = []
    skipped: list[str] = []
    dev = resolve_device(device)
    for scale in scales:
        sets = [(d.name, load_eval_set(d, scale=scale)) for d in data_dirs]
        # NIQE where every image of a set is large enough (tiny test sets have none)
        with_niqe = {name: niqe and all(niqe_measurable(*i.hr_y.shape, scale)
                                        for i in data.images)
                     for name, data in sets}
        for name in models:
            try:
                model = load_model(name, scale=scale, device=dev)
            except (MissingWeightsError, ConfigError) as exc:
                skipped.append(f"{name} x{scale}: {exc}")
                continue
            for set_name, data in sets:
                report = evaluate(model, data, scale=scale, progress=progress,
                                  with_niqe=with_niqe[set_name])
                paper = published(model.spec.id, set_name, scale)
                rows.append(QualityRow(
                    model.name, model.spec.id, scale, set_name, report.psnr_y, report.ssim_y,
                    report.n_images, paper[0] if paper else None, paper[1] if paper else None,
                    model.meta.step if model.meta else None, str(name), report.niqe))
    return rows, skipped


def _random_model(arch: str, scale: int, device: torch.device) -> LoadedModel:
    spec = get_spec(arch)
    torch.manual_seed(0)
    module = create_model(arch, scale=scale).to(device).eval().requires_grad_(False)
    return LoadedModel(module=module, spec=spec, scale=scale, hparams=spec.resolve_hparams(),
                       meta=None, name=arch, device=device)


def time_model(model: LoadedModel, *, lr_size: int, precision: str, repeats: int,
               budget_s: float = 20.0, tile: int = 256) -> float:
    """Median seconds of up to `repeats` timed runs after one warm-up, on a (1,C,size,size)
    input; stops early once `budget_s` is spent, so slow combinations (DRCN in bf16 on a CPU
    without bf16 units) do not take the whole run. A warm-up that alone overruns the budget
    is the answer: at a minute per run, what warming saves is noise."""
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, model.spec.channels, lr_size, lr_size, generator=g).to(model.device)
    times: list[float] = []
    start = time.perf_counter()
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        upscale_tensor(model, lr, tile=tile, precision=precision)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        if i:  # the first run warms caches and kernels
            times.append(elapsed)
        if time.perf_counter() - start > budget_s:
            return statistics.median(times or [elapsed])
    return statistics.median(times)


def speed_rows(archs: Sequence[str], scales: Sequence[int], *, devices: Sequence[str],
               precisions: Sequence[str], hr_size: int = 192, repeats: int = 3,
               progress: ProgressCallback | None = None) -> list[SpeedRow]:
    """Time every arch x scale x device x precision, side by side in one run.

    The output size is fixed (`hr_size` square; LR = hr_size // scale) so the work per
    output pixel, and so MP/s, compare across scales.
    """
    combos = [(a, s, d, p) for d in devices for a in archs for s in scales
              if s in get_spec(a).scales for p in precisions]
    rep = Reporter(progress, "validating", total=len(combos))
    rows = []
    for arch, scale, device, precision in combos:
        model = _random_model(arch, scale, resolve_device(device))
        lr_size = hr_size // scale
        median = time_model(model, lr_size=lr_size, precision=precision, repeats=repeats)
        out_mpix = (lr_size * scale) ** 2 / 1e6
        params = sum(p.numel() for p in model.module.parameters())
        rows.append(SpeedRow(arch, scale, model.device.type, precision, lr_size, median,
                             out_mpix / median, params))
        rep.advance(message=f"speed {arch} x{scale} {device} {precision}")
    return rows


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _signed(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:+.{digits}f}"


def quality_table(rows: Iterable[QualityRow]) -> list[str]:
    lines = ["| model | arch | scale | set | PSNR | SSIM | paper PSNR | paper SSIM | ΔPSNR "
             "| ΔSSIM |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dp = None if r.paper_psnr is None else r.psnr - r.paper_psnr
        ds = None if r.paper_ssim is None else r.ssim - r.paper_ssim
        lines.append(f"| {r.model} | {r.arch} | x{r.scale} | {r.dataset} | {r.psnr:.2f} | "
                     f"{r.ssim:.4f} | {_fmt(r.paper_psnr, 2)} | {_fmt(r.paper_ssim, 4)} | "
                     f"{_signed(dp, 2)} | {_signed(ds, 4)} |")
    return lines


def perceptual_table(rows: Iterable[QualityRow]) -> list[str]:
    """PSNR/SSIM beside NIQE for the rows that have it, perceptual models labelled: what a
    perceptual model gains in naturalness (NIQE down) for what it gives up in fidelity."""
    lines = ["| model | objective | scale | set | PSNR | SSIM | NIQE | paper PSNR | paper SSIM |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.niqe is None:
            continue
        lines.append(f"| {r.model} | {get_spec(r.arch).objective} | x{r.scale} | {r.dataset} | "
                     f"{r.psnr:.2f} | {r.ssim:.4f} | {r.niqe:.3f} | {_fmt(r.paper_psnr, 2)} | "
                     f"{_fmt(r.paper_ssim, 4)} |")
    return lines if len(lines) > 2 else []


def shortfall_lines(rows: Iterable[QualityRow]) -> list[str]:
    """One line per row under its published PSNR or SSIM, saying by how much, so that no
    model sits under its paper without the report saying so in words."""
    lines = []
    for r in rows:
        if r.arch == "bicubic":  # the protocol check (within 0.02 dB of its table), not a model
            continue
        gaps = [f"{name} {ours - paper:+.{digits}f}{unit}"
                for name, ours, paper, digits, unit in (("PSNR", r.psnr, r.paper_psnr, 2, " dB"),
                                                        ("SSIM", r.ssim, r.paper_ssim, 4, ""))
                if paper is not None and round(ours, digits) < paper]
        if gaps:
            lines.append(f"- {r.model} x{r.scale} {r.dataset}: {', '.join(gaps)} "
                         "against the paper")
    return lines


def training_lines(rows: Iterable[QualityRow]) -> list[str]:
    """Where each evaluated checkpoint comes from: its card (recipe, exact command, steps, wall
    time, device) and log, written by `sr-engine ship` into docs/training beside this report."""
    lines = []
    for name, step in dict.fromkeys((r.model, r.step) for r in rows if r.step is not None):
        card = REPO_ROOT / "docs" / "training" / f"{name}.md"
        where = (f"[training card](training/{name}.md), [log](training/{name}.jsonl)"
                 if card.is_file() else "no training card (not a shipped checkpoint)")
        lines.append(f"- {name}: step {step}, {where}")
    return lines


def speed_table(rows: Iterable[SpeedRow]) -> list[str]:
    rows = list(rows)
    base = {(r.scale, r.device, r.precision): r.mpix_per_s for r in rows if r.arch == "bicubic"}
    lines = ["| arch | scale | device | precision | params | LR size | median s | output MP/s |"
             " vs bicubic |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = base.get((r.scale, r.device, r.precision))
        ratio = f"{r.mpix_per_s / b:.3g}x" if b else "-"
        lines.append(f"| {r.arch} | x{r.scale} | {r.device} | {r.precision} | {r.params:,} | "
                     f"{r.lr_size}x{r.lr_size} | {r.median_s:.4f} | {r.mpix_per_s:.3f} | {ratio} |")
    return lines


def environment_lines() -> list[str]:
    threads = torch.get_num_threads()
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [f"- sr_engine {sr_engine.__version__}, torch {torch.__version__}, "
            f"Python {platform.python_version()}",
            f"- CPU: {cpu_label()}, {threads} torch threads; "
            f"CUDA: {cuda}"]


def render_markdown(quality: Sequence[QualityRow], speed: Sequence[SpeedRow],
                    skipped: Sequence[str], command: str, *,
                    precision: Sequence[str] = (), perf: Sequence[str] = (),
                    video: Sequence[str] = (), video_quality: Sequence[str] = ()) -> str:
    """The whole report; generated, never edited by hand."""
    out = ["# SR Studio benchmark", "",
           f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
           "Do not edit by hand: re-run the command.", "", *environment_lines(), ""]
    if quality:
        out += ["## Quality (PSNR/SSIM on Y, border = scale, MATLAB bicubic LR)", "",
                *quality_table(quality), ""]
        below = shortfall_lines(quality)
        out += ["Under the published figure:", "", *below, ""] if below else \
            ["No evaluated model is under a published figure (\"-\": none published).", ""]
        trained = training_lines(quality)
        out += ["How each checkpoint was trained:", "", *trained, ""] if trained else []
        perceptual = perceptual_table(quality)
        out += ["## Perceptual quality (NIQE of the outputs' Y, border = scale; lower = more "
                "natural; no reference needed)", "", *perceptual, ""] if perceptual else []
    if video_quality:
        out += ["## Video quality (x4 clips: image models frame by frame, video models on "
                "windows of frames)", "", *video_quality, ""]
    if precision:
        out += ["## Reduced precision (precision \"auto\" uses it only where the drop is at "
                "most 0.01 dB)", "", *precision, ""]
    if skipped:
        out += ["Not evaluated:", "", *[f"- {s}" for s in skipped], ""]
    if perf:
        out += ["## Performance side by side (shipped weights, one run)", "", *perf, "",
                "Training throughput and the web's per-job overhead, measured by `make bench` "
                "right after this report: [docs/bench/train.md](bench/train.md), "
                "[docs/bench/web.md](bench/web.md), [docs/bench/web-edsr.md](bench/web-edsr.md).",
                ""]
    if speed:
        out += ["## Speed (tiled inference on a random input, median of repeated runs)", "",
                *speed_table(speed), ""]
    if video:
        out += ["## Video speed (frames per second, each frame run as a clip's are)", "",
                *video, ""]
    return "\n".join(out)


def parse_quality_table(text: str) -> list[dict[str, str]]:
    """Rows of the quality table in a generated report, as {column: cell} (for the CI guard)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("| model | arch |")]
    if not lines:
        return []
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    start = text.splitlines().index(lines[0]) + 2
    rows = []
    for ln in text.splitlines()[start:]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True)))
    return rows


def default_models() -> list[str]:
    """bicubic plus every registered SR arch (those without weights are listed as skipped)."""
    return [s.id for s in list_models()]
