"""Training throughput, side by side: this engine's step against a plain PyTorch loop.

For each recipe, in one process and interleaved round by round (so drift and other load on
the machine hit all three alike), medians over rounds of:

- engine: `train_step` fed by the engine's prefetcher, as `train()` runs it, in the
  precision the engine picks ("auto" by default);
- plain: what a PyTorch user writes for the same model, batch, patch size, loss and
  optimizer: channels_last model, bf16 autocast, batches already in memory (no data cost);
- data: the data pipeline alone (the engine's prefetcher, no model), in batches per second.

and the engine's "wait": the fraction of its step time spent waiting for a batch. Recipes
train from scratch here (`model.init` and validation are dropped): weights do not change
the speed. The plain loop's bf16 autocast is the target's definition, whatever "auto" picks.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sr_engine.errors import ConfigError
from sr_engine.losses import ContentLoss
from sr_engine.machine import cpu_label
from sr_engine.registry import create_model
from sr_engine.train.config import TrainConfig
from sr_engine.train.loop import prefetcher, train_step
from sr_engine.train.optim import build_optimizer
from sr_engine.train.precision import auto_precision
from sr_engine.train.session import Session, build_session
from sr_engine.zoo import resolve_device

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

# Short names for the recipes measured by default: the CPU cuts where there is one.
NAMED_RECIPES = {
    "edsr": "edsr_x4_cpu.toml", "espcn": "espcn_x4.toml", "fsrcnn": "fsrcnn_x4.toml",
    "vdsr": "vdsr_x4_cpu.toml", "srresnet": "srresnet_x4_cpu.toml",
}
DEFAULT_MODELS = ("edsr", "espcn", "vdsr")

# Plain-loop batches kept in memory and cycled (several, so caches see fresh data).
PLAIN_BATCHES = 4
WARMUP_STEPS = 2  # oneDNN builds its primitives on the first steps of each shape

Log = Callable[[str], None]


@dataclass(frozen=True)
class ThroughputRow:
    """One recipe's medians; rates are per second of wall time."""

    model: str  # the name asked for (a short name or a recipe path)
    arch: str
    scale: int
    batch_size: int
    patch_size: int  # LR pixels
    precision: str  # the engine's; the plain loop runs bf16 autocast
    device: str
    engine_steps_s: float
    plain_steps_s: float
    data_batches_s: float
    wait: float  # fraction of the engine's step time spent waiting for a batch
    rounds: int

    @property
    def engine_samples_s(self) -> float:
        return self.engine_steps_s * self.batch_size

    @property
    def plain_samples_s(self) -> float:
        return self.plain_steps_s * self.batch_size

    @property
    def speedup(self) -> float:
        """Engine steps/s over the plain loop's (the target is >= 1.2)."""
        return self.engine_steps_s / self.plain_steps_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "engine_samples_s": self.engine_samples_s,
                "plain_samples_s": self.plain_samples_s, "speedup": self.speedup}


def recipe_path(model: str) -> Path:
    """A short name from `NAMED_RECIPES`, or a recipe file's path."""
    return RECIPES / NAMED_RECIPES[model] if model in NAMED_RECIPES else Path(model)


def bench_config(recipe: Path, out_dir: Path, precision: str,
                 overrides: Sequence[str] = ()) -> TrainConfig:
    """The recipe as measured: from scratch, no validation, an endless schedule (the step
    count never reaches its end), the engine's precision resolved as `train()` does."""
    data = TrainConfig.from_toml(recipe).with_overrides(
        [*overrides, "train.steps=1000000", f'train.out_dir="{out_dir}"']).to_dict()
    data["model"].pop("init", None)
    data["data"].pop("val", None)
    config = TrainConfig.from_dict(data)
    loss = config.loss
    if loss.adversarial or loss.perceptual or loss.intermediate:
        raise ConfigError(f"{recipe.name}: the plain loop has pixel losses only; adversarial, "
                          "perceptual and recursive-supervision recipes are not compared")
    if precision == "auto":
        precision = auto_precision(resolve_device(config.train.device))[0]
    return config.with_overrides([f"train.precision={precision}"])


