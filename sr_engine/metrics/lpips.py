"""LPIPS, the Learned Perceptual Image Patch Similarity (Zhang, Isola, Efros, Shechtman, Wang,
"The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018), VGG
variant, version 0.1, as the authors' release (richzhang/PerceptualSimilarity) computes it:
lower is more similar, 0 for identical images.

Both RGB images, in [0, 1], are mapped to [-1, 1] then by the release's ScalingLayer,
(x - shift) / scale per channel. ImageNet VGG16 `features` give five taps, relu1_2, relu2_2,
relu3_3, relu4_3 and relu5_3 (indices 3, 8, 15, 22, 29). Each tap is unit-normalised along
channels, f / (||f||_2 + 1e-10); the squared difference of the two images' normalised
features is weighted per channel by a learned 1x1 convolution without bias (lin0..lin4,
non-negative weights, one output channel), averaged over the tap's positions, and the five
layer values are summed.

No weights are bundled or downloaded implicitly. The deployment names two files, by path or
URL (sr_engine.losses.fetch.resolve_source; read as .safetensors or with
`torch.load(weights_only=True)`, never unpickled further):

- `$SR_LPIPS_VGG16`: torchvision's ImageNet VGG16 (`vgg16-397923af.pth` or any file with
  its keys `features.N.weight` / `features.N.bias`, N up to 28);
- `$SR_LPIPS_LINEAR`: the release's `lpips/weights/v0.1/vgg.pth`, keys
  `lin{k}.model.1.weight` of shape (1, C_k, 1, 1), C = 64, 128, 256, 512, 512.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from sr_engine.errors import CheckpointError, ConfigError, ImageError
from sr_engine.losses.fetch import resolve_source
from sr_engine.losses.perceptual import (
    VGG16,
    layer_indices,
    load_vgg_weights,
    read_tensors,
    tapped,
    vgg_features,
)

ENV_BACKBONE = "SR_LPIPS_VGG16"
ENV_LINEAR = "SR_LPIPS_LINEAR"
TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)
# The release's ScalingLayer, applied to images already in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # added to the channel norm before dividing (normalize_tensor)
MIN_SIZE = 16  # four 2x2 poolings before relu5_3 leave at least one position


def linear_key(k: int) -> str:
    """Key of lin{k}'s weight in the release's state dict (a Dropout is model.0 there)."""
    return f"lin{k}.model.1.weight"


class LPIPS(nn.Module):
    """LPIPS (VGG, v0.1) between (N, 3, H, W) RGB batches in [0, 1] -> (N,) distances.

    `backbone` and `linear` are the two weight files (path or URL, see the module doc). The
    network is frozen and stays in eval mode; it computes in its parameters' dtype (float32
    unless converted) on their device. Gradients flow to the inputs when they ask for them.
    """

    def __init__(self, backbone: str | os.PathLike[str], linear: str | os.PathLike[str]) -> None:
        super().__init__()
        self.taps = layer_indices(TAPS, VGG16, "VGG16")
        self.features = vgg_features(VGG16, self.taps[-1] + 1)
        load_vgg_weights(self.features, backbone, net="VGG16")
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        load_linear_weights(self.lins, linear)
        self.requires_grad_(False).eval()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.sources = (os.fspath(backbone), os.fspath(linear))

    def train(self, mode: bool = True) -> LPIPS:
        return super().train(False)  # a fixed metric never leaves eval mode

    def layer_distances(self, a: Tensor, b: Tensor) -> Tensor:
        """(N, 5) per-tap terms (relu1_2 .. relu5_3); their row sums are the distances."""
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ConfigError(f"LPIPS compares two (N, 3, H, W) batches, got {tuple(a.shape)} "
                              f"and {tuple(b.shape)}")
        if min(a.shape[2:]) < MIN_SIZE:
            raise ImageError(f"LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, "
                             f"got {a.shape[3]}x{a.shape[2]}")
        terms = []
        for lin, fa, fb in zip(self.lins, self._taps(a), self._taps(b), strict=True):
            diff = (_unit(fa) - _unit(fb)) ** 2
            terms.append(lin(diff).mean(dim=(1, 2, 3)))
        return torch.stack(terms, dim=1)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.layer_distances(a, b).sum(dim=1)

    def _taps(self, x: Tensor) -> list[Tensor]:
        x = x.to(self.shift.device, self.shift.dtype)
        return tapped(self.features, (2.0 * x - 1.0 - self.shift) / self.scale, self.taps)


def _unit(f: Tensor) -> Tensor:
    """Features divided by their L2 norm along channels (plus EPS), per position."""
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)


def load_linear_weights(lins: nn.ModuleList, source: str | os.PathLike[str]) -> None:
    """Fill the 1x1 layers from the release's vgg.pth (path or URL); CheckpointError naming
    the key when a weight is missing, misshapen, negative or not finite."""
    path = resolve_source(source)
    keys = [linear_key(k) for k in range(len(lins))]
    found = read_tensors(path, keys)
    for key, lin in zip(keys, lins, strict=True):
        if key not in found:
            raise CheckpointError(f"{path.name}: not LPIPS VGG linear weights (no {key}; "
                                  "expected the release's lpips/weights/v0.1/vgg.pth)")
        tensor = found[key]
        if tensor.shape != lin.weight.shape:
            raise CheckpointError(f"{path.name}: {key} has shape {tuple(tensor.shape)}, "
                                  f"LPIPS VGG needs {tuple(lin.weight.shape)}")
        if not bool(torch.isfinite(tensor).all()) or bool((tensor < 0).any()):
            raise CheckpointError(f"{path.name}: {key} has negative or non-finite weights "
                                  "(LPIPS's are non-negative)")
        with torch.no_grad():
            lin.weight.copy_(tensor.to(lin.weight.dtype))


def load_lpips(backbone: str | os.PathLike[str] | None = None,
               linear: str | os.PathLike[str] | None = None) -> LPIPS:
    """The LPIPS network from the two weight files, `$SR_LPIPS_VGG16` and `$SR_LPIPS_LINEAR`
    where not given: ConfigError naming what is unset, CheckpointError for an unfit file."""
    backbone = backbone or os.environ.get(ENV_BACKBONE) or None
    linear = linear or os.environ.get(ENV_LINEAR) or None
    missing = [what for what, value in (
        (f"${ENV_BACKBONE} (torchvision's ImageNet VGG16 weights)", backbone),
        (f"${ENV_LINEAR} (the LPIPS release's v0.1 vgg.pth)", linear)) if value is None]
    if missing:
        raise ConfigError(f"LPIPS needs its weights, which are not shipped: set "
                          f"{' and '.join(missing)} to a path or URL")
    return LPIPS(backbone, linear)
