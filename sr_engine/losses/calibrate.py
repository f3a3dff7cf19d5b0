"""The measurement behind the perceptual recipes' loss weights (docs/PERCEPTUAL.md).

A random loss network's features have their own scale, so the papers' weights do not
transfer: this prints, on HR patches of a training folder, the pixel MSE and the random-VGG
feature MSE of the shipped SRResNet's and of bicubic outputs, and the total variation of
the HR, from which the recipes' weights are set. Usage:

    python -m sr_engine.losses.calibrate [HR_FOLDER] [--patches 16] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sr_engine.data.io import IMAGE_SUFFIXES, load_image
from sr_engine.degrade.resize import imresize
from sr_engine.losses.perceptual import PerceptualLoss
from sr_engine.losses.pixel import l1_loss, mse_loss, total_variation
from sr_engine.paths import shared_data_dir
from sr_engine.zoo import load_model

PATCH = 96  # SRGAN's HR patch
# The shipped SRGAN's taps: the paper's relu5_4 plus one per block, whose shallow features
# hold the high frequencies a random relu5_4 alone lets drift (docs/PERCEPTUAL.md).
SRGAN_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


def hr_patches(folder: Path, n: int, seed: int) -> torch.Tensor:
    """(n, 3, 96, 96) float patches, one per RGB image in name order, at seeded positions."""
    rng = np.random.default_rng(seed)
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        pixels = load_image(path).pixels
        if pixels.shape[2] != 3 or min(pixels.shape[:2]) <= PATCH:
            continue
        i = rng.integers(0, pixels.shape[0] - PATCH)
        j = rng.integers(0, pixels.shape[1] - PATCH)
        out.append(torch.from_numpy(pixels[i:i + PATCH, j:j + PATCH].copy()))
        if len(out) == n:
            break
    return torch.stack(out).permute(0, 3, 1, 2).float() / 255.0


def measure(hr: torch.Tensor) -> dict[str, float]:
    """The figures docs/PERCEPTUAL.md quotes, for x4 outputs of `hr`'s bicubic LR."""
    lr = imresize(hr, 0.25).clamp(0, 1)
    with torch.no_grad():
        outputs = {"srresnet": load_model("srresnet_x4").module(lr).clamp(0, 1),
                   "bicubic": imresize(lr, 4.0).clamp(0, 1)}
        figures = {"tv_hr": float(total_variation(hr, hr))}
        losses = {"pixel_mse": mse_loss, "pixel_l1": l1_loss,
                  "relu5_4": PerceptualLoss("random:0", ["relu5_4"]),
                  "five_layers": PerceptualLoss("random:0", list(SRGAN_LAYERS)),
                  "relu2_2": PerceptualLoss("random:0", ["relu2_2"])}
        for name, sr in outputs.items():
            for term, fn in losses.items():
                figures[f"{term}_{name}"] = float(fn(sr, hr))
    return figures


def main() -> None:
    shared = shared_data_dir()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        default=shared / "train" / "BSD200" if shared else None)
    parser.add_argument("--patches", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.folder is None:
        parser.error("give an HR folder (../shared/data not found)")
    for key, value in measure(hr_patches(args.folder, args.patches, args.seed)).items():
        print(f"{key:<20} {value:.6f}")


if __name__ == "__main__":
    main()
