"""Upload checks: a real decode (never the file name), byte and pixel limits, and notes on
what the image is (animated, CMYK, 16-bit, alpha) so the page can say how it was handled."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from sr_engine.errors import ImageError

if TYPE_CHECKING:
    from sr_engine.data.io import Picture

ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
FORMAT_NAMES = "PNG, JPEG, WebP, BMP or TIFF"


class ImageRejected(Exception):
    """A file that cannot be used; the message is shown next to its name."""


@dataclass
class CheckedImage:
    picture: Picture
    width: int
    height: int
    format: str  # Pillow's name, e.g. "PNG"
    suffix: str  # the extension the stored file gets
    notes: list[str] = field(default_factory=list)


def _header(path: Path, max_pixels: int) -> tuple[str, int, int, str, int]:
    """Format, size, mode and frame count from the header alone (no pixel decode yet)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.format or "", im.width, im.height, im.mode, getattr(im, "n_frames", 1)
    except Image.DecompressionBombError:
        raise ImageRejected(f"too many pixels (the limit is {max_pixels:,})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageRejected(f"not a readable image; upload {FORMAT_NAMES}") from None


def without_path(message: str, path: Path, display_name: str) -> str:
    """An engine error about `path` told about the user's file: the engine names the file
    it decoded, here a server temp file (`.../tmpab12.part`) the user never saw. Callers
    show the reason beside the file's name, so a leading "<temp name>: " goes away."""
    message = message.removeprefix(f"{path.name}: ")
    for internal in (str(path.resolve()), str(path), path.name):
        message = message.replace(internal, display_name)
    return message


def image_check(path: Path, *, max_pixels: int, display_name: str = "the image") -> CheckedImage:
    """Check and decode the file at `path`; ImageRejected with a one-line reason otherwise.
    Reasons never show `path` (a temp file): `display_name` (the uploaded name) stands in."""
    from sr_engine.data.io import load_image

    fmt, width, height, mode, frames = _header(path, max_pixels)
    notes = []
    if fmt == "MPO":  # a JPEG with extra pictures (phones: depth maps, previews)
        fmt, frames = "JPEG", 1
        notes.append("multi-picture JPEG: the main picture is upscaled")
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(f"{fmt or 'unknown'} images are not supported; upload {FORMAT_NAMES}")
    if width * height > max_pixels:
        raise ImageRejected(f"{width}x{height} is {width * height:,} pixels; "
                            f"the limit is {max_pixels:,}")
    try:
        picture = load_image(path, max_pixels=max_pixels)
    except ImageError as exc:
        raise ImageRejected(without_path(str(exc), path, display_name)) from None
    if frames > 1:
        notes.append(f"animated ({frames} frames): only the first frame is upscaled")
    if mode.startswith("CMYK"):
        notes.append("CMYK: converted to RGB")
    if picture.pixels.dtype.itemsize > 1:
        notes.append("16 bits per channel: kept in 16-bit output formats (PNG, TIFF)")
    if picture.alpha is not None:
        notes.append("transparency: the alpha channel is upscaled with bicubic")
    if picture.pixels.shape[2] == 1:
        notes.append("grayscale")
    return CheckedImage(picture=picture, width=int(picture.pixels.shape[1]),
                        height=int(picture.pixels.shape[0]), format=fmt,
                        suffix=ALLOWED_FORMATS[fmt], notes=notes)


def thumbnail_save(picture: Picture, dst: Path, size: int = 320) -> None:
    """A small 8-bit PNG for lists (Pillow's thumbnail is fine for previews)."""
    pixels = picture.pixels
    if pixels.dtype.itemsize > 1:
        pixels = (pixels >> 8).astype("uint8")
    im = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    im.thumbnail((size, size))
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.save(dst, format="PNG")
