"""Training pairs from HR image folders: decoded once, cropped, augmented, degraded on the fly.

Every HR image is kept in memory as uint8 (T91 + BSD200 + General100 is ~100 MB), so a
batch is built in the main process by slicing tensors: on a 2-core machine that beats
DataLoader worker processes, and one `torch.Generator` drives every random choice (image,
crop, augmentation, degradation), so saving its state makes a resumed run exact.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from sr_engine.color import rgb_to_y
from sr_engine.data.io import IMAGE_SUFFIXES
from sr_engine.degrade import Degradation, degrade
from sr_engine.degrade.resize import imresize, to_uint8
from sr_engine.errors import ConfigError, ImageError

# LR pixels cropped beyond the patch on each side and cut off after degrading: the bicubic
# kernel reaches 2 LR pixels, so patch borders see real neighbours, as in the protocol's
# whole-image LR, instead of resize padding. A training blur widens it (`margin`).
MARGIN = 2


def _entries(folders: Sequence[Path]) -> Iterator[tuple[str, Path]]:
    """(label, path) of every image, sorted; the label is `<folder name>/<relative path>`."""
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"training folder not found: {folder}")
        files = sorted(p for p in folder.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ConfigError(f"no images in training folder {folder}")
        for path in files:
            yield f"{folder.name}/{path.relative_to(folder).as_posix()}", path


def fingerprint_update(digest: hashlib._Hash, label: str, data: bytes) -> None:
    """Add one file (its label and content hash) to a data fingerprint."""
    digest.update(label.encode() + b"\0" + hashlib.sha256(data).digest())


def data_fingerprint(folders: Sequence[Path]) -> str:
    """sha256 over every image's `<folder name>/<relative path>` and content hash.

    Stable when the data moves elsewhere; changes when a file is added, renamed or edited.
    """
    digest = hashlib.sha256()
    for label, path in _entries(folders):
        fingerprint_update(digest, label, path.read_bytes())
    return digest.hexdigest()


def decode_rgb(label: str, data: bytes) -> Tensor:
    """An image file's bytes as (3, H, W) uint8 RGB; ImageError naming `label`."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))  # gray and palette images become RGB
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(f"cannot decode training image {label}: {exc}") from None
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


class PatchSampler:
    """Random aligned (LR, HR) patch pairs from HR folders held in memory as uint8.

    `batch(n)` returns `lr` (n, C, p, p) and `hr` (n, C, p*s, p*s), float32 in [0, 1],
    with p = `patch_size` and C = 1 (MATLAB Y / 255) for color "y", else 3 (RGB). LR is
    made from the RGB HR patch by `degrade()` (quantised to 8 bits like the protocol's LR).
    Images smaller than one HR patch (plus margin) are skipped and counted in `skipped`.
    """

    def __init__(self, folders: Sequence[Path], *, scale: int, patch_size: int,
                 color: Literal["y", "rgb"], degradation: Degradation | None = None,
                 flips: bool = True, rot90: bool = True,
                 rescale: tuple[float, float] = (1.0, 1.0), cache_mb: int = 2048,
                 seed: int = 0) -> None:
        self.scale, self.patch_size, self.color = scale, patch_size, color
        self.degradation = degradation or Degradation()
        self.flips, self.rot90, self.rescale = flips, rot90, rescale
        self.generator = torch.Generator().manual_seed(seed)
        self.images: list[Tensor] = []
        self.skipped = 0
        self.fingerprint = self._load(folders, cache_mb * 2**20)
        if not self.images:
            raise ConfigError(f"no training image is at least {self.crop}x{self.crop} pixels")
        areas = torch.tensor([img.shape[1] * img.shape[2] for img in self.images],
                             dtype=torch.float64)
        self.weights = areas / areas.sum()  # big images give more patches

    @property
    def margin(self) -> int:
        """LR pixels beyond the patch that the degradation reads (3 sigma of a blur)."""
        blur = self.degradation.blur_sigma[1] if self.degradation.blur_prob else 0.0
        return MARGIN + math.ceil(3 * blur / self.scale)

    @property
    def crop(self) -> int:
        """Side of the HR crop taken from an image, margins included."""
        return (self.patch_size + 2 * self.margin) * self.scale

    def _load(self, folders: Sequence[Path], max_bytes: int) -> str:
        """Decode every image once, hashing the same bytes for the data fingerprint."""
        digest, used = hashlib.sha256(), 0
        for label, path in _entries(folders):
            data = path.read_bytes()
            fingerprint_update(digest, label, data)
            used = self._admit(self.images, decode_rgb(label, data), used, max_bytes,
                               "images", "folders")
        return digest.hexdigest()

    def _admit(self, cache: list[Tensor], item: Tensor, used: int, max_bytes: int,
               what: str, fewer: str) -> int:
        """Keep `item` (uint8, ... x H x W) in `cache` unless it is smaller than a crop
        (counted in `skipped`); the bytes cached so far, an error past `max_bytes`."""
        if min(item.shape[-2:]) < self.crop:
            self.skipped += 1
            return used
        used += item.numel()
        if used > max_bytes:
            raise ConfigError(f"training {what} exceed data.cache_mb = {max_bytes >> 20} "
                              f"MB of memory; raise it or train on fewer {fewer}")
        cache.append(item)
        return used

    def __len__(self) -> int:
        return len(self.images)

    def _crops(self, n: int) -> Tensor:
        """n uint8 HR crops (n, 3, crop, crop), images drawn in proportion to their area.

        With `rescale` on, each crop is cut 1/f times larger and shrunk back to `crop` (MATLAB
        bicubic, 8 bits), f uniform in `rescale` and capped by the image's size.
        """
        c, g = self.crop, self.generator
        picks = torch.multinomial(self.weights, n, replacement=True, generator=g).tolist()
        where = torch.rand(n, 2, generator=g, dtype=torch.float64).tolist()
        lo, hi = self.rescale
        # drawn only when on, so runs without it keep the random stream they always had
        factors = (lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)).tolist() \
            if lo < 1.0 else [1.0] * n
        out = []
        for i, (u, v), f in zip(picks, where, factors, strict=True):
            img = self.images[i]
            side = min(round(c / f), *img.shape[1:])
            top, left = int(u * (img.shape[1] - side + 1)), int(v * (img.shape[2] - side + 1))
            crop = img[:, top:top + side, left:left + side]
            if side != c:
                crop = to_uint8(imresize(crop.float().div_(255.0), size=(c, c)))
            out.append(crop)
        return torch.stack(out)

    def _augment(self, x: Tensor) -> Tensor:
        """Per-sample flips and transposition: together the 8 symmetries of the square."""
        coins = torch.rand(x.shape[0], 3, generator=self.generator) < 0.5
        if self.flips:
            x[coins[:, 0]] = x[coins[:, 0]].flip(-1)
            x[coins[:, 1]] = x[coins[:, 1]].flip(-2)
        if self.rot90:
            x[coins[:, 2]] = x[coins[:, 2]].transpose(-1, -2)
        return x

    def batch(self, n: int) -> tuple[Tensor, Tensor]:
        """A training batch (lr, hr) on the CPU; see the class docstring for shapes."""
        hr = self._augment(self._crops(n)).float().div_(255.0)
        lr = degrade(hr, self.scale, self.degradation, self.generator)
        m, p = self.margin, self.patch_size
        lr = lr[..., m:m + p, m:m + p]
        hr = hr[..., m * self.scale:(m + p) * self.scale, m * self.scale:(m + p) * self.scale]
        if self.color == "y":
            lr, hr = rgb_to_y(lr), rgb_to_y(hr)
        return lr.contiguous(), hr.contiguous()
