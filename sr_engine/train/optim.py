"""Optimizers and the learning-rate schedule.

The schedule is a pure function of the step (`lr_at`), so resuming needs no scheduler
state beyond the step number and a resumed run gets exactly the same rates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from sr_engine.train.config import OptimSection


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimSection) -> torch.optim.Optimizer:
    """Adam or AdamW over `params` (weight decay is decoupled for AdamW, L2 for Adam)."""
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(list(params), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def lr_at(step: int, cfg: OptimSection, total_steps: int) -> float:
    """Learning rate for optimisation step `step` (0-based): linear warmup, then decay."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(step >= m for m in cfg.milestones)
    span = max(total_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
