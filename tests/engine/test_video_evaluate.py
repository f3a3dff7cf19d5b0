"""Video evaluation (sr_engine.video.evaluate, `sr-engine evaluate --video`) on synthetic clips:
folders of PNG frames cut from one smooth texture, moved by a few pixels per frame."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from torch import nn

from sr_engine.archs.common import upsample_bicubic
from sr_engine.cli import main
from sr_engine.data.io import load_image
from sr_engine.degrade.resize import modcrop
from sr_engine.errors import ConfigError
from sr_engine.evaluate import evaluate, levels8, load_eval_set
from sr_engine.progress import ProgressEvent
from sr_engine.registry import get_spec
from sr_engine.video import speed as vs
from sr_engine.video.evaluate import (
    bd_lr,
    degrade_frame,
    evaluate_video,
    find_clips,
    global_shift,
    temporal_error,
    warping_error,
)
from sr_engine.zoo import SHIPPED_WEIGHTS, LoadedModel, load_model

H, W = 48, 60  # frame size: x4 leaves a 12x15 LR, and 40x52 pixels once SSIM shaves 4


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB (h, w, 3) uint8: detail bicubic can mostly recover."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1.5)))


def _clip(folder: Path, n: int, *, step: tuple[int, int] = (1, 2), seed: int = 0,
          mode: str = "RGB") -> Path:
    """n frames of H x W cut from one texture at (t*dy, t*dx), step >= 0: the content moves
    by -step from frame to frame, a pure global shift."""
    folder.mkdir(parents=True)
    big = _texture(H + n * step[0], W + n * step[1], seed)
    for t in range(n):
        y, x = t * step[0], t * step[1]
        Image.fromarray(big[y:y + H, x:x + W]).convert(mode).save(folder / f"{t:05d}.png")
    return folder


@pytest.fixture(scope="module")
def bicubic():
    return load_model("bicubic", scale=4)


@pytest.fixture
def video_set(tmp_path: Path) -> Path:
    _clip(tmp_path / "vset" / "calendar", 4, seed=1)
    _clip(tmp_path / "vset" / "city", 2, step=(0, 1), seed=2)
    return tmp_path / "vset"


def _hr(path: Path) -> torch.Tensor:
    return modcrop(levels8(load_image(path)), 4)


def test_bi_lr_is_the_image_protocol(video_set: Path) -> None:
    frame = video_set / "calendar" / "00000.png"
    lr = degrade_frame(_hr(frame), 4, "bi")
    assert lr.shape == (1, 3, H // 4, W // 4) and lr.dtype == torch.float32
    torch.testing.assert_close(lr, load_eval_set(frame.parent, scale=4).images[0].lr,
                               rtol=0, atol=0)


def _bd_by_hand(hr: np.ndarray, s: int) -> np.ndarray:
    """MATLAB: uint8(imfilter(hr, fspecial('gaussian', 7, 1.6), 'replicate'))(1:s:end, 1:s:end),
    with the 2-D kernel built as fspecial does and 49 shifted copies summed (H, W, C)."""
    t = np.arange(-3, 4, dtype=np.float64)
    k = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.6**2))
    k /= k.sum()
    padded = np.pad(hr.astype(np.float64), ((3, 3), (3, 3), (0, 0)), mode="edge")
    out = sum(k[i, j] * padded[i:i + hr.shape[0], j:j + hr.shape[1]]
              for i in range(7) for j in range(7))
    return np.floor(out + 0.5).clip(0, 255)[::s, ::s]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bd_lr_is_the_7x7_matlab_blur_then_every_sth_pixel(scale: int) -> None:
    hr = _texture(37, 50, seed=3)  # not multiples of the scale: modcrop first
    hr = hr[:37 - 37 % scale, :50 - 50 % scale]
    levels = torch.from_numpy(hr.astype(np.float64)).permute(2, 0, 1).unsqueeze(0)
    lr = bd_lr(levels, scale)
    assert lr.shape == (1, 3, 37 // scale, 50 // scale)
    got = (lr[0].permute(1, 2, 0).double() * 255).round().numpy()
    np.testing.assert_array_equal(got, _bd_by_hand(hr, scale))
    flat = torch.full((1, 1, 12, 12), 77.0, dtype=torch.float64)  # replicate: no dark rim
    assert torch.all(bd_lr(flat, 4) * 255 == 77)


def test_an_unknown_degradation_is_refused() -> None:
    with pytest.raises(ConfigError, match="not one of bi, bd"):
        degrade_frame(torch.zeros(1, 1, 8, 8, dtype=torch.float64), 4, "bx")


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_bicubic_scores_each_frame_as_the_image_evaluate_does(tmp_path: Path, bicubic,
                                                              mode: str) -> None:
    clip = _clip(tmp_path / "set" / "walk", 3, mode=mode)
    video = evaluate_video(bicubic, tmp_path / "set")
    images = evaluate(bicubic, clip)  # the same frames as a flat image set
    frames = video.per_clip[0].per_frame
    assert [f["name"] for f in frames] == [i["name"] for i in images.per_image]
    assert [(f["psnr_y"], f["ssim_y"]) for f in frames] == \
        [(i["psnr_y"], i["ssim_y"]) for i in images.per_image]
    assert video.psnr_y == pytest.approx(images.psnr_y)
    assert 20 < video.psnr_y < 60


def test_frames_are_averaged_per_clip_then_over_clips(video_set: Path, bicubic) -> None:
    report = evaluate_video(bicubic, video_set)
    assert [c.name for c in report.per_clip] == ["calendar", "city"]
    assert [c.n_frames for c in report.per_clip] == [4, 2] and report.n_frames == 6
    for clip in report.per_clip:
        assert clip.psnr_y == pytest.approx(np.mean([f["psnr_y"] for f in clip.per_frame]))
        assert clip.ssim_y == pytest.approx(np.mean([f["ssim_y"] for f in clip.per_frame]))
        assert (clip.width, clip.height) == (W, H)
    assert report.psnr_y == pytest.approx(np.mean([c.psnr_y for c in report.per_clip]))
    assert report.ssim_y == pytest.approx(np.mean([c.ssim_y for c in report.per_clip]))
    every_frame = np.mean([f["psnr_y"] for c in report.per_clip for f in c.per_frame])
    assert abs(report.psnr_y - every_frame) > 1e-6  # clips weigh the same, not frames


def test_temporal_error_is_zero_for_the_reference_and_counts_flicker() -> None:
    frames = [_texture(H, W, seed=t)[..., 0].astype(np.float64) for t in range(3)]
    assert temporal_error(frames[0], frames[1], frames[0], frames[1]) == 0.0
    flicker = [f + (5.0 if t % 2 else -5.0) for t, f in enumerate(frames)]
    assert temporal_error(flicker[0], flicker[1], frames[0], frames[1]) == pytest.approx(10.0)
    assert temporal_error(flicker[1], flicker[2], frames[1], frames[2], border=4) == \
        pytest.approx(10.0)


@pytest.mark.parametrize("step", [(0, 0), (1, 2), (-3, 5), (7, -1)])
def test_a_global_shift_is_found_and_undone(step: tuple[int, int]) -> None:
    big = _texture(80, 90, seed=4)[..., 1].astype(np.float64)
    prev = big[10:10 + H, 12:12 + W]
    cur = big[10 + step[0]:10 + step[0] + H, 12 + step[1]:12 + step[1] + W]
    shift = global_shift(prev, cur)
    assert shift == (-step[0], -step[1])  # the frame moved by step: its content by -step
    assert warping_error(prev, cur, shift, border=2) == 0.0
    if step != (0, 0):
        assert warping_error(prev, cur, (0, 0)) > 5.0


def test_no_overlap_gives_no_warping_error() -> None:
    frame = np.zeros((8, 8))
    assert warping_error(frame, frame, (6, 0), border=1) is None


class _Flicker(nn.Module):
    """Bicubic that brightens every other call: a model that flickers in time."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x) + (0.04 if self.calls % 2 else 0.0)


