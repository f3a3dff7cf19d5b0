"""The standard single-image SR evaluation protocol ("BI"), as the published MATLAB code does it.

1. HR is modcropped to a multiple of the scale; LR = uint8(imresize(HR, 1/s, 'bicubic'))
   computed on [0, 255] RGB (a grayscale image is resized as one channel).
2. The model sees the LR as [0, 1] floats: Y models the luma of the uint8 LR RGB (MATLAB
   rgb2ycbcr / 255, not rounded; a gray image is its own luma), RGB models the RGB (a gray
   image replicated to three channels).
3. Its output is stored as MATLAB would store it: clamped and rounded to uint8 in its own
   space (Y, or RGB then Y = uint8(rgb2ycbcr(uint8 RGB)); the channel mean for gray images).
   HR Y is likewise uint8(rgb2ycbcr(HR)).
4. PSNR and SSIM on Y in [0, 255] with `scale` pixels shaved per border; mean over images.
   Optionally NIQE (no reference) on the stored output Y, `scale` pixels shaved likewise.
5. Optionally LPIPS (VGG) of the stored RGB output against the HR RGB, `scale` pixels shaved:
   a Y model's output gets the LR's bicubic-upscaled CbCr (as `upscale` colours it); a gray
   image compares its stored gray, replicated to RGB, with the gray HR.

This variant reproduces the published bicubic table of PROTOCOL.md within 0.02 dB/0.002.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from sr_engine.color import rgb_to_y
from sr_engine.data.io import IMAGE_SUFFIXES, Picture, load_image
from sr_engine.degrade.resize import imresize, modcrop, round_half_away
from sr_engine.errors import ConfigError, ImageError
from sr_engine.inference import UpscaleConfig, upscale_picture
from sr_engine.inference.fast import Runnable
from sr_engine.inference.picture import with_lr_chroma
from sr_engine.inference.precision import forward
from sr_engine.metrics import LPIPS, NiqeModel, load_lpips, load_niqe_model, niqe, psnr, ssim
from sr_engine.progress import ProgressCallback, Reporter

if TYPE_CHECKING:
    from sr_engine.zoo import LoadedModel

# Pixels by which an output and its reference may differ in size (cut to the common area).
_SIZE_SLACK = 16
# What `evaluate` can report (PSNR and SSIM always; NIQE, LPIPS when asked), and the CLI's
# default.
METRICS = ("psnr", "ssim", "niqe", "lpips")
DEFAULT_METRICS = ("psnr", "ssim")


@dataclass
class EvalImage:
    """One protocol pair: LR (1, C, h, w) float32 with values k/255 (C = 1 gray, 3 RGB) and
    HR luma (H, W) float64 uint8 levels in [0, 255]; `hr`, the (1, C, H, W) uint8 HR levels
    for the RGB metric (LPIPS), where kept (image sets; not video frames)."""

    name: str
    lr: Tensor
    hr_y: Tensor
    hr: Tensor | None = None

    @property
    def gray(self) -> bool:
        return self.lr.shape[1] == 1


@dataclass
class EvalSet:
    """A benchmark folder prepared once for one scale (images sorted by file name)."""

    name: str
    scale: int
    images: list[EvalImage] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class EvalReport:
    """Mean PSNR (dB) / SSIM on Y over a set, with per-image values; `to_dict()` is JSON-safe.
    `niqe`, `lpips`: mean NIQE / LPIPS of the outputs when asked (also per image then), else
    None."""

    model: str
    scale: int
    dataset: str
    psnr_y: float
    ssim_y: float
    n_images: int
    per_image: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    niqe: float | None = None
    lpips: float | None = None

    def to_dict(self) -> dict:
        """Plain data; a non-finite metric (identical images give inf dB) becomes None."""
        return json_safe(asdict(self))


def parse_metrics(text: str) -> tuple[str, ...]:
    """A comma list of METRICS ("psnr,ssim,niqe,lpips"), in order, without repeats; ConfigError
    naming an unknown one."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        what = f"unknown metric {unknown[0]!r}" if unknown else "no metric given"
        raise ConfigError(f"{what} (choose from {', '.join(METRICS)})")
    return tuple(dict.fromkeys(names))


