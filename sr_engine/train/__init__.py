"""Training: TOML recipes (`TrainConfig`) and the one readable loop (`train`)."""

from sr_engine.train.config import TrainConfig
from sr_engine.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