class PlainLoop:
    """The reference: a textbook PyTorch step on batches already in memory."""

    def __init__(self, s: Session, batches: Sequence[tuple[Tensor, Tensor]]) -> None:
        cfg = s.config
        torch.manual_seed(cfg.train.seed)
        self.device = s.device
        self.model: nn.Module = create_model(s.spec.id, scale=cfg.model.scale, **s.hparams).to(
            s.device, memory_format=torch.channels_last).train()
        self.optimizer = build_optimizer(self.model.parameters(), cfg.optim)
        self.loss = ContentLoss(cfg.loss.content_weights()).to(s.device)
        self.clip = cfg.optim.grad_clip
        self.batches = [(lr.to(s.device).contiguous(memory_format=torch.channels_last),
                         hr.to(s.device)) for lr, hr in batches]
        self.done = 0

    def step(self) -> None:
        lr, hr = self.batches[self.done % len(self.batches)]
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            sr = self.model(lr)
        loss, _ = self.loss(sr, hr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.done += 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # CUDA runs ahead of Python; a rate must count finished work
        torch.cuda.synchronize(device)


# Steps a round runs at least, whatever its seconds: 2-second rounds held 3 EDSR steps, and
# the engine's prefetcher starting cold each round then measured 0.88x the plain loop, where
# 8-second rounds measured 0.98x.
MIN_STEPS = 10


def _timed(device: torch.device, seconds: float, step: Callable[[], None],
           min_steps: int = MIN_STEPS) -> tuple[int, float]:
    """(steps, elapsed): `step` repeated for about `seconds`, at least `min_steps` times."""
    n, t0 = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    _sync(device)
    return n, time.perf_counter() - t0


def engine_round(s: Session, seconds: float, min_steps: int = MIN_STEPS) -> tuple[float, float]:
    """(steps/s, wait fraction) of the engine's loop for about `seconds`: the prefetcher
    starts cold each round, as a run does once, so its start-up cost is counted."""
    with prefetcher(s) as batches:
        def step() -> None:
            batch = batches.next()
            s.data_state = batch.data_state
            train_step(s, batch.lr.to(s.device, non_blocking=True),
                       batch.hr.to(s.device, non_blocking=True))
            s.step += 1

        n, elapsed = _timed(s.device, seconds, step, min_steps)
        return n / elapsed, batches.waited / elapsed


def data_round(s: Session, seconds: float) -> float:
    """Batches/s the engine's data pipeline delivers with no model to feed: its prefetcher,
    started cold, as the step gets its batches."""
    with prefetcher(s) as batches:
        return _rate(_timed(torch.device("cpu"), seconds, batches.next))


def measure_recipe(model: str, *, rounds: int = 3, round_s: float = 2.0,
                   precision: str = "auto", overrides: Sequence[str] = (),
                   log: Log | None = None) -> ThroughputRow:
    """Build the engine's session and the plain loop for one recipe, warm both up, then
    `rounds` rounds of engine, plain and data (each about `round_s` seconds, order rotated)."""
    say = log or (lambda _: None)
    with tempfile.TemporaryDirectory(prefix="sr-train-bench-") as tmp:
        config = bench_config(recipe_path(model), Path(tmp) / "run", precision, overrides)
        say(f"{model}: loading data and models ({config.run_name}, {config.train.precision})")
        s = build_session(config)
        n = config.data.batch_size
        plain = PlainLoop(s, [s.sampler.batch(n) for _ in range(PLAIN_BATCHES)])
        for _ in range(WARMUP_STEPS):
            engine_round(s, 0.0, min_steps=1)
            plain.step()
        contenders: list[tuple[str, Callable[[], tuple[float, float]]]] = [
            ("engine", lambda: engine_round(s, round_s)),
            ("plain", lambda: (_rate(_timed(s.device, round_s, plain.step)), 0.0)),
            ("data", lambda: (data_round(s, round_s / 4), 0.0)),
        ]
        rates: dict[str, list[float]] = {name: [] for name, _ in contenders}
        waits: list[float] = []
        for r in range(rounds):
            for name, run in contenders[r % 3:] + contenders[:r % 3]:
                rate, wait = run()
                rates[name].append(rate)
                if name == "engine":
                    waits.append(wait)
            say(f"{model}: round {r + 1}/{rounds}: engine {rates['engine'][-1]:.2f}, plain "
                f"{rates['plain'][-1]:.2f} steps/s, data {rates['data'][-1]:.1f} batches/s")
        return ThroughputRow(
            model=model, arch=s.spec.id, scale=config.model.scale, batch_size=n,
            patch_size=config.data.patch_size, precision=config.train.precision,
            device=str(s.device), engine_steps_s=statistics.median(rates["engine"]),
            plain_steps_s=statistics.median(rates["plain"]),
            data_batches_s=statistics.median(rates["data"]), wait=statistics.median(waits),
            rounds=rounds)


def _rate(timed: tuple[int, float]) -> float:
    return timed[0] / timed[1]


def measure(models: Sequence[str] = DEFAULT_MODELS, **kwargs: Any) -> list[ThroughputRow]:
    """`measure_recipe` for each model (keyword arguments are passed on)."""
    return [measure_recipe(m, **kwargs) for m in models]


def render_markdown(rows: Sequence[ThroughputRow],
                    machine: Mapping[str, Any] | None = None) -> list[str]:
    """A markdown table of `rows`, one line per string, with what the columns mean;
    `machine`: a `report()` dict, whose cpu, threads, load and OMP policy head the table."""
    m = machine or {}
    where = f" on {m['cpu']}, {m['threads']} threads" if "cpu" in m else ""
    if m.get("load") is not None:
        where += f", load average {m['load']:.1f} at the end"
    if "cpu" in m:
        where += f", OMP_WAIT_POLICY={m.get('omp_wait_policy') or 'unset'}"
    lines = [
        f"Training throughput{where}: the engine's step vs a plain "
        "PyTorch loop (channels_last, bf16 autocast, batches in memory), same model, batch, "
        "loss and optimizer; medians of interleaved rounds.",
        "",
        "| model | batch x LR patch | engine precision | engine steps/s (samples/s) | "
        "plain steps/s (samples/s) | engine / plain | data batches/s | wait |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.arch} x{r.scale} | {r.batch_size} x {r.patch_size}px | {r.precision} | "
            f"{r.engine_steps_s:.2f} ({r.engine_samples_s:.1f}) | "
            f"{r.plain_steps_s:.2f} ({r.plain_samples_s:.1f}) | {r.speedup:.2f}x | "
            f"{r.data_batches_s:.1f} | {r.wait:.0%} |")
    lines += ["", "wait: the fraction of the engine's step time spent waiting for a batch "
              "(0% when the data pipeline keeps ahead of the model). On a machine busy with "
              "other work and OMP_WAIT_POLICY unset, libgomp's spin-waiting slows the plain "
              "loop far more than the engine's (whose prefetch thread stops libgomp spinning): "
              "run with OMP_WAIT_POLICY=PASSIVE to compare the steps alone."]
    return lines


def report(rows: Sequence[ThroughputRow], command: str = "") -> dict[str, Any]:
    """The JSON a run keeps: where it ran and every row with its derived rates."""
    return {"format": "sr_engine.train_bench/1", "command": command, "cpu": cpu_label(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "load": load_average(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "rows": [r.to_dict() for r in rows]}


def load_average() -> float | None:
    """The machine's 1-minute load average at the end of the run (None where unknown): on
    a machine busy with other work, every rate here is lower and noisier."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
