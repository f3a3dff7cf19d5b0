"""Perceptual (VGG feature) loss, Johnson et al. 2016 / SRGAN's VGG54.

The VGG `features` stacks (VGG19 here; VGG16 for LPIPS, sr_engine.metrics.lpips) are
defined with torchvision's layer indices, so weights saved from `torchvision.models.vgg19()`
/ `vgg16()` (keys `features.N.weight` / `features.N.bias`) load as they are. Weights are
never bundled nor fetched implicitly: the user names a .safetensors file or a .pth file
(read with `torch.load(weights_only=True)`), by path or URL. Only the layers up to the
deepest requested one are built and need to be in the file.

`random:SEED` instead of a file is an untrained VGG19 with torchvision's initialisation
(Kaiming-normal, fan_out, zero biases) drawn from SEED: the "generic perceptual loss" of
Liu et al. (CVPR 2021), what this project trains its perceptual models with because no
ImageNet weights can be fetched here (docs/PERCEPTUAL.md). Every loss reports the network
it used (`describe()`), which training records in the checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Collection, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor, nn

from sr_engine.errors import CheckpointError, ConfigError
from sr_engine.losses.fetch import resolve_source

# Torchvision's VGG configurations, "E" (VGG19) and "D" (VGG16): conv widths, "M" = 2x2
# max-pooling.
VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
         512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
         512, 512, 512, "M", 512, 512, 512, "M")
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
RANDOM_PREFIX = "random:"  # `random:SEED`: an untrained VGG19 drawn from SEED

VggConfig = tuple[int | str, ...]


def layer_table(config: VggConfig) -> dict[str, int]:
    """Names `conv{block}_{i}`, `relu{block}_{i}`, `pool{block}` -> index in `features`."""
    table, index, block, conv = {}, 0, 1, 0
    for item in config:
        if item == "M":
            table[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 0
        else:
            conv += 1
            table[f"conv{block}_{conv}"] = index
            table[f"relu{block}_{conv}"] = index + 1
            index += 2
    return table


VGG19_LAYERS: dict[str, int] = layer_table(VGG19)
VGG16_LAYERS: dict[str, int] = layer_table(VGG16)


def layer_indices(names: Sequence[str], config: VggConfig = VGG19,
                  net: str = "VGG19") -> list[int]:
    """Indices in `features` of the named layers; unknown names are ConfigErrors."""
    table = layer_table(config)
    unknown = [n for n in names if n not in table]
    if unknown or not names:
        deepest = [n for n in table if n.startswith("relu")][-1]  # relu5_4 in VGG19
        raise ConfigError(f"unknown {net} layer(s) {unknown}; use names like {deepest}, conv2_2")
    return [table[n] for n in names]


def vgg_features(config: VggConfig, depth: int) -> nn.Sequential:
    """Untrained VGG `features` layers 0..depth-1 of `config`, torchvision indices."""
    layers: list[nn.Module] = []
    channels = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers[:depth])


def vgg19_features(depth: int) -> nn.Sequential:
    """Untrained VGG19 `features` layers 0..depth-1, torchvision indices."""
    return vgg_features(VGG19, depth)


def load_vgg_weights(features: nn.Sequential, source: str | os.PathLike[str], *,
                     net: str = "VGG19") -> None:
    """Fill the conv layers of `features` (a `net`) from a path or URL; CheckpointError
    if the file is unreadable or lacks a tensor of the right shape."""
    path = resolve_source(source)
    wanted = {f"features.{i}.{p}": t for i, m in enumerate(features)
              if isinstance(m, nn.Conv2d) for p, t in m.named_parameters()}
    found = read_tensors(path, wanted)
    for key, param in wanted.items():
        if key not in found:
            raise CheckpointError(f"{path.name}: not {net} weights (no {key}; expected "
                                  "torchvision key names features.N.weight/bias)")
        if found[key].shape != param.shape:
            raise CheckpointError(f"{path.name}: {key} has shape {tuple(found[key].shape)}, "
                                  f"{net} needs {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(found[key].to(param.dtype))


def load_vgg19_weights(features: nn.Sequential, source: str | os.PathLike[str]) -> None:
    """Fill the conv layers of VGG19 `features` from a path or URL; CheckpointError if unfit."""
    load_vgg_weights(features, source, net="VGG19")


def tapped(features: nn.Sequential, x: Tensor, taps: Collection[int]) -> list[Tensor]:
    """Run `x` through `features`; the outputs of the layers at indices `taps`, in order."""
    out = []
    for i, layer in enumerate(features):
        x = layer(x)
        if i in taps:
            out.append(x)
    return out


def random_seed(source: str | os.PathLike[str]) -> int | None:
    """SEED of a `random:SEED` source, None for a file or URL; ConfigError if malformed."""
    text = os.fspath(source)
    if not text.startswith(RANDOM_PREFIX):
        return None
    try:
        return int(text[len(RANDOM_PREFIX):])
    except ValueError:
        raise ConfigError(f"{text!r}: write random:SEED with an integer seed") from None


def init_random_vgg19(features: nn.Sequential, seed: int) -> None:
    """torchvision's VGG initialisation from `seed`, identical on every machine (CPU draws)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in features:
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1]
                std = (2.0 / fan_out) ** 0.5  # kaiming_normal_(mode="fan_out", relu)
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * std)
                layer.bias.zero_()