def json_safe(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def levels8(picture: Picture) -> Tensor:
    """Picture pixels as (1, C, H, W) float64 8-bit levels (16-bit rounded to the nearest)."""
    pixels = picture.pixels.astype(np.float64)
    if picture.pixels.dtype == np.uint16:
        pixels = np.floor(pixels / 257.0 + 0.5)
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)


def y_levels(levels: Tensor) -> Tensor:
    """(1, C, H, W) 8-bit levels -> (H, W) uint8 luma levels: uint8(rgb2ycbcr) or the gray."""
    if levels.shape[1] == 1:
        return levels[0, 0]
    return round_half_away(rgb_to_y(levels / 255.0) * 255.0)[0, 0]


def protocol_lr(hr_levels: Tensor, scale: int) -> Tensor:
    """(1, C, H, W) HR levels (modcropped) -> (1, C, H/s, W/s) float32 LR, values k/255."""
    lr = round_half_away(imresize(hr_levels, 1.0 / scale)).clamp_(0.0, 255.0)
    return (lr / 255.0).to(torch.float32)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
        if folder.is_dir() else []


def hr_images(folder: Path, scale: int | None = None) -> list[Path]:
    """The HR images of a benchmark folder, in the layouts the sets are shipped in: a flat
    folder of HR images; `SET/HR/` (BasicSR, beside `LR_bicubic/`); or `*_HR.png` beside
    `*_LR.png` (the SelfExSR / Huang et al. `image_SRF_s` folders, one per scale, chosen by
    `scale` when given the set's root), where the LR files must not be scored as HR."""
    files = _images(folder)
    if not files:
        wanted = {"hr"} | ({f"image_srf_{scale}"} if scale else set())
        files = next((_images(sub) for sub in sorted(folder.glob("*"))
                      if sub.name.lower() in wanted), [])
    tagged = [p for p in files if p.stem.lower().endswith("_hr")]
    return tagged or files


def load_eval_set(data_dir: str | Path, *, scale: int) -> EvalSet:
    """Decode a folder of HR images and make the protocol's LR and HR Y of each, once."""
    folder = Path(data_dir)
    files = hr_images(folder, scale)
    if not files:
        raise ConfigError(f"no evaluation images in {folder} (a folder of HR images, or one "
                          f"with an HR/ or image_SRF_{scale}/ folder)")
    images = []
    for path in files:
        hr = modcrop(levels8(load_image(path)), scale)
        images.append(EvalImage(name=path.name, lr=protocol_lr(hr, scale), hr_y=y_levels(hr),
                                hr=hr.to(torch.uint8)))
    return EvalSet(name=folder.name, scale=scale, images=images)


def _model_input(lr: Tensor, color: str) -> Tensor:
    """The LR as the model wants it: luma for Y models, three channels for RGB models."""
    if color == "y":
        return lr if lr.shape[1] == 1 else rgb_to_y(lr)
    return lr.expand(-1, 3, -1, -1) if lr.shape[1] == 1 else lr


def _output_y(sr: Tensor, gray: bool) -> Tensor:
    """Model output (1, C, H, W) in [0, 1] -> (H, W) luma levels as MATLAB stores them."""
    levels = round_half_away(sr.to(torch.float64).clamp(0.0, 1.0) * 255.0)
    if levels.shape[1] == 1:
        return levels[0, 0]
    if gray:  # an RGB model on a gray image: its gray is the channel mean, stored as uint8
        return round_half_away(levels.mean(dim=1))[0]
    return y_levels(levels)


def super_resolve(model: LoadedModel, image: EvalImage, precision: str = "fp32",
                  runner: Runnable | None = None, *,
                  window: list[EvalImage] | None = None) -> Tensor:
    """Run the whole LR image through the model (or `runner`, another way of running its
    weights: sr_engine.inference.fast); its raw (1, C, H, W) output on the CPU. A video
    model takes `window`, the consecutive frames centred on `image`, side by side."""
    frames = window if window is not None else [image]
    x = torch.cat([_model_input(f.lr, model.spec.color) for f in frames], dim=1)
    with torch.inference_mode():
        sr = forward(runner or model.module, x, device=model.device, precision=precision)
    return sr.cpu()


def super_resolve_y(model: LoadedModel, image: EvalImage, precision: str = "fp32",
                    runner: Runnable | None = None, *,
                    window: list[EvalImage] | None = None) -> Tensor:
    """`super_resolve`'s output as (H, W) float64 luma levels, as MATLAB stores it."""
    return _output_y(super_resolve(model, image, precision, runner, window=window), image.gray)


