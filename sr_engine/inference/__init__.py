"""Tiled inference: upscale tensors, decoded pictures and image files with bounded memory."""

from sr_engine.inference.config import UpscaleConfig
from sr_engine.inference.files import UpscaleResult, expand_inputs, upscale_file, upscale_files
from sr_engine.inference.picture import upscale_picture
from sr_engine.inference.tensor import upscale_tensor
from sr_engine.inference.tiling import Box, SizeRules, Tile, plan_tiles

__all__ = ["Box", "SizeRules", "Tile", "UpscaleConfig", "UpscaleResult", "expand_inputs",
           "plan_tiles", "upscale_file", "upscale_files", "upscale_picture", "upscale_tensor"]