def weights_sha256(features: nn.Sequential) -> str:
    """sha256 over the conv tensors actually used (float32 bytes in layer order): names the
    feature network whether it came from a file, a URL or a seed."""
    digest = hashlib.sha256()
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            for t in (layer.weight, layer.bias):
                digest.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def read_tensors(path: Path, wanted: Collection[str]) -> dict[str, Tensor]:
    """The tensors named in `wanted` that the .safetensors or .pth file at `path` holds
    (`torch.load(weights_only=True)`: no arbitrary objects); CheckpointError if unreadable."""
    try:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as fh:
                present = set(fh.keys())
                return {k: fh.get_tensor(k) for k in wanted if k in present}
        # mmap: a full torchvision file is 550 MB, of which we may need a few layers; the
        # legacy (pre-zip, e.g. torchvision's own 2017 vgg19 file) format cannot be mapped.
        state = torch.load(path, map_location="cpu", weights_only=True,
                           mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # safetensors and torch.load raise many types for bad files
        raise CheckpointError(f"{path.name}: unreadable weights file ({exc})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path.name}: expected a state dict, got {type(state).__name__}")
    return {k: v for k, v in state.items() if k in wanted and isinstance(v, Tensor)}


class PerceptualLoss(nn.Module):
    """Mean over `layers` of the MSE between VGG19 features of sr and hr.

    Inputs are (N, C, H, W) float in [0, 1] with C = 3 (RGB) or 1 (Y, repeated to 3);
    ImageNet normalisation happens inside. The VGG is frozen and kept in eval mode.
    """

    def __init__(self, weights: str | os.PathLike[str], layers: Sequence[str]) -> None:
        super().__init__()
        self.taps = sorted(set(layer_indices(layers)))
        self.features = vgg19_features(self.taps[-1] + 1)
        seed = random_seed(weights)
        if seed is None:
            load_vgg19_weights(self.features, weights)
        else:
            init_random_vgg19(self.features, seed)
        self.features.requires_grad_(False).eval()
        self.source, self.layers = os.fspath(weights), list(layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def describe(self) -> dict[str, str]:
        """What a checkpoint records about its loss network (the card prints it)."""
        kind = "random init" if random_seed(self.source) is not None else "file"
        return {"net": "vgg19", "weights": self.source, "kind": kind,
                "layers": ",".join(self.layers), "sha256": weights_sha256(self.features)}

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)  # a fixed feature extractor never leaves eval mode

    def _taps(self, x: Tensor) -> list[Tensor]:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return tapped(self.features, (x - self.mean) / self.std, self.taps)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        with torch.no_grad():
            targets = self._taps(hr)
        feats = self._taps(sr)
        losses = [F.mse_loss(f.float(), t.float()) for f, t in zip(feats, targets, strict=True)]
        return torch.stack(losses).mean()