def output_rgb(sr: Tensor, image: EvalImage, scale: int) -> Tensor:
    """A model's raw output for `image` as the (1, 3, H, W) float64 8-bit RGB levels it is
    stored with: a Y model's coloured with the LR's bicubic CbCr (`upscale`'s way), a gray
    image's stored gray replicated to three channels."""
    if image.gray:
        return _output_y(sr, gray=True).expand(1, 3, -1, -1)
    if sr.shape[1] == 1:
        sr = with_lr_chroma(sr.float(), image.lr, scale)
    return round_half_away(sr.to(torch.float64).clamp(0.0, 1.0) * 255.0)


def evaluate(model: LoadedModel, data: EvalSet | str | Path, *, scale: int | None = None,
             progress: ProgressCallback | None = None, precision: str = "fp32",
             runner: Runnable | None = None, with_niqe: bool = False,
             with_lpips: bool = False) -> EvalReport:
    """PSNR/SSIM on Y of `model` (run eagerly, or by `runner`) over a benchmark folder (or a
    prepared EvalSet); with `with_niqe` also NIQE of each output's Y (`scale` pixels shaved;
    ConfigError at once when the pristine model is missing); with `with_lpips` also LPIPS of
    each stored RGB output against the HR RGB (`output_rgb`, `scale` pixels shaved; the
    weights from $SR_LPIPS_VGG16 and $SR_LPIPS_LINEAR, ConfigError at once when unset).

    Emits one "validating" event per image (current i of n, that image's
    psnr/ssim[/niqe][/lpips]).
    """
    scale = model.scale if scale is None else scale
    if scale != model.scale:
        raise ConfigError(f"the model is x{model.scale}, evaluation asks x{scale}")
    if model.frames > 1:
        raise ConfigError(f"{model.name} is a video model: evaluate it on clips "
                          "(sr-engine evaluate --video DIR)")
    niqe_model = load_niqe_model() if with_niqe else None
    lpips_net = load_lpips().to(model.device) if with_lpips else None
    data = data if isinstance(data, EvalSet) else load_eval_set(data, scale=scale)
    if data.scale != scale:
        raise ConfigError(f"the evaluation set was prepared for x{data.scale}, not x{scale}")
    t0 = time.monotonic()
    reporter = Reporter(progress, "validating", total=len(data))
    rows = []
    for image in data.images:
        sr = super_resolve(model, image, precision, runner)
        sr_y = _output_y(sr, image.gray)
        if sr_y.shape != image.hr_y.shape:
            raise ImageError(f"{image.name}: model output {tuple(sr_y.shape)} does not match "
                             f"HR {tuple(image.hr_y.shape)}")
        p = float(psnr(sr_y, image.hr_y, crop=scale, data_range=255.0))
        s = float(ssim(sr_y, image.hr_y, crop=scale, data_range=255.0))
        h, w = image.hr_y.shape
        rows.append({"name": image.name, "psnr_y": p, "ssim_y": s, "width": w, "height": h})
        metrics = {"psnr": p, "ssim": s}
        if niqe_model is not None:
            rows[-1]["niqe"] = metrics["niqe"] = _output_niqe(image.name, sr_y, scale, niqe_model)
        if lpips_net is not None:
            rows[-1]["lpips"] = metrics["lpips"] = _output_lpips(image, sr, scale, lpips_net)
        reporter.advance(message=image.name, metrics=metrics)
    return EvalReport(model=model.name, scale=scale, dataset=data.name,
                      psnr_y=float(np.mean([r["psnr_y"] for r in rows])),
                      ssim_y=float(np.mean([r["ssim_y"] for r in rows])),
                      n_images=len(rows), per_image=rows, seconds=time.monotonic() - t0,
                      niqe=_mean(rows, "niqe"), lpips=_mean(rows, "lpips"))


def _mean(rows: list[dict], key: str) -> float | None:
    """Mean of an optional per-image metric, None where it was not asked for."""
    return float(np.mean([r[key] for r in rows])) if rows and key in rows[0] else None


