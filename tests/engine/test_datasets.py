"""PatchSampler and data_fingerprint on small images written to a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine.color import rgb_to_y
from sr_engine.data.datasets import MARGIN, PatchSampler, data_fingerprint
from sr_engine.data.io import load_image
from sr_engine.degrade import Degradation, imresize, quantize
from sr_engine.errors import ConfigError, ImageError
from sr_engine.evaluate import levels8, protocol_lr


def _write(path: Path, h: int, w: int, seed: int, mode: str = "RGB") -> Path:
    """A smooth random picture (so bicubic has structure to preserve)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BILINEAR).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    a, b = tmp_path / "setA", tmp_path / "setB"
    _write(a / "one.png", 60, 80, 0)
    _write(a / "two.bmp", 72, 56, 1)
    _write(a / "sub" / "gray.png", 64, 64, 2, mode="L")
    _write(b / "tiny.png", 12, 12, 3)  # smaller than a patch: skipped
    _write(b / "three.png", 50, 50, 4)
    return [a, b]


def _sampler(folders: list[Path], **kw) -> PatchSampler:
    args = {"scale": 2, "patch_size": 8, "color": "rgb", "seed": 0} | kw
    return PatchSampler(folders, **args)


@pytest.mark.parametrize(("color", "channels"), [("rgb", 3), ("y", 1)])
def test_batch_shapes_and_range(folders, color, channels) -> None:
    sampler = _sampler(folders, scale=3, patch_size=6, color=color)
    assert len(sampler) == 4 and sampler.skipped == 1
    lr, hr = sampler.batch(5)
    assert lr.shape == (5, channels, 6, 6) and hr.shape == (5, channels, 18, 18)
    assert lr.dtype == hr.dtype == torch.float32
    for x in (lr, hr):
        assert x.min() >= 0 and x.max() <= 1
    if color == "rgb":  # both are 8-bit images, like the protocol's HR and LR
        assert torch.allclose(lr * 255, (lr * 255).round(), atol=1e-4)
        assert torch.allclose(hr * 255, (hr * 255).round(), atol=1e-4)


