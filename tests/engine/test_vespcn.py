"""VESPCN (sr_engine.archs.vespcn): the video calling convention (N, T, h, w) -> (N, 1, sh, sw)
for 3 and 5 frames, every scale and any size, the warp moves pixels by the flow, motion compensation
learns a known shift, the paper's motion losses, the no-MC baseline, and the registry keeps
video models out of the image paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr_engine.archs.vespcn import VESPCN, MotionCompensation, motion_losses, warp
from sr_engine.data.io import Picture
from sr_engine.errors import ConfigError
from sr_engine.inference import UpscaleConfig, upscale_picture
from sr_engine.registry import create_model, get_spec, list_models
from sr_engine.zoo import LoadedModel, load_model


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("variant", [{}, {"variant": "e5"}, {"variant": "no_mc"}])
def test_frames_in_one_upscaled_centre_frame_out(scale, variant):
    model = create_model("vespcn", scale=scale, **variant)
    frames = model.frames
    out, warped, flows = model.motion(torch.rand(2, frames, 16, 24))
    assert out.shape == (2, 1, 16 * scale, 24 * scale)
    assert len(warped) == len(flows) == (0 if variant.get("variant") == "no_mc" else frames - 1)
    assert all(f.shape == (2, 2, 16, 24) for f in flows)
    assert model(torch.zeros(1, frames, 8, 8)).shape == (1, 1, 8 * scale, 8 * scale)
    assert model(torch.zeros(1, frames, 9, 11)).shape == (1, 1, 9 * scale, 11 * scale)


def test_the_warp_reads_where_the_flow_points():
    frame = torch.rand(1, 1, 12, 16, dtype=torch.float64)
    flow = torch.zeros(1, 2, 12, 16, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # read 2 to the right and 1 up
    out = warp(frame, flow)
    assert torch.allclose(out[..., 1:, :-2], frame[..., :-1, 2:])
    flow[:, 0], flow[:, 1] = 0.5, 0.0
    half = warp(frame, flow)
    assert torch.allclose(half[..., :-1], (frame[..., :-1] + frame[..., 1:]) / 2)


def test_motion_compensation_learns_a_global_shift():
    torch.manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(8, 1, 40, 40), 3, 1, 1)
    centre, neighbour = base[..., 4:36, 4:36], base[..., 4:36, 6:38]  # content 2 px left
    mc = MotionCompensation(max_flow=4.0)
    opt = torch.optim.Adam(mc.parameters(), lr=3e-3)
    before = torch.nn.functional.mse_loss(neighbour, centre).item()
    for _ in range(150):
        warped, flow = mc(centre, neighbour)
        loss = motion_losses(centre, [warped], [flow])[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    warped, flow = mc(centre, neighbour)
    inner = (..., slice(6, -6), slice(6, -6))
    assert torch.nn.functional.mse_loss(warped[inner], centre[inner]).item() < before / 4
    assert flow[:, 0, 6:-6, 6:-6].mean().item() == pytest.approx(-2.0, abs=0.6)


def test_motion_losses_are_zero_for_perfect_still_motion_and_absent_without_mc():
    centre = torch.rand(1, 1, 8, 8)
    flow = torch.zeros(1, 2, 8, 8)
    warp_mse, smooth = motion_losses(centre, [centre.clone()], [flow])
    assert warp_mse.item() == 0 and smooth.item() == 0
    bumpy = flow.clone()
    bumpy[..., 4:, :] = 1.0
    assert motion_losses(centre, [centre], [bumpy])[1].item() > 0
    assert [t.item() for t in motion_losses(centre, [], [])] == [0.0, 0.0]


def test_video_models_are_their_own_kind_and_stay_out_of_the_image_paths():
    assert [s.id for s in list_models("video")] == ["vespcn", "deepsr"]
    assert "vespcn" not in [s.id for s in list_models()]
    spec = get_spec("vespcn")
    assert spec.halo(4, spec.resolve_hparams()) >= 2 * 24 + 9
    assert spec.halo(4, spec.resolve_hparams({"variant": "no_mc"})) == 9
    shipped = load_model("vespcn", scale=4)
    assert (shipped.frames, shipped.in_channels) == (3, 3)
    with pytest.raises(ConfigError, match="is a video model: it upscales clips, 3 frames"):
        upscale_picture(shipped, Picture(pixels=np.zeros((8, 8, 3), np.uint8)),
                        UpscaleConfig(scale=4))
    with pytest.raises(ConfigError, match="supports scales"):
        create_model("vespcn", scale=8)
    assert isinstance(create_model("vespcn", scale=4), VESPCN)


def _loaded(scale: int = 2, **hparams) -> LoadedModel:
    torch.manual_seed(0)
    spec = get_spec("vespcn")
    module = create_model("vespcn", scale=scale, **hparams).eval()
    return LoadedModel(module=module, spec=spec, scale=scale,
                       hparams=spec.resolve_hparams(hparams), meta=None, name="vespcn_test",
                       device=torch.device("cpu"))


def test_a_video_model_upscales_a_window_of_frames_tiled_as_whole():
    model = _loaded()
    rng = np.random.default_rng(0)
    window = [Picture(pixels=rng.integers(0, 256, (24, 32, 3), np.uint8)) for _ in range(3)]
    whole = upscale_picture(model, window[1], UpscaleConfig(scale=2, tile=0), window=window)
    tiled = upscale_picture(model, window[1], UpscaleConfig(scale=2, tile=16), window=window)
    assert whole.pixels.shape == (48, 64, 3)
    assert np.abs(whole.pixels.astype(int) - tiled.pixels).max() <= 1
    with pytest.raises(ConfigError, match="vespcn_test is a video model: it upscales clips, 3 "
                                          "frames at a time"):
        upscale_picture(model, window[1], UpscaleConfig(scale=2))