def _output_niqe(name: str, sr_y: Tensor, scale: int, model: NiqeModel) -> float:
    """NIQE of an output's stored Y levels, `scale` pixels shaved; errors name the image."""
    try:
        return niqe(sr_y, crop_border=scale, model=model)
    except (ConfigError, ImageError) as exc:
        raise ImageError(f"{name}: {exc}") from None


def _output_lpips(image: EvalImage, sr: Tensor, scale: int, net: LPIPS) -> float:
    """LPIPS of an output's stored RGB against the HR RGB, `scale` pixels shaved."""
    if image.hr is None:
        raise ConfigError(f"{image.name}: no RGB reference kept, LPIPS cannot be computed")
    shave = (..., slice(scale, -scale or None), slice(scale, -scale or None))
    out = (output_rgb(sr, image, scale) / 255.0)[shave]
    ref = (image.hr.to(torch.float64).expand(1, 3, -1, -1) / 255.0)[shave]
    try:
        with torch.inference_mode():
            return float(net(out.float(), ref.float()).item())
    except ImageError as exc:
        raise ImageError(f"{image.name}: {exc}") from None


def compare(sr: Picture, ref: Picture, *, crop: int) -> dict[str, float]:
    """PSNR/SSIM on Y and PSNR on RGB (8-bit levels, `crop` shaved) of `sr` against `ref`.

    Alpha is ignored; 16-bit pictures are rounded to 8 bits; a gray picture is its own Y
    and is replicated for the RGB PSNR. Sizes may differ by a few pixels (an output of a
    reference that was not a multiple of the scale): both are cut to the common top-left area.
    """
    a, b = levels8(sr), levels8(ref)
    h, w = min(a.shape[2], b.shape[2]), min(a.shape[3], b.shape[3])
    if max(a.shape[2] - h, b.shape[2] - h, a.shape[3] - w, b.shape[3] - w) > _SIZE_SLACK:
        raise ImageError(f"cannot compare a {sr.width}x{sr.height} image with a "
                         f"{ref.width}x{ref.height} reference")
    a, b = a[..., :h, :w], b[..., :h, :w]
    rgb_a, rgb_b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    ya, yb = y_levels(a), y_levels(b)
    return {"psnr_y": float(psnr(ya, yb, crop=crop, data_range=255.0)),
            "ssim_y": float(ssim(ya, yb, crop=crop, data_range=255.0)),
            "psnr_rgb": float(psnr(rgb_a, rgb_b, crop=crop, data_range=255.0))}


def centre_crop(picture: Picture, edge: int) -> Picture:
    """The central `edge` x `edge` pixels of `picture` (all of a side shorter than that)."""
    height, width = picture.pixels.shape[:2]
    h, w = min(height, edge), min(width, edge)
    y, x = (height - h) // 2, (width - w) // 2
    alpha = None if picture.alpha is None else picture.alpha[y:y + h, x:x + w]
    return dataclasses.replace(picture, pixels=picture.pixels[y:y + h, x:x + w], alpha=alpha)


def self_check(model: LoadedModel, picture: Picture, *, scale: int, precision: str = "auto",
               crop: int | None = None) -> dict[str, float]:
    """Downscale `picture` with the protocol, upscale it with `model` (tiled inference) and
    `compare` the result with the (modcropped) picture. For pages without a reference.

    `crop` limits the check to the picture's central crop x crop pixels: a bounded cost,
    whatever the upload's size."""
    if scale != model.scale:
        raise ConfigError(f"the model is x{model.scale}, the self-check asks x{scale}")
    hr = modcrop(levels8(centre_crop(picture, crop) if crop else picture), scale)
    # SSIM needs 11x11 pixels left after the border crop; the model its minimum LR size.
    if min(hr.shape[2:]) < max(2 * scale + 11, scale * model.spec.min_size):
        raise ImageError(f"a {picture.width}x{picture.height} image is too small for a "
                         f"x{scale} self-check")
    lr_pixels = torch.floor(protocol_lr(hr, scale).double() * 255.0 + 0.5)
    lr = Picture(pixels=lr_pixels[0].permute(1, 2, 0).numpy().astype(np.uint8))
    config = UpscaleConfig(model=model.name, scale=scale, precision=precision)
    sr = upscale_picture(model, lr, config)
    ref = Picture(pixels=hr[0].permute(1, 2, 0).numpy().astype(np.uint8))
    return compare(sr, ref, crop=scale)
