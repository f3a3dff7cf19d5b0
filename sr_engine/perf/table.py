"""The performance run: every model x input size x method, interleaved, each measurement in
a child process; its markdown; its JSON, kept per CPU for the regression guard."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from sr_engine.errors import ConfigError
from sr_engine.inference.autotile import LIVE
from sr_engine.inference.cost import Cost, model_cost
from sr_engine.machine import cpu_label
from sr_engine.paths import atomic_write_text
from sr_engine.perf import DEFAULT_MODELS, DEFAULT_SIZES
from sr_engine.perf.cell import WARM_LIMIT, parse_size
from sr_engine.perf.measure import conv_roofline, copy_bandwidth
from sr_engine.perf.methods import METHODS, REALESRGAN_PAD, REALESRGAN_TILE
from sr_engine.progress import ProgressCallback, Reporter
from sr_engine.zoo import load_model

WHOLE_IMAGE = ("engine-whole", "plain-nchw-fp32")  # one forward over the whole input
TOLERANCE = 0.5  # the regression guard fails a ratio 50% worse than the kept one
MEMORY_SHARE = 0.6  # a whole-image forward needing more of the free RAM is skipped


@dataclass(frozen=True)
class PerfRow:
    model: str
    size: str
    method: str
    precision: str = "-"
    median_s: float | None = None
    gflops: float | None = None  # useful conv GFLOP/s: the whole image's FLOPs / seconds
    traffic_gbs: float | None = None  # activation bytes through the leaf modules / seconds
    peak_rss_mib: float | None = None
    skipped: str | None = None


@dataclass
class PerfRun:
    machine: dict[str, str]
    roofline_gflops: dict[str, float]  # channels_last 64->64 3x3 conv, per precision
    copy_gbs: float
    rows: list[PerfRow] = field(default_factory=list)

    def median(self, model: str, size: str, method: str) -> float | None:
        return next((r.median_s for r in self.rows
                     if (r.model, r.size, r.method) == (model, size, method)), None)

    def ratios(self) -> dict[str, float]:
        """engine seconds / plain-forward seconds per model@size: what the guard compares
        (a ratio measured in one run survives a slower or busier machine; seconds do not)."""
        out = {}
        for r in self.rows:
            if r.method == "engine" and r.median_s:
                base = self.median(r.model, r.size, "plain-nchw-fp32")
                if base:
                    out[f"{r.model}@{r.size}"] = r.median_s / base
        return out


def _free_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def _child(model: str, scale: int, size: str, method: str) -> dict:
    cmd = [sys.executable, "-m", "sr_engine.perf.cell", model, str(scale), size, method, "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RuntimeError(tail)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(model: str, size: str, method: str, results: list[dict], cost: Cost,
         bytes_per_elem: float) -> PerfRow:
    median = statistics.median(s for r in results for s in r["seconds"])
    width, height = parse_size(size)
    pixels = width * height
    return PerfRow(model, size, method, results[0]["precision"], median,
                   cost.conv_flops * pixels / median / 1e9,
                   cost.traffic_elems * pixels * bytes_per_elem / median / 1e9,
                   max(r["peak_rss_mib"] for r in results))


def _skip_reason(method: str, size: str, cost: Cost, estimate_s: float | None,
                 budget_s: float) -> str | None:
    width, height = parse_size(size)
    if method in WHOLE_IMAGE:
        need = LIVE * cost.peak_elems * width * height * 4  # as tile "auto" counts, in fp32
        if need > MEMORY_SHARE * _free_bytes():
            return f"needs about {need / 2**30:.0f} GiB for one forward's activations"
    if estimate_s is not None and estimate_s > budget_s:
        return f"estimated {estimate_s:.0f} s from the smaller input, over the " \
               f"{budget_s:.0f} s budget (--perf-budget)"
    return None


def run_perf(models: Sequence[str] = DEFAULT_MODELS, sizes: Sequence[str] = DEFAULT_SIZES, *,
             rounds: int = 3, budget_s: float = 400.0,
             progress: ProgressCallback | None = None) -> PerfRun:
    """Measure every model (checkpoint ids, e.g. edsr_x4) x size x method, smallest size
    first. Small inputs take `rounds` interleaved rounds (one child per method per round);
    inputs over WARM_LIMIT pixels one. A measurement whose estimate (from the previous size)
    exceeds `budget_s`, or a peer whose whole-image activations do not fit in memory, is
    listed as skipped with the reason."""
    check_sizes(sizes)
    sizes = sorted(sizes, key=lambda s: parse_size(s)[0] * parse_size(s)[1])
    run = PerfRun(
        machine={"cpu": cpu_label(), "threads": str(torch.get_num_threads()),
                 "torch": torch.__version__, "python": platform.python_version()},
        roofline_gflops={p: conv_roofline(p) for p in ("fp32", "bf16")},
        copy_gbs=copy_bandwidth())
    reporter = Reporter(progress, "validating", total=len(models) * len(sizes) * len(METHODS))
    for name in models:
        loaded = load_model(name, device="cpu")
        cost = model_cost(loaded.module, loaded.spec.channels)
        previous: dict[str, tuple[float, int]] = {}  # method -> (seconds, pixels)
        for size in sizes:
            width, height = parse_size(size)
            n_rounds = rounds if width * height <= WARM_LIMIT else 1
            results: dict[str, list[dict]] = {m: [] for m in METHODS}
            skipped: dict[str, str] = {}
            for method in METHODS:
                seen = previous.get(method)
                estimate = seen[0] * width * height / seen[1] if seen else None
                if reason := _skip_reason(method, size, cost, estimate, budget_s):
                    skipped[method] = reason
            for _ in range(n_rounds):
                for method in METHODS:
                    if method in skipped:
                        continue
                    try:
                        results[method].append(_child(name, loaded.scale, size, method))
                    except RuntimeError as exc:
                        skipped[method] = f"failed: {exc}"
            for method in METHODS:
                if method in skipped:
                    run.rows.append(PerfRow(name, size, method, skipped=skipped[method]))
                else:
                    half = results[method][0]["precision"] in ("bf16", "fp16")
                    row = _row(name, size, method, results[method], cost, 2 if half else 4)
                    run.rows.append(row)
                    previous[method] = (row.median_s or 0.0, width * height)
                reporter.advance(message=f"perf {name} {size} {method}")
    return run


def _cell(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def perf_markdown(run: PerfRun) -> list[str]:
    best = max(run.roofline_gflops.values())
    roof = ", ".join(f"{p} {g:.0f}" for p, g in run.roofline_gflops.items())
    lines = [f"Machine: {run.machine['cpu']}, {run.machine['threads']} torch threads, torch "
             f"{run.machine['torch']}. Measured in this run: conv roofline (64->64 3x3, "
             f"channels_last) {roof} GFLOP/s; copy bandwidth {run.copy_gbs:.1f} GB/s.", "",
             "Methods: **engine** = `sr-engine upscale` / web defaults (precision auto, tile "
             "auto); **engine-whole** = the same with tile 0; **plain-nchw-fp32** = "
             "one NCHW fp32 forward of the whole image (BasicSR's test script); "
             f"**realesrgan-loop** = Real-ESRGAN's tile loop re-implemented (tile "
             f"{REALESRGAN_TILE}, tile_pad {REALESRGAN_PAD}, fp32 NCHW; the `realesrgan` "
             "package does not import beside this torchvision). spandrel has none of these "
             "architectures, so it has no column. Each measurement runs in a fresh process "
             "(peak RSS is the whole process); small inputs: median of interleaved rounds.",
             "", "| model | input | method | precision | median s | vs plain | GFLOP/s | "
             "% of best roofline | activation GB/s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in run.rows:
        if r.skipped:
            lines.append(f"| {r.model} | {r.size} | {r.method} | - | skipped: {r.skipped} "
                         "| - | - | - | - | - |")
            continue
        base = run.median(r.model, r.size, "plain-nchw-fp32")
        speedup = f"{base / r.median_s:.2f}x" if base and r.median_s else "-"
        pct = None if r.gflops is None else 100 * r.gflops / best
        lines.append(f"| {r.model} | {r.size} | {r.method} | {r.precision} | "
                     f"{_cell(r.median_s, '.3f')} | {speedup} | {_cell(r.gflops, '.0f')} | "
                     f"{_cell(pct, '.0f')}% | {_cell(r.traffic_gbs, '.1f')} | "
                     f"{_cell(r.peak_rss_mib, '.0f')} |")
    overhead = [f"{r.model} {r.size}: {100 * (r.median_s / whole - 1):+.0f}%"
                for r in run.rows if r.method == "engine" and r.median_s
                if (whole := run.median(r.model, r.size, "engine-whole"))]
    if overhead:
        lines += ["", "Tiling overhead (engine / engine-whole - 1): " + "; ".join(overhead) + "."]
    return lines


def load_kept(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def regressions(run: PerfRun, kept: dict[str, dict], tolerance: float = TOLERANCE) -> list[str]:
    """Ratios (engine / plain forward, same run) more than `tolerance` worse than those kept
    for this CPU; none when this CPU has no kept run."""
    before = kept.get(run.machine["cpu"], {}).get("ratios", {})
    return [f"{key}: engine/plain {ratio:.3f}, kept {before[key]:.3f} "
            f"(allowed up to {before[key] * (1 + tolerance):.3f})"
            for key, ratio in run.ratios().items()
            if key in before and ratio > before[key] * (1 + tolerance)]


def keep(run: PerfRun, path: Path) -> None:
    """Record `run` in `path` under its CPU (runs on other CPUs stay)."""
    kept = load_kept(path)
    kept[run.machine["cpu"]] = {**asdict(run), "ratios": run.ratios()}
    atomic_write_text(path, json.dumps(kept, indent=1, sort_keys=True) + "\n")


def check_sizes(sizes: Sequence[str]) -> None:
    for size in sizes:
        try:
            width, height = parse_size(size)
        except ValueError:
            width = height = 0
        if width < 1 or height < 1:
            raise ConfigError(f"--perf-sizes: {size!r} is not WIDTHxHEIGHT, e.g. 480x320")

