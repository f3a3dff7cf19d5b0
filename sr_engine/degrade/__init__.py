"""Resampling (the project's only one) and training degradations."""

from sr_engine.degrade.blur import gaussian_blur, gaussian_kernel1d
from sr_engine.degrade.jpeg import jpeg_roundtrip
from sr_engine.degrade.noise import add_gaussian_noise
from sr_engine.degrade.pipeline import Degradation, degrade
from sr_engine.degrade.resize import imresize, modcrop, quantize, round_half_away, to_uint8

__all__ = ["Degradation", "add_gaussian_noise", "degrade", "gaussian_blur", "gaussian_kernel1d",
           "imresize", "jpeg_roundtrip", "modcrop", "quantize", "round_half_away", "to_uint8"]