def test_lr_is_aligned_bicubic_of_hr(folders) -> None:
    """Away from its border the LR patch is the protocol's LR of the HR patch (the margin
    only changes the border, where the bicubic kernel reaches outside the patch)."""
    lr, hr = _sampler(folders, patch_size=12).batch(4)
    again = quantize(imresize(hr, 0.5))
    inner = (..., slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert torch.allclose(lr[inner], again[inner], atol=1.01 / 255)


def test_patch_pair_is_the_protocol_pair_of_the_whole_image(tmp_path: Path) -> None:
    """An image exactly one crop in size leaves the sampler no choice of place: its (LR, HR)
    must be the evaluation protocol's whole-image LR and Y, cropped, bit for bit (x3)."""
    scale, p = 3, 9
    side = (p + 2 * MARGIN) * scale
    _write(tmp_path / "one" / "img.png", side, side, 7)
    sampler = PatchSampler([tmp_path / "one"], scale=scale, patch_size=p, color="y",
                           flips=False, rot90=False)
    lr, hr = sampler.batch(2)
    whole = levels8(load_image(tmp_path / "one" / "img.png"))
    want_lr = rgb_to_y(protocol_lr(whole, scale))[..., MARGIN:MARGIN + p, MARGIN:MARGIN + p]
    cut = slice(MARGIN * scale, (MARGIN + p) * scale)
    want_hr = rgb_to_y(whole / 255.0)[..., cut, cut].float()
    assert torch.allclose(lr, want_lr.expand_as(lr), atol=1e-6)
    assert torch.allclose(hr, want_hr.expand_as(hr), atol=1e-6)


def test_y_patches_are_y_of_rgb_patches(folders) -> None:
    rgb = _sampler(folders, color="rgb").batch(3)
    y = _sampler(folders, color="y").batch(3)
    for a, b in zip(rgb, y, strict=True):
        assert torch.allclose(rgb_to_y(a), b)


def test_same_seed_same_batches_and_generator_state_resumes(folders) -> None:
    one, two = _sampler(folders), _sampler(folders)
    for _ in range(2):
        assert all(torch.equal(a, b) for a, b in zip(one.batch(4), two.batch(4), strict=True))
    state = one.generator.get_state()
    first = one.batch(4)
    other = _sampler(folders, seed=1)
    assert not torch.equal(other.batch(4)[1], first[1])
    other.generator.set_state(state)
    assert all(torch.equal(a, b) for a, b in zip(other.batch(4), first, strict=True))


def test_augmentation_gives_the_eight_symmetries(tmp_path: Path) -> None:
    side = (8 + 2 * MARGIN) * 2  # one image exactly one crop: only augmentation varies
    _write(tmp_path / "only" / "img.png", side, side, 7)
    plain = _sampler([tmp_path / "only"], flips=False, rot90=False).batch(16)[1]
    assert all(torch.equal(p, plain[0]) for p in plain)
    augmented = _sampler([tmp_path / "only"]).batch(128)[1]
    assert len({p.numpy().tobytes() for p in augmented}) == 8


def test_rescale_shrinks_a_larger_crop(tmp_path: Path) -> None:
    """At f = 0.5 an image of twice the crop is cut whole and shrunk by MATLAB bicubic;
    an image too small for 1/f is cut at its own size (here: exactly one crop, unchanged)."""
    crop = (8 + 2 * MARGIN) * 2
    big = _write(tmp_path / "big" / "img.png", 2 * crop, 2 * crop, 7)
    _write(tmp_path / "small" / "img.png", crop, crop, 8)
    flat = {"flips": False, "rot90": False, "rescale": (0.5, 0.5)}
    hr = _sampler([tmp_path / "big"], **flat).batch(2)[1]
    whole = torch.from_numpy(np.array(Image.open(big))).permute(2, 0, 1).float() / 255
    want = quantize(imresize(whole, size=(crop, crop)))
    cut = slice(MARGIN * 2, crop - MARGIN * 2)
    assert torch.allclose(hr, want[:, cut, cut].expand_as(hr), atol=1e-6)
    small = _sampler([tmp_path / "small"], **flat).batch(2)[1]
    plain = _sampler([tmp_path / "small"], flips=False, rot90=False).batch(2)[1]
    assert torch.equal(small, plain)


def test_loading_errors(tmp_path: Path, folders) -> None:
    with pytest.raises(ConfigError, match="not found"):
        _sampler([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        _sampler([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="at least"):
        _sampler(folders, patch_size=64)
    with pytest.raises(ConfigError, match="cache_mb"):
        _sampler(folders * 40, cache_mb=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match="broken.png"):
        _sampler([tmp_path / "bad"])


def test_fingerprint(folders, tmp_path: Path) -> None:
    sampler = _sampler(folders)
    print_ = data_fingerprint(folders)
    assert sampler.fingerprint == print_ and len(print_) == 64
    moved = [shutil.copytree(f, tmp_path / "elsewhere" / f.name) for f in folders]
    assert data_fingerprint(moved) == print_  # names relative to each folder
    _write(moved[1] / "three.png", 50, 50, 5)
    assert data_fingerprint(moved) != print_
    (moved[1] / "three.png").rename(moved[1] / "four.png")
    assert data_fingerprint(moved) != print_


def test_blur_widens_the_margin(folders) -> None:
    blur = Degradation(blur_prob=1.0, blur_sigma=(1.0, 2.0))
    sampler = _sampler(folders, patch_size=6, degradation=blur)
    assert sampler.margin == MARGIN + 3  # 3 sigma = 6 HR px = 3 LR px at x2
    lr, hr = sampler.batch(3)
    assert lr.shape == (3, 3, 6, 6) and hr.shape == (3, 3, 12, 12)
