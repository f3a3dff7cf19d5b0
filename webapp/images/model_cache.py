"""The worker's loaded models, shared by image, video and evaluation jobs."""

from __future__ import annotations

from pathlib import Path

from sr_engine.zoo import LoadedModel, load_model

# Loaded models stay in the worker process: loading weights costs more than a small image.
# A checkpoint path is keyed with its file's mtime, size and inode too: a promoted model that was
# deleted and promoted again under the same name has new weights at the same path.
_MODEL_CACHE: dict[tuple[str, int, str], tuple[tuple[int, ...] | None, LoadedModel]] = {}


def _file_stamp(name: str) -> tuple[int, ...] | None:
    path = Path(name)
    if not path.is_file():
        return None  # a registry id (or a file that is gone: loading will say so)
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def cached_model(name: str, scale: int, device: str) -> LoadedModel:
    key, stamp = (name, scale, device), _file_stamp(name)
    cached = _MODEL_CACHE.get(key)
    if cached is None or cached[0] != stamp:
        _MODEL_CACHE[key] = (stamp, load_model(name, scale=scale, device=device))
    return _MODEL_CACHE[key][1]
