"""Resampling (the project's only one) and training degradations."""

from sr_engine.degrade.resize import imresize, modcrop, quantize, round_half_away, to_uint8

__all__ = ["imresize", "modcrop", "quantize", "round_half_away", "to_uint8"]