def test_flicker_raises_both_temporal_figures_and_hr_warps_to_zero(video_set: Path,
                                                                  bicubic) -> None:
    steady = evaluate_video(bicubic, video_set)
    flickering = evaluate_video(
        dataclasses.replace(bicubic, module=_Flicker(bicubic.module)), video_set)
    assert steady.warp_error_hr == 0.0  # pure global shifts: compensated exactly
    assert 0 < steady.temporal_error < flickering.temporal_error
    assert steady.warp_error_sr < flickering.warp_error_sr
    assert flickering.temporal_error == pytest.approx(0.04 * 255, rel=0.1)
    frames = steady.per_clip[0].per_frame
    assert "temporal_error" not in frames[0] and frames[1]["shift"] == [-1, -2]


def test_a_single_frame_clip_has_no_temporal_figures(tmp_path: Path, bicubic,
                                                     capsys: pytest.CaptureFixture) -> None:
    _clip(tmp_path / "set" / "still", 1)
    report = evaluate_video(bicubic, tmp_path / "set")
    assert report.temporal_error is None and report.per_clip[0].warp_error_sr is None
    assert main(["-q", "evaluate", "--model", "bicubic", "--scale", "4",
                 "--video", str(tmp_path / "set")]) == 0
    assert "still" in capsys.readouterr().out


