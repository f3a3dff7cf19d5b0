"""Image I/O: 8/16-bit round trips, gray, alpha, modes, EXIF, ICC, limits, atomic saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageOps

from sr_engine.data.io import Picture, load_image, picture_to_tensor, save_image, tensor_to_pixels
from sr_engine.errors import ConfigError, ImageError

RNG = np.random.default_rng(0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def pixels(dtype: type, channels: int, h: int = 9, w: int = 13) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max + 1, (h, w, channels), dtype=dtype)


@pytest.mark.parametrize("ext", ["png", "tiff"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_lossless_round_trip(tmp_path: Path, ext: str, dtype: type, channels: int,
                             with_alpha: bool) -> None:
    px = pixels(dtype, channels)
    alpha = pixels(dtype, 1)[..., 0] if with_alpha else None
    path = save_image(tmp_path / f"a.{ext}", Picture(px, alpha, icc_profile=SRGB))
    back = load_image(path)
    assert back.pixels.dtype == dtype and back.bit_depth == (16 if dtype == np.uint16 else 8)
    np.testing.assert_array_equal(back.pixels, px)
    if with_alpha:
        np.testing.assert_array_equal(back.alpha, alpha)
    else:
        assert back.alpha is None
    assert back.icc_profile == SRGB and back.format == ext.upper()
    assert (back.width, back.height, back.size) == (13, 9, (13, 9))


@pytest.mark.parametrize("ext", ["jpg", "bmp", "webp"])
def test_eight_bit_formats(tmp_path: Path, ext: str) -> None:
    px = np.repeat(np.linspace(0, 65535, 32, dtype=np.uint16)[None, :, None], 16, axis=0)
    alpha = np.repeat(np.linspace(32768, 65535, 16, dtype=np.uint16)[:, None], 32, axis=1)
    pic = Picture(np.repeat(px, 3, axis=2), alpha=alpha,
                  icc_profile=SRGB)
    back = load_image(save_image(tmp_path / f"a.{ext}", pic, quality=100))
    assert back.pixels.dtype == np.uint8 and back.pixels.shape == (16, 32, 3)
    expected = np.floor(px[..., 0].astype(float) / 257 + 0.5)
    assert np.abs(back.pixels[..., 0].astype(float) - expected).max() <= 3  # lossy codecs
    assert (back.alpha is not None) == (ext == "webp")
    assert (back.icc_profile == SRGB) == (ext != "bmp")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "o.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels(np.uint8, 3, 12, 20)).save(path, exif=exif, quality=95)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = load_image(path).pixels
    assert got.shape[:2] == ((20, 12) if orientation >= 5 else (12, 20))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("mode", "channels", "has_alpha", "dtype"), [
    ("1", 1, False, np.uint8), ("L", 1, False, np.uint8), ("LA", 1, True, np.uint8),
    ("P", 3, False, np.uint8), ("RGBA", 3, True, np.uint8), ("CMYK", 3, False, np.uint8),
    ("I;16", 1, False, np.uint16), ("I", 1, False, np.uint16), ("F", 1, False, np.uint16),
])
def test_pillow_modes(tmp_path: Path, mode: str, channels: int, has_alpha: bool,
                      dtype: type) -> None:
    source = Image.fromarray(pixels(np.uint8, 3, 10, 10)).convert(mode)
    path = tmp_path / ("m.tiff" if mode in ("I", "F", "CMYK") else "m.png")
    source.save(path)
    pic = load_image(path)
    assert pic.pixels.shape == (10, 10, channels) and pic.pixels.dtype == dtype
    assert (pic.alpha is not None) == has_alpha


def test_wide_gray_values_kept(tmp_path: Path) -> None:
    values = np.array([[0, 1000], [40000, 70000]], dtype=np.int32)
    Image.fromarray(values, mode="I").save(tmp_path / "i.tiff")
    np.testing.assert_array_equal(load_image(tmp_path / "i.tiff").pixels[..., 0],
                                  [[0, 1000], [40000, 65535]])
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), mode="F").save(
        tmp_path / "f.tiff")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tiff").pixels[..., 0],
                                  [[0, 32768], [65535, 16384]])


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.fromarray(pixels(np.uint8, 3, 8, 8)).convert("P")
    image.save(tmp_path / "p.png", transparency=image.getpixel((0, 0)))
    pic = load_image(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        rgba = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(pic.pixels, rgba[..., :3])
    np.testing.assert_array_equal(pic.alpha, rgba[..., 3])
    assert (pic.alpha == 0).any()


def test_animation_keeps_first_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(pixels(np.uint8, 3, 8, 8)).convert("P") for _ in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    pic = load_image(tmp_path / "a.gif")
    assert pic.n_frames == 3 and pic.pixels.shape == (8, 8, 3)
    np.testing.assert_array_equal(pic.pixels, np.asarray(frames[0].convert("RGB")))


def test_pixel_limit_and_bad_files(tmp_path: Path) -> None:
    path = save_image(tmp_path / "big.png", Picture(pixels(np.uint8, 3, 20, 20)))
    with pytest.raises(ImageError, match="big.png"):
        load_image(path, max_pixels=399)
    assert load_image(path, max_pixels=400).pixels.shape == (20, 20, 3)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really" + bytes(range(256)))
    with pytest.raises(ImageError, match="junk.png"):
        load_image(tmp_path / "junk.png")
    (tmp_path / "cut.png").write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_save_is_atomic(tmp_path: Path) -> None:
    target = save_image(tmp_path / "out.png", Picture(pixels(np.uint8, 3)))
    before = target.read_bytes()
    with pytest.raises(ImageError):
        save_image(target, Picture(pixels(np.uint8, 2)))  # two channels: not savable
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    with pytest.raises(ConfigError):
        save_image(tmp_path / "out.xyz", Picture(pixels(np.uint8, 3)))
    assert save_image(tmp_path / "noext", Picture(pixels(np.uint8, 3)), format="jpg").exists()
    with pytest.raises(ImageError, match="x.png"):
        save_image(tmp_path / "no" / "such" / "x.png", Picture(pixels(np.uint8, 3)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tensor_helpers(dtype: type) -> None:
    px = pixels(dtype, 3)
    t = picture_to_tensor(Picture(px))
    assert t.shape == (1, 3, 9, 13) and t.dtype == torch.float32
    np.testing.assert_array_equal(tensor_to_pixels(t, dtype), px)
    top = np.iinfo(dtype).max
    half = torch.tensor([0.5, 1.5, 2.49], dtype=torch.float64).view(1, 3, 1, 1) / top
    assert tensor_to_pixels(half, dtype).ravel().tolist() == [1, 2, 2]
    assert tensor_to_pixels(torch.tensor([-1.0, 2.0]).view(2, 1, 1), dtype).ravel().tolist() \
        == [0, top]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_level_trades_size_for_speed_and_keeps_the_pixels(tmp_path, dtype):
    top = np.iinfo(dtype).max
    pixels = (np.linspace(0, top, 64 * 48 * 3) % (top // 7)).astype(dtype).reshape(48, 64, 3)
    stored = save_image(tmp_path / "store.png", Picture(pixels), png_level=0)
    packed = save_image(tmp_path / "pack.png", Picture(pixels), png_level=9)
    assert stored.stat().st_size > packed.stat().st_size  # the level reached zlib
    for path in (stored, packed):
        assert np.array_equal(load_image(path).pixels, pixels)
