"""Image files and training data."""

from sr_engine.data.io import Picture, load_image, picture_to_tensor, save_image, tensor_to_pixels

__all__ = ["Picture", "load_image", "picture_to_tensor", "save_image", "tensor_to_pixels"]
