"""The evaluation protocol reproduces the published bicubic table (PROTOCOL.md)."""

from __future__ import annotations

import pytest

from sr_engine.evaluate import evaluate, load_eval_set
from sr_engine.paths import shared_data_dir
from sr_engine.zoo import load_model

DATA = shared_data_dir()
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(DATA is None or not (DATA / "benchmark").is_dir(),
                       reason="shared benchmark data absent (../shared/data or $SR_SHARED_DATA)"),
]

# PROTOCOL.md: bicubic PSNR (dB) / SSIM on Y; ours must be within 0.02 dB and 0.002.
BICUBIC = {
    ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027),
}



@pytest.mark.parametrize(("dataset", "scale"), sorted(BICUBIC))
def test_bicubic_reproduces_the_published_table(dataset: str, scale: int) -> None:
    assert DATA is not None
    data = load_eval_set(DATA / "benchmark" / dataset, scale=scale)
    report = evaluate(load_model("bicubic", scale=scale), data)
    psnr, ssim = BICUBIC[(dataset, scale)]
    print(f"{dataset} x{scale}: {report.psnr_y:.4f} dB / {report.ssim_y:.4f} "
          f"(published {psnr} / {ssim})")
    assert report.n_images == (5 if dataset == "Set5" else 14)
    assert abs(report.psnr_y - psnr) <= 0.02
    assert abs(report.ssim_y - ssim) <= 0.002


def test_set14_gray_image_is_its_own_luma() -> None:
    assert DATA is not None
    data = load_eval_set(DATA / "benchmark" / "Set14", scale=3)
    bridge = next(im for im in data.images if im.name == "bridge.png")
    assert bridge.gray and bridge.lr.shape[1] == 1
    assert [im.name for im in data.images] == sorted(im.name for im in data.images)
    assert all(d % 3 == 0 for im in data.images for d in im.hr_y.shape)
