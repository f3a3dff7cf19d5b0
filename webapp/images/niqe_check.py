"""NIQE (no-reference naturalness, lower is better) of a finished image job's outputs, run in
the worker beside PSNR/SSIM: for an upload without a reference it is the only figure about the
output itself (the self-check measures a downscaled copy).

It never fails a job: without the engine's pristine-model file (`$SR_NIQE_PARAMS`, else
`metrics/niqe_pris_params.npz` in the shared data folder), on an output too small for a
meaningful value, or on one NIQE cannot score (a flat image), the value is absent and the
reason is logged (a missing file once per worker process) and shown on the page.

The cost is bounded: the output's Y, `scale` pixels shaved per border as
`sr-engine evaluate --metrics niqe` does, cut to its central `SR_NIQE_CROP` (1024) square.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from sr_engine.data.io import Picture, load_image
from sr_engine.errors import ConfigError, EngineError, ImageError
from sr_engine.evaluate import levels8, y_levels
from sr_engine.metrics import NiqeModel, load_niqe_model, niqe
from sr_engine.metrics.niqe import BLOCK, measurable

log = logging.getLogger(__name__)

# Outputs too small for a meaningful NIQE (sr_engine.metrics.niqe.measurable) get none.
MIN_SIDE = 2 * BLOCK
UNAVAILABLE_PARAMS = "NIQE is not installed on this server (its model file is missing)"
_logged: set[str] = set()


@dataclass
class NiqeCheck:
    """NIQE per output (None where absent), the region measured ("" = the whole output less
    its border) and why values are absent ("" when none is)."""

    values: list[float | None] = field(default_factory=list)
    region: str = ""
    note: str = ""


def niqe_region(width: int, height: int, *, scale: int) -> str:
    """What of a width x height output NIQE measures: "" (all of it but the `scale` border)
    or "centre N px crop"."""
    crop = _crop_edge()
    if crop and max(width, height) - 2 * scale > crop:
        return f"centre {crop} px crop"
    return ""


def outputs_niqe(paths: list[Path], *, scale: int) -> NiqeCheck:
    """NIQE of each image file's Y (8-bit levels, as the engine's evaluation measures it),
    one file decoded at a time; the region is that of the first."""
    try:
        model = load_niqe_model()
    except ConfigError as exc:
        _log_once("params", "NIQE skipped: %s", exc)
        return NiqeCheck(values=[None] * len(paths), note=UNAVAILABLE_PARAMS)
    out = NiqeCheck()
    for i, path in enumerate(paths):
        try:
            value, region = _file_niqe(path, scale, model)
        except (EngineError, np.linalg.LinAlgError) as exc:
            value, region = None, ""
            out.note = out.note or f"NIQE not computed: {exc}"
        out.values.append(value)
        if i == 0:
            out.region = region
    if out.note:
        log.info("%s", out.note)
    return out


def _file_niqe(path: Path, scale: int, model: NiqeModel) -> tuple[float, str]:
    picture = load_image(path)
    return _niqe(picture, scale, model), niqe_region(picture.width, picture.height,
                                                     scale=scale)


def _niqe(picture: Picture, scale: int, model: NiqeModel) -> float:
    pixels = picture.pixels
    h, w = pixels.shape[:2]
    if not measurable(h, w, scale):
        raise ImageError(f"a {w}x{h} output is too small for a meaningful NIQE (it needs "
                         f"{MIN_SIDE}x{MIN_SIDE} pixels inside a {scale} px border)")
    pixels = pixels[scale:h - scale, scale:w - scale] if scale else pixels
    crop = _crop_edge()
    if crop:  # the central crop x crop: a bounded cost, whatever the output's size
        ch, cw = min(pixels.shape[0], crop), min(pixels.shape[1], crop)
        y, x = (pixels.shape[0] - ch) // 2, (pixels.shape[1] - cw) // 2
        pixels = pixels[y:y + ch, x:x + cw]
    luma = y_levels(levels8(Picture(pixels=np.ascontiguousarray(pixels))))
    return niqe(luma, model=model)


def _crop_edge() -> int:
    crop = int(settings.SR_NIQE_CROP)
    return max(crop, MIN_SIDE) if crop else 0


def _log_once(key: str, message: str, *args: object) -> None:
    if key not in _logged:
        _logged.add(key)
        log.warning(message, *args)

