"""Training losses: pixel (L1, MSE, Charbonnier), perceptual (VGG19), adversarial (SRGAN)."""

from sr_engine.losses.adversarial import discriminator_loss, generator_adversarial_loss
from sr_engine.losses.content import ContentLoss, mean_parts
from sr_engine.losses.fetch import cache_dir, expand_path, resolve_source
from sr_engine.losses.perceptual import (
    VGG16_LAYERS,
    VGG19_LAYERS,
    PerceptualLoss,
    layer_indices,
    load_vgg19_weights,
    load_vgg_weights,
    vgg19_features,
    vgg_features,
)
from sr_engine.losses.pixel import PIXEL_LOSSES, charbonnier_loss, l1_loss, mse_loss

__all__ = [
    "PIXEL_LOSSES", "VGG16_LAYERS", "VGG19_LAYERS", "ContentLoss", "PerceptualLoss", "cache_dir",
    "charbonnier_loss", "discriminator_loss", "expand_path", "generator_adversarial_loss",
    "l1_loss", "layer_indices", "load_vgg19_weights", "load_vgg_weights", "mean_parts",
    "mse_loss", "resolve_source", "vgg19_features", "vgg_features",
]
