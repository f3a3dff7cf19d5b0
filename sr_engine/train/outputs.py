"""Files a run writes in its out_dir: checkpoints, the training state and log.jsonl.

    best.safetensors            best validation PSNR so far (EMA weights when enabled)
    step_0001000.safetensors    the last `keep_last` step checkpoints
    train_state.safetensors     everything needed to resume exactly
    log.jsonl                   one JSON object per logged step or validation
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from sr_engine.checkpoint import CheckpointMeta, save_checkpoint
from sr_engine.train.session import Session
from sr_engine.train.state import STATE_FILE, save_state


class RunLog:
    """Appends `{"kind", "step", "time", **metrics}` lines to out_dir/log.jsonl."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / "log.jsonl"

    def write(self, kind: str, step: int, metrics: dict[str, float]) -> None:
        clean = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
        line = json.dumps({"kind": kind, "step": step, "time": time.time(), **clean})
        with self.path.open("a", encoding="utf-8") as fh:  # one short append per line
            fh.write(line + "\n")


def _meta(s: Session, metrics: dict[str, float], notes: str) -> CheckpointMeta:
    cfg = s.config
    return CheckpointMeta(
        arch=s.spec.id, scale=cfg.model.scale, hparams=dict(s.hparams), color=s.spec.color,
        name=cfg.run_name, recipe=cfg.to_dict(), data_fingerprint=s.sampler.fingerprint,
        feature_network=s.criterion.feature_network(), color_fix=cfg.model.color_fix,
        step=s.step, metrics=dict(metrics), notes=notes)


def save_best(s: Session) -> Path:
    path = s.out_dir / "best.safetensors"
    kind = "best validation PSNR"
    if s.spec.objective == "perceptual":
        kind = "best validation NIQE" if "niqe" in s.best_metrics else "latest validation"
    note = f"{kind} on {s.validator.label}" if s.validator else ""
    return save_checkpoint(path, s.eval_module, _meta(s, s.best_metrics, note))


def save_step(s: Session) -> Path:
    """Save the step checkpoint and delete those beyond the newest `keep_last`."""
    name = f"step_{s.step:07d}.safetensors"
    path = save_checkpoint(s.out_dir / name, s.eval_module,
                           _meta(s, s.last_metrics, f"step {s.step}"))
    if name not in s.kept:
        s.kept.append(name)
    while len(s.kept) > s.config.train.keep_last:
        (s.out_dir / s.kept.pop(0)).unlink(missing_ok=True)
    return path


def save_training_state(s: Session) -> Path:
    return save_state(s.out_dir / STATE_FILE, s.state_dict())


def read_log(out_dir: Path) -> list[dict[str, Any]]:
    """The log.jsonl lines of a run, parsed (for tests, the CLI and the web app)."""
    path = out_dir / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
