"""Image metrics, per image, float64 inside: full-reference PSNR and SSIM, no-reference NIQE."""

from sr_engine.metrics.niqe import NiqeModel, load_niqe_model, niqe, niqe_rgb
from sr_engine.metrics.psnr import psnr
from sr_engine.metrics.ssim import gaussian_window, ssim

__all__ = ["NiqeModel", "gaussian_window", "load_niqe_model", "niqe", "niqe_rgb", "psnr", "ssim"]
