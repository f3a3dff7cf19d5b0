"""Every registered architecture obeys the one calling convention (see sr_engine.registry).

Parametrised over the registry, so a newly registered arch is tested without edits here.
"""

from __future__ import annotations

import pytest
import torch

from sr_engine.archs.fsrcnn import deconv_padding, deconv_reach
from sr_engine.errors import ConfigError
from sr_engine.registry import ArchSpec, create_model, get_spec, list_models

SR_SPECS = list_models()
CASES = [pytest.param(spec, s, id=f"{spec.id}-x{s}") for spec in SR_SPECS for s in spec.scales]



# Narrow, shallow settings keep the many forward/backward runs fast on CPU; the halo
# formulas depend on depth, so they are still exercised. Unlisted archs use their defaults.
CHEAP = {
    "srcnn": {"n1": 8, "n2": 4},
    "fsrcnn": {"d": 8, "s": 4, "m": 2},
    "espcn": {"n1": 8, "n2": 4},
    "vdsr": {"n_layers": 6, "n_feats": 8},
    "drcn": {"n_feats": 8, "recursions": 3},
    "edsr": {"n_resblocks": 2, "n_feats": 8},
    "srresnet": {"n_resblocks": 2, "n_feats": 8},
    "srgan": {"n_resblocks": 2, "n_feats": 8},
    "johnson": {"n_resblocks": 1, "n_feats": 8},
    "srgan_discriminator": {"n_feats": 8, "dense": 16},
}


def cheap_model(spec: ArchSpec, scale: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(spec.id, scale=scale, **CHEAP.get(spec.id, {}))


@pytest.mark.parametrize(("spec", "scale"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("h", "w"), [(13, 11), (1, 3)])
def test_forward_shape_and_dtype(spec: ArchSpec, scale: int, dtype: torch.dtype, h: int,
                                 w: int) -> None:
    model = cheap_model(spec, scale).eval().to(dtype)
    x = torch.rand(2, spec.channels, h, w, dtype=dtype)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, spec.channels, scale * h, scale * w)
    assert y.dtype == dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("spec", "scale"), CASES)
def test_default_hparams_build_and_run(spec: ArchSpec, scale: int) -> None:
    model = create_model(spec.id, scale=scale).eval()
    with torch.no_grad():
        y = model(torch.rand(1, spec.channels, 5, 4))
    assert y.shape == (1, spec.channels, 5 * scale, 4 * scale)


