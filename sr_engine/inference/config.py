"""The upscaling job's parameters: one strict dataclass shared by the CLI and the web app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sr_engine.config import StrictConfig, check

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
ColorFix = Literal["auto", "hist", "meanstd", "none"]
COLOR_FIXES: tuple[str, ...] = ("auto", "hist", "meanstd", "none")

# Output formats accepted by `format`; aliases are normalised by the image writer.
OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg", "jpg", "webp", "tiff", "tif", "bmp")

# Smaller tiles spend most of their work on the halo; the OOM fallback stops here too.
MIN_TILE = 16


@dataclass
class UpscaleConfig(StrictConfig):
    """How to upscale one image or a batch of files.

    `tile` is the LR tile edge in pixels (0 = the whole image in one forward pass; "auto" =
    the whole image, or the largest tiles, whose activations fit SR_ENGINE_TILE_MEMORY_MB:
    sr_engine.inference.autotile);
    `overlap` is the LR margin each tile reads around its core (None = the arch's halo;
    a value below the halo is raised to it, so tiling never shows seams); `batch` is the
    number of same-shaped tiles per forward; `precision` "auto" picks the fastest precision
    that does not cost the model quality on this device (sr_engine.inference.auto);
    `format` is the output format (None = from the destination's extension); `color_fix`
    gives the whole output the input's colours: "hist" (histogram matching), "meanstd"
    (mean/std transfer), "none", or "auto" = what the model's checkpoint asks for, "none" for
    PSNR-trained models (sr_engine.inference.colorfix).
    """

    model: str = "bicubic"
    scale: int = 4
    tile: int | Literal["auto"] = "auto"
    overlap: int | None = None
    batch: int = 4
    device: Device = "auto"
    precision: Precision = "auto"
    format: str | None = None
    color_fix: ColorFix = "auto"

    def validate(self) -> None:
        check(bool(self.model.strip()), "model: must name a model or a checkpoint file")
        check(self.scale >= 1, f"scale: must be a positive integer, got {self.scale}")
        check(self.tile == "auto" or self.tile == 0 or self.tile >= MIN_TILE,
              f"tile: must be auto, 0 (whole image) or at least {MIN_TILE} pixels, "
              f"got {self.tile}")
        check(self.overlap is None or self.overlap >= 0,
              f"overlap: must be >= 0 or unset, got {self.overlap}")
        check(self.batch >= 1, f"batch: must be at least 1, got {self.batch}")
        check(self.format is None or self.format.lower() in OUTPUT_FORMATS,
              f"format: {self.format!r} is not one of {list(OUTPUT_FORMATS)}")
        check(self.color_fix in COLOR_FIXES,
              f"color_fix: {self.color_fix!r} is not one of {list(COLOR_FIXES)}")
