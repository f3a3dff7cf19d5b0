"""Full-reference image metrics (PSNR, SSIM), per image, float64 inside."""

from sr_engine.metrics.psnr import psnr
from sr_engine.metrics.ssim import gaussian_window, ssim

__all__ = ["gaussian_window", "psnr", "ssim"]
