"""Image metrics, per image: full-reference PSNR and SSIM (float64 inside) and LPIPS (a VGG16
network, weights supplied by the deployment), no-reference NIQE."""

from sr_engine.metrics.lpips import LPIPS, load_lpips
from sr_engine.metrics.niqe import NiqeModel, load_niqe_model, niqe, niqe_rgb
from sr_engine.metrics.psnr import psnr
from sr_engine.metrics.ssim import gaussian_window, ssim

__all__ = ["LPIPS", "NiqeModel", "gaussian_window", "load_lpips", "load_niqe_model", "niqe",
           "niqe_rgb", "psnr", "ssim"]
