"""JPEG compression artefacts (Pillow's libjpeg) for training degradations."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from sr_engine.degrade.resize import to_uint8


def jpeg_roundtrip(x: Tensor, quality: int) -> Tensor:
    """Encode one image (C, H, W) float in [0, 1] (C = 1 or 3) as JPEG at `quality`, decode.

    Returns (C, H, W) in x's dtype and device with values k/255. Runs on the CPU (Pillow).
    """
    levels = to_uint8(x.detach()).permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray(levels[..., 0] if levels.shape[2] == 1 else levels)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as decoded:
        out = np.array(decoded.convert(image.mode))  # a writable copy for torch
    out = out[..., None] if out.ndim == 2 else out
    t = torch.from_numpy(out).permute(2, 0, 1)
    return (t.to(torch.float32) / 255.0).to(device=x.device, dtype=x.dtype)