def test_progress_counts_frames_over_all_clips(video_set: Path, bicubic) -> None:
    events: list[ProgressEvent] = []
    evaluate_video(bicubic, video_set, progress=events.append)
    assert [(e.stage, e.current, e.total) for e in events] == \
        [("validating", i, 6) for i in range(1, 7)]
    assert events[0].message == "calendar/00000.png" and "psnr" in events[0].metrics


def test_clips_and_frames_are_in_natural_name_order(tmp_path: Path) -> None:
    for clip in ("clip10", "clip9"):
        (tmp_path / clip).mkdir()
        for name in ("f10.png", "f9.png", "f100.png", "notes.txt"):
            (tmp_path / clip / name).touch()
    (tmp_path / ".hidden").mkdir()
    clips = find_clips(tmp_path)
    assert [c.name for c in clips] == ["clip9", "clip10"]
    assert [p.name for p in clips[0].frames] == ["f9.png", "f10.png", "f100.png"]


def test_a_folder_of_frames_is_one_clip(tmp_path: Path) -> None:
    _clip(tmp_path / "foliage", 2)
    assert [(c.name, len(c.frames)) for c in find_clips(tmp_path / "foliage")] == \
        [("foliage", 2)]


def test_cli_json_and_bd(video_set: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["evaluate", "--model", "bicubic", "--scale", "4", "--video", str(video_set)]
    assert main([*argv, "--json"]) == 0
    bi = json.loads(capsys.readouterr().out)
    assert (bi["dataset"], bi["degradation"], bi["n_clips"], bi["n_frames"]) == \
        ("vset", "bi", 2, 6)
    assert [c["name"] for c in bi["per_clip"]] == ["calendar", "city"]
    assert len(bi["per_clip"][0]["per_frame"]) == 4 and bi["warp_error_hr"] == 0.0
    assert all(math.isfinite(bi[k]) for k in ("psnr_y", "ssim_y", "temporal_error"))
    assert main([*argv, "--json", "--degradation", "bd"]) == 0
    bd = json.loads(capsys.readouterr().out)
    assert bd["degradation"] == "bd" and bd["psnr_y"] != bi["psnr_y"]
    assert main(["-q", *argv]) == 0
    out = capsys.readouterr().out
    assert "calendar" in out and f"{bi['psnr_y']:.2f} dB" in out and "2 clips, 6 frames" in out


def _two_sizes(root: Path) -> None:
    _clip(root / "walk", 2)
    Image.fromarray(_texture(H, W + 4)).save(root / "walk" / "00002.png")


@pytest.mark.parametrize("make, needle", [
    (lambda root: root.mkdir(), "no clips in"),
    (lambda root: None, "is not a folder"),
    (lambda root: (root / "city").mkdir(parents=True), "holds no frames"),
    (_two_sizes, "frame 00002.png is 64x48, its first frame 60x48"),
])
def test_bad_sets_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture,
                                      make, needle: str) -> None:
    root = tmp_path / "vset"
    make(root)
    rc = main(["-q", "evaluate", "--model", "bicubic", "--scale", "4", "--video", str(root)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("sr-engine: error:") and "\n" not in err
    assert needle in err


def test_bd_is_for_video_sets_only(video_set: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["evaluate", "--model", "bicubic", "--scale", "4", "--data",
               str(video_set / "city"), "--degradation", "bd"])
    assert rc == 2 and "--video" in capsys.readouterr().err


# The video speed table of `sr-engine benchmark`: the same code as `make bench`, on a tiny frame.

@pytest.fixture
def espcn_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zoo of the shipped espcn x4 alone (whatever else is shipped: drcn never has x4 here),
    eager modules and a private cache of measured choices."""
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "espcn_x4.safetensors").symlink_to(SHIPPED_WEIGHTS / "espcn_x4.safetensors")
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", zoo)
    monkeypatch.setenv("SR_ENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SR_ENGINE_FREEZE", "0")


@pytest.mark.parametrize("isa, bf16_timed", [("avx2", False), ("avx512_bf16", True)])
def test_video_speed_rows_time_native_precisions_only(espcn_only, monkeypatch, isa: str,
                                                      bf16_timed: bool) -> None:
    monkeypatch.setattr(vs, "cpu_isa", lambda: isa)
    rows, left_out = vs.video_speed_rows(["bicubic", "espcn", "drcn"], devices=["cpu"],
                                         precisions=["fp32", "bf16"], size=(24, 16), frames=2)
    assert left_out == ["drcn"]
    assert [(r.model, r.precision) for r in rows] == \
        [("bicubic", "fp32"), ("espcn_x4", "fp32"), ("espcn_x4", "bf16")]
    assert all((r.width, r.height, r.scale, r.device) == (24, 16, 4, "cpu") for r in rows)
    assert [r.frames for r in rows] == [2, 2, 2 if bf16_timed else 0]
    assert (rows[2].fps is not None) == bf16_timed and rows[1].fps > 0
    table = "\n".join(vs.video_speed_table(rows, left_out))
    assert "| bicubic | cpu | " in table and " | - | 2 |" in table
    assert "| espcn_x4 | cpu | " in table and ("| n/a |" in table) != bf16_timed
    assert "24x16 frame upscaled x4 to 96x64" in table
    assert "Left out (no x4 weights): drcn." in table


def test_video_timing_stops_once_the_budget_is_spent(espcn_only) -> None:
    model = load_model("espcn", scale=4)
    _, count = vs.time_frames(model, vs.video_frame((24, 16)), "fp32", frames=5, budget_s=0.0)
    assert count == 1


def test_reduced_precisions_are_native_only_on_units_made_for_them(monkeypatch) -> None:
    cpu = torch.device("cpu")
    assert vs.native_precision(cpu, "fp32") and not vs.native_precision(cpu, "fp16")
    monkeypatch.setattr(vs, "cpu_isa", lambda: "avx512f")
    assert not vs.native_precision(cpu, "bf16")
    monkeypatch.setattr(vs, "cpu_isa", lambda: "amx_bf16")
    assert vs.native_precision(cpu, "bf16")


def test_benchmark_writes_the_video_table_when_x4_is_asked(espcn_only, tmp_path: Path,
                                                           capsys) -> None:
    out = tmp_path / "bench.md"
    argv = ["-q", "benchmark", "--models", "bicubic", "espcn", "--no-quality", "--precisions",
            "fp32", "--speed-size", "16", "--repeats", "1", "--video-frames", "1",
            "--video-size", "24x16", "--out", str(out)]
    assert main([*argv, "--scales", "4"]) == 0
    text = out.read_text()
    assert "## Video speed" in text and "| espcn_x4 | cpu | " in text
    assert text.index("## Speed") < text.index("## Video speed")
    assert main([*argv, "--scales", "2"]) == 0
    assert "## Video speed" not in out.read_text()
    assert main([*argv, "--scales", "4", "--no-speed"]) == 0
    assert "## Video speed" not in out.read_text()
    with pytest.raises(SystemExit):
        main([*argv[:-4], "--video-size", "480p"])
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err


class _Pick(nn.Module):
    """A stand-in video model: the bicubic upscaling of one frame of its window."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_bicubic(x[:, self.index:self.index + 1], 4)


def _video_model(index: int) -> LoadedModel:
    spec = get_spec("vespcn")
    return LoadedModel(module=_Pick(index), spec=spec, scale=4, hparams=spec.resolve_hparams(),
                       meta=None, name="pick", device=torch.device("cpu"))


def test_a_video_model_sees_each_frame_with_its_neighbours(video_set: Path, bicubic) -> None:
    base = evaluate_video(bicubic, video_set)
    # The centre frame upscaled on Y: bicubic's figure (which rounds RGB before taking Y).
    centre = evaluate_video(_video_model(1), video_set).per_clip[0].per_frame
    assert [c["psnr_y"] for c in centre] == pytest.approx(
        [b["psnr_y"] for b in base.per_clip[0].per_frame], abs=0.05)
    previous = evaluate_video(_video_model(0), video_set).per_clip[0].per_frame
    # The first frame's window repeats it (its "previous" frame is itself); later frames get
    # the frame before, which has moved: worse.
    assert previous[0]["psnr_y"] == centre[0]["psnr_y"]
    assert all(p["psnr_y"] < c["psnr_y"] - 1 for p, c in zip(previous[1:], centre[1:],
                                                               strict=True))
    with pytest.raises(ConfigError, match="pick is a video model: evaluate it on clips"):
        evaluate(_video_model(1), video_set / "calendar", scale=4)
