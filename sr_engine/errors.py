"""Engine errors: each carries a one-line message fit for a CLI or a web page."""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(EngineError, ValueError):
    """A configuration value or key is wrong (unknown key, bad type, out of range)."""


class UnknownModelError(EngineError, KeyError):
    """No registered architecture or checkpoint goes by that name."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown model"


class MissingWeightsError(EngineError):
    """A registered architecture has no trained weights for the asked scale."""


class CheckpointError(EngineError):
    """A checkpoint file is missing, unreadable or describes itself inconsistently."""


class ImageError(EngineError):
    """An input image cannot be decoded or is outside the supported limits."""


class VideoError(EngineError):
    """A clip cannot be decoded, has no video stream, or is outside the supported limits."""


class Cancelled(EngineError):
    """Raised through a progress callback to stop long work; the engine cleans up and re-raises."""


class TrainingStopped(Cancelled):
    """A training run stopped through its callback after saving a state to resume from."""

    def __init__(self, out_dir: Path, step: int, seconds: float) -> None:
        super().__init__(f"stopped at step {step}; resume from {out_dir}")
        self.out_dir, self.step, self.seconds = out_dir, step, seconds
