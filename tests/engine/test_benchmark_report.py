"""The benchmark: its generated report says in words which rows fall under their paper; its
timer keeps slow combinations within a budget."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sr_engine import benchmark as bm
from sr_engine.benchmark import QualityRow, render_markdown, shortfall_lines, training_lines
from sr_engine.metrics.niqe import niqe_params_path


def _row(model: str, psnr: float, ssim: float, paper_psnr: float | None,
         paper_ssim: float | None) -> QualityRow:
    return QualityRow(model, model.split("_")[0], 3, "Set5", psnr, ssim, 5, paper_psnr,
                      paper_ssim)


def test_rows_under_their_paper_are_listed_with_the_gap() -> None:
    rows = [_row("fsrcnn_x3", 32.664, 0.9101, 33.16, 0.9140),  # under on both
            _row("espcn_x3", 33.20, 0.92, 33.13, None),  # over; no published SSIM
            _row("srcnn_x3", 32.748, 0.9100, 32.75, 0.9090),  # shows as 32.75: met
            _row("vdsr_x3", 33.70, 0.9200, 33.66, 0.9213),  # PSNR met, SSIM under
            _row("bicubic", 30.38, 0.8679, 30.39, 0.8682)]  # the protocol check, not a model
    assert shortfall_lines(rows) == [
        "- fsrcnn_x3 x3 Set5: PSNR -0.50 dB, SSIM -0.0039 against the paper",
        "- vdsr_x3 x3 Set5: SSIM -0.0013 against the paper"]
    text = render_markdown(rows, [], [], "sr-engine benchmark")
    assert "Under the published figure:" in text and "PSNR -0.50 dB" in text


def test_the_perceptual_table_sets_niqe_beside_fidelity() -> None:
    srgan = replace(_row("srgan_x4", 28.1, 0.80, 29.40, 0.8472), scale=4, niqe=5.123)
    srresnet = replace(_row("srresnet_x4", 29.9, 0.85, None, None), scale=4, niqe=6.5)
    unmeasured = _row("espcn_x3", 33.20, 0.92, 33.13, None)  # no NIQE: not in the table
    assert bm.perceptual_table([srgan, srresnet, unmeasured])[2:] == [
        "| srgan_x4 | perceptual | x4 | Set5 | 28.10 | 0.8000 | 5.123 | 29.40 | 0.8472 |",
        "| srresnet_x4 | psnr | x4 | Set5 | 29.90 | 0.8500 | 6.500 | - | - |"]
    assert "## Perceptual quality" in render_markdown([srgan, unmeasured], [], [], "cmd")
    assert "## Perceptual quality" not in render_markdown([unmeasured], [], [], "cmd")


def test_a_report_with_every_paper_met_says_so() -> None:
    text = render_markdown([_row("espcn_x3", 33.20, 0.92, 33.13, None)], [], [], "cmd")
    assert "No evaluated model is under a published figure" in text
    assert "Under the published figure" not in text


def test_each_checkpoint_links_to_how_it_was_trained() -> None:
    shipped = _row("espcn_x3", 32.3, 0.90, 33.13, None)  # has a card in docs/training
    rows = [replace(shipped, step=48000), replace(shipped, dataset="Set14", step=48000),
            replace(_row("espcn_x3-mine", 30.0, 0.85, 33.13, None), step=7),
            _row("bicubic", 30.38, 0.8679, 30.39, 0.8682)]
    assert training_lines(rows) == [
        "- espcn_x3: step 48000, [training card](training/espcn_x3.md), "
        "[log](training/espcn_x3.jsonl)",
        "- espcn_x3-mine: step 7, no training card (not a shipped checkpoint)"]
    assert "How each checkpoint was trained:" in render_markdown(rows, [], [], "cmd")


@pytest.mark.parametrize(("budget_s", "runs"), [(0.0, 1), (60.0, 4)])
def test_timing_stops_once_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch,
                                               budget_s: float, runs: int) -> None:
    calls = []
    monkeypatch.setattr(bm, "upscale_tensor", lambda *a, **k: calls.append(1))
    model = bm._random_model("espcn", 2, torch.device("cpu"))
    seconds = bm.time_model(model, lr_size=8, precision="fp32", repeats=3, budget_s=budget_s)
    assert len(calls) == runs  # over budget: the warm-up alone is the answer
    assert seconds >= 0


@pytest.mark.skipif(not niqe_params_path().is_file(),
                    reason="NIQE's pristine model absent (../shared/data/metrics or "
                           "$SR_NIQE_PARAMS)")
def test_quality_rows_measure_niqe_where_the_images_allow_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for folder, size in (("big", 208), ("tiny", 64)):
        (tmp_path / folder).mkdir()
        for i in range(2):
            small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
            Image.fromarray(small).resize((size, size), Image.BICUBIC).save(
                tmp_path / folder / f"{i}.png")
    rows, _ = bm.quality_rows(["bicubic"], [4], [tmp_path / "big", tmp_path / "tiny"],
                              device="cpu", niqe=True)
    niqe = {r.dataset: r.niqe for r in rows}
    assert niqe["tiny"] is None  # 64 px minus the border holds no 96 px block
    assert niqe["big"] is not None and niqe["big"] > 0
    plain, _ = bm.quality_rows(["bicubic"], [4], [tmp_path / "big"], device="cpu")
    assert plain[0].niqe is None and plain[0].psnr == rows[0].psnr