@pytest.mark.parametrize(("spec", "scale"), CASES)
def test_backward_gives_finite_gradients(spec: ArchSpec, scale: int) -> None:
    model = cheap_model(spec, scale).train()
    x = torch.rand(2, spec.channels, 13, 11, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


@pytest.mark.parametrize("spec", SR_SPECS, ids=lambda s: s.id)
def test_rejects_bad_scale_and_unknown_hparams(spec: ArchSpec) -> None:
    for bad in (1, 5, 16):
        with pytest.raises(ConfigError, match="supports scales"):
            create_model(spec.id, scale=bad)
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        create_model(spec.id, scale=spec.scales[0], not_a_knob=3)
    with pytest.raises(ConfigError, match="unknown variant"):
        create_model(spec.id, scale=spec.scales[0], variant="no-such-variant")


@pytest.mark.parametrize(("spec", "scale"), CASES)
def test_halo_bounds_the_receptive_field(spec: ArchSpec, scale: int) -> None:
    """One perturbed LR pixel changes only HR pixels whose LR block is within `halo` of it,
    and the halo is tight (random weights make the whole receptive field respond)."""
    hp = spec.resolve_hparams(CHEAP.get(spec.id, {}))
    halo = spec.halo(scale, hp)
    assert 2 * halo + 1 < 48, "pick CHEAP settings whose halo fits the 48x48 probe"
    model = cheap_model(spec, scale).eval().double()  # float64: untouched pixels stay exact
    x = torch.rand(1, spec.channels, 48, 48, dtype=torch.float64)
    bumped = x.clone()
    bumped[..., 24, 24] += 0.5
    with torch.no_grad():
        diff = (model(bumped) - model(x)).abs().amax(dim=(0, 1))
    ys, xs = torch.nonzero(diff > 1e-12, as_tuple=True)
    reach = int(torch.maximum((ys // scale - 24).abs(), (xs // scale - 24).abs()).max())
    assert reach <= halo, f"{spec.id} x{scale}: output changed {reach} LR px away, halo {halo}"
    assert halo <= reach + 2, f"{spec.id} x{scale}: halo {halo} is loose (reach {reach})"


@pytest.mark.parametrize(
    ("arch_id", "scale", "hparams", "expected"),
    [
        ("srcnn", 3, {"variant": "9-5-5"}, 57_184),  # paper: 9-5-5 (n2=32, f3=5), ~57K weights
        ("srcnn", 3, {"variant": "9-1-5"}, 8_032),
        ("fsrcnn", 3, {}, 12_464),
        ("vdsr", 2, {}, 665_000),
        ("drcn", 2, {}, 1_775_000),
        ("edsr", 2, {}, 1_370_000),
        ("edsr", 4, {"variant": "full"}, 43_000_000),
        ("srresnet", 4, {}, 1_550_000),
    ],
)
def test_param_counts_match_the_papers(arch_id: str, scale: int, hparams: dict,
                                       expected: int) -> None:
    with torch.device("meta"):  # shapes only: the 43M-param EDSR costs no memory
        model = create_model(arch_id, scale=scale, **hparams)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - expected) <= 0.1 * expected, f"{arch_id}: {count} vs paper {expected}"


def test_registry_ids_unique_and_described() -> None:
    specs = list_models(kind=None)
    assert len({s.id for s in specs}) == len(specs)
    assert all(s.description and s.paper for s in specs)
    assert [s.id for s in list_models(kind="discriminator")] == ["srgan_discriminator"]


def test_bicubic_is_parameter_free_and_channel_agnostic() -> None:
    model = create_model("bicubic", scale=3)
    assert not list(model.parameters())
    for channels in (1, 3, 4):
        assert model(torch.rand(1, channels, 7, 5)).shape == (1, channels, 21, 15)


def test_bicubic_upsampling_stays_exact_under_autocast() -> None:
    model = create_model("bicubic", scale=4)
    x = torch.rand(1, 3, 9, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch_id", ["vdsr", "drcn"])
def test_global_residual_starts_from_bicubic(arch_id: str) -> None:
    """With the last conv zeroed the residual nets output exactly the bicubic upsampling."""
    model = create_model(arch_id, scale=2, **CHEAP[arch_id]).eval()
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = torch.rand(1, 1, 9, 7)
    with torch.no_grad():
        expected = create_model("bicubic", scale=2)(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)


def test_drcn_exposes_intermediate_predictions() -> None:
    model = create_model("drcn", scale=3, n_feats=8, recursions=4).eval()
    x = torch.rand(2, 1, 6, 5)
    with torch.no_grad():
        final, preds = model.forward_all(x)
        assert len(preds) == 4 and all(p.shape == (2, 1, 18, 15) for p in preds)
        weighted = sum(w * p for w, p in zip(model.ensemble, preds, strict=True))
        torch.testing.assert_close(final, weighted)
        torch.testing.assert_close(model(x), final)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_deconv_geometry(scale: int) -> None:
    pad, out_pad = deconv_padding(scale)
    assert 0 <= out_pad < scale
    assert (5 - 1) * scale - 2 * pad + 9 + out_pad == 5 * scale
    assert 1 <= deconv_reach(scale) <= 2


def test_fsrcnn_starts_from_the_papers_init() -> None:
    """Deconvolution std 0.001 and zero biases: a fresh FSRCNN outputs almost nothing,
    instead of the loud noise of PyTorch's default deconvolution init."""
    torch.manual_seed(0)
    model = create_model("fsrcnn", scale=3)
    assert model.deconv.weight.std().item() == pytest.approx(1e-3, rel=0.05)
    assert all(not p.any() for name, p in model.named_parameters() if name.endswith("bias"))
    first = model.body[0].weight  # He Gaussian, fan-out 56 * 5 * 5
    assert first.std().item() == pytest.approx((2 / (56 * 25)) ** 0.5, rel=0.1)
    assert model(torch.rand(1, 1, 12, 12)).abs().max().item() < 0.05


@pytest.mark.parametrize(("h", "w"), [(16, 16), (40, 24), (96, 96)])
def test_discriminator_gives_one_logit_per_image(h: int, w: int) -> None:
    spec = get_spec("srgan_discriminator")
    assert spec.kind == "discriminator" and spec.min_size == 16
    model = cheap_model(spec, 4).train()
    x = torch.rand(3, 3, h, w)
    logits = model(x)
    assert logits.shape == (3, 1)
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ConfigError, match="no halo"):
        spec.halo(4, spec.resolve_hparams())


def test_discriminator_default_size_is_the_papers() -> None:
    """SRGAN's D: 8 convs 64..512 then dense 1024; pooling shrinks the first dense layer."""
    with torch.device("meta"):
        model = create_model("srgan_discriminator", scale=4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
