"""The training loop. Read `train()` top to bottom: that is the whole algorithm.

Helpers: `session.py` (building and restoring a run), `optim.py` (optimizer, schedule),
`ema.py`, `state.py` (resumable state), `validate.py`, `outputs.py` (files in out_dir).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from sr_engine.archs.vespcn import motion_losses
from sr_engine.data.prefetch import Prefetcher
from sr_engine.errors import Cancelled, TrainingStopped
from sr_engine.losses import discriminator_loss, generator_adversarial_loss, mean_parts
from sr_engine.progress import ProgressCallback, Reporter, emit
from sr_engine.train.config import TrainConfig
from sr_engine.train.optim import lr_at, set_lr
from sr_engine.train.outputs import RunLog, save_best, save_step, save_training_state
from sr_engine.train.precision import auto_precision
from sr_engine.train.session import Session, build_session
from sr_engine.zoo import resolve_device


@dataclass
class TrainResult:
    """What a finished run left in `out_dir`; metrics are the best validation ones."""

    out_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    steps: int
    seconds: float
    best_metrics: dict[str, float] = field(default_factory=dict)


ValidateHook = Callable[[nn.Module, int], None]

# Batches built ahead of the step: one hides the build time behind the step; a second
# absorbs the jitter of rescaled crops (their cost varies from batch to batch).
PREFETCH_DEPTH = 2
PROBE_BATCHES = 8

# Seconds without a progress event after which a step sends one anyway (slow models log
# every few minutes on a CPU).
HEARTBEAT_S = 2.0


def train(config: TrainConfig, *, progress: ProgressCallback | None = None,
          resume: Path | None = None, on_validate: ValidateHook | None = None) -> TrainResult:
    """Train `config` (optionally continuing the state file or run folder `resume`).

    Events: "loading", "training" every `log_every` steps (loss, lr, it/s, and wait: the
    fraction of the time spent waiting for data) and, without
    metrics, after any step that ends `HEARTBEAT_S` after the last event, "validating"
    (psnr, ssim), "saving", "done". When the callback raises `Cancelled`, a resumable
    state is saved at the last finished step and `TrainingStopped` (a `Cancelled` that says
    where and when) propagates.
    `on_validate(module, step)` is called after each validation with the validated (EMA)
    weights, e.g. to render sample crops; it must not change the module.
    """
    t0 = time.monotonic()
    if config.train.precision == "auto":
        # Resolved before anything is built, so checkpoints record what actually ran.
        choice, why = auto_precision(resolve_device(config.train.device))
        config = config.with_overrides([f"train.precision={choice}"])
        emit(progress, "loading", why)
    emit(progress, "loading", f"loading data and model for {config.run_name}")
    s = build_session(config, resume)
    steps, run = config.train.steps, config.train
    emit(progress, "loading", f"{len(s.sampler)} training images "
         f"({s.sampler.skipped} smaller than a patch skipped), starting at step {s.step}")
    log, meter = RunLog(s.out_dir), _Meter(s.step)
    reporter = Reporter(progress, "training", total=steps, start=s.step)
    try:
        with prefetcher(s) as batches:  # the next batches are built while this one trains
            while s.step < steps:
                batch = batches.next()
                s.data_state = batch.data_state  # where a resume restarts the data stream
                meter.add(train_step(s, batch.lr.to(s.device, non_blocking=True),
                                     batch.hr.to(s.device, non_blocking=True)))
                s.step += 1
                if _due(s.step, run.log_every, steps):
                    metrics = {**meter.flush(s.step, batches.waited),
                               "lr": lr_at(s.step - 1, config.optim, steps)}
                    log.write("train", s.step, metrics)
                    reporter.advance(s.step - reporter.current, f"step {s.step}/{steps}",
                                     metrics)
                elif time.monotonic() - reporter.sent >= HEARTBEAT_S:
                    # No metrics: the step count moves and a stop request (Ctrl-C, the web's
                    # cancel) is seen within a step, not only at the next log line.
                    reporter.advance(s.step - reporter.current, f"step {s.step}/{steps}")
                if s.validator and _due(s.step, run.val_every, steps):
                    validate(s, log, progress)
                    if on_validate is not None:
                        on_validate(s.eval_module, s.step)
                if _due(s.step, run.ckpt_every, steps):
                    emit(progress, "saving", f"checkpoint at step {s.step}",
                         current=s.step, total=steps)
                    save_step(s)
                    save_training_state(s)
    except Cancelled as exc:
        save_training_state(s)  # no event: the callback has asked us to stop
        raise TrainingStopped(s.out_dir, s.step, time.monotonic() - t0) from exc
    emit(progress, "done", f"trained {steps} steps", current=steps, total=steps,
         metrics=s.best_metrics)
    best = s.out_dir / "best.safetensors"
    return TrainResult(out_dir=s.out_dir, best_checkpoint=best if best.exists() else None,
                       last_checkpoint=s.out_dir / s.kept[-1] if s.kept else None,
                       steps=s.step, seconds=time.monotonic() - t0,
                       best_metrics=dict(s.best_metrics))


def _due(step: int, every: int, steps: int) -> bool:
    """Periodic work happens every `every` steps and always after the last one."""
    return step % every == 0 or step == steps


def prefetcher(s: Session) -> Prefetcher:
    """The session's batches, built `PREFETCH_DEPTH` ahead in a thread, in the layout and
    memory the step wants (channels_last on CPU, pinned for an async copy to a GPU). On CPU
    the thread starts only if the first PROBE_BATCHES show batches are not cheap beside the
    step (a producer thread slows the step's own threads on a small machine); a CUDA step
    returns before it has run, so there the thread always starts."""
    cpu = s.device.type == "cpu"
    return Prefetcher(s.sampler, s.config.data.batch_size, depth=PREFETCH_DEPTH,
                      channels_last=cpu, pin=s.device.type == "cuda",
                      probe=PROBE_BATCHES if cpu else 0)


class _Meter:
    """Loss parts of the steps since the last log line, their rate, and the fraction of the
    time spent waiting for a batch ("wait": 0 when the data pipeline keeps up)."""

    def __init__(self, step: int) -> None:
        self.history: list[dict[str, Tensor]] = []
        self.tick, self.tick_step, self.tick_waited = time.monotonic(), step, 0.0

    def add(self, parts: dict[str, Tensor]) -> None:
        self.history.append(parts)  # tensors: no device sync until the log line

    def flush(self, step: int, waited: float) -> dict[str, float]:
        """`waited`: the prefetcher's running total of seconds spent waiting for data."""
        elapsed = max(time.monotonic() - self.tick, 1e-9)
        metrics = {**mean_parts(self.history), "it/s": (step - self.tick_step) / elapsed,
                   "wait": min((waited - self.tick_waited) / elapsed, 1.0)}
        self.history, self.tick, self.tick_step = [], time.monotonic(), step
        self.tick_waited = waited
        return metrics


def train_step(s: Session, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
    """One optimisation step of the generator (and of the discriminator in a GAN)."""
    cfg = s.config
    if s.device.type == "cpu":
        lr = lr.contiguous(memory_format=torch.channels_last)
    set_lr(s.optimizer, lr_at(s.step, cfg.optim, cfg.train.steps))
    sr, loss, parts = generator_loss(s, lr, hr)
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.optim.grad_clip:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.optim.grad_clip)
    s.optimizer.step()
    if s.disc is not None:
        parts["discriminator"] = discriminator_step(s, sr.detach(), hr)
    if s.ema is not None:
        s.ema.update(s.model)
    return {"loss": loss.detach(), **parts}


def generator_loss(s: Session, lr: Tensor, hr: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """(sr, total loss, logged parts): content terms, DRCN's recursive supervision, and
    the adversarial term when a discriminator is trained."""
    cfg = s.config
    warped: list[Tensor] = []
    with _autocast(s):
        if cfg.loss.intermediate:
            sr, inter = s.model.forward_all(lr)
        elif cfg.loss.warp or cfg.loss.flow_smooth:
            sr, warped, flows = s.model.motion(lr)
        else:
            sr = s.model(lr)
    loss, parts = s.criterion(sr, hr)
    if warped:  # VESPCN: motion compensation trained jointly (the paper's Eq. 3)
        centre = lr[:, lr.shape[1] // 2:lr.shape[1] // 2 + 1]
        warp_mse, smooth = motion_losses(centre.float(), [w.float() for w in warped],
                                         [f.float() for f in flows])
        loss = loss + cfg.loss.warp * warp_mse + cfg.loss.flow_smooth * smooth
        parts["warp"], parts["flow_smooth"] = warp_mse.detach(), smooth.detach()
    if cfg.loss.intermediate:  # DRCN: every recursion's output supervised, weight -> 0
        alpha = cfg.loss.intermediate * (1 - s.step / cfg.train.steps)
        inter_loss = torch.stack([s.criterion(x, hr)[0] for x in inter]).mean()
        loss = (1 - alpha) * loss + alpha * inter_loss
    if s.disc is not None:
        s.disc.requires_grad_(False)  # its gradients come from its own step only
        with _autocast(s):
            adv = generator_adversarial_loss(s.disc(sr).float())
        loss = loss + cfg.loss.adversarial * adv
        parts["adversarial"] = adv.detach()
    return sr, loss, parts


def discriminator_step(s: Session, fake: Tensor, real: Tensor) -> Tensor:
    """SRGAN's discriminator update on real HR patches vs. the generator's outputs."""
    assert s.disc is not None and s.disc_optimizer is not None
    s.disc.requires_grad_(True)
    set_lr(s.disc_optimizer, lr_at(s.step, s.config.optim, s.config.train.steps))
    with _autocast(s):
        d_loss = discriminator_loss(s.disc(real).float(), s.disc(fake).float())
    s.disc_optimizer.zero_grad(set_to_none=True)
    d_loss.backward()
    if s.config.optim.grad_clip:
        torch.nn.utils.clip_grad_norm_(s.disc.parameters(), s.config.optim.grad_clip)
    s.disc_optimizer.step()
    return d_loss.detach()


def validate(s: Session, log: RunLog, progress: ProgressCallback | None) -> None:
    """Evaluate the (EMA) weights; keep `best.safetensors` when they improve (Session.improved:
    PSNR, or NIQE for perceptual models)."""
    assert s.validator is not None
    steps = s.config.train.steps
    emit(progress, "validating", f"validating on {s.validator.label}",
         current=s.step, total=steps)
    s.last_metrics = s.validator(s.eval_module)
    log.write("val", s.step, s.last_metrics)
    emit(progress, "validating", f"step {s.step}: {s.last_metrics['psnr']:.2f} dB",
         current=s.step, total=steps, metrics=s.last_metrics)
    if s.improved():
        s.best_metrics, s.best_step = dict(s.last_metrics), s.step
        emit(progress, "saving", f"best checkpoint (step {s.step})", current=s.step, total=steps)
        save_best(s)


def _autocast(s: Session) -> torch.autocast:
    return torch.autocast(s.device.type, dtype=torch.bfloat16,
                          enabled=s.config.train.precision == "bf16")
