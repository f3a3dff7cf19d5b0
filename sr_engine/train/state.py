"""The resumable training state: one safetensors file, no pickle.

Tensors (model, EMA, optimizer moments, RNG states) are stored as safetensors; everything
else (step, optimizer hyperparameters, bookkeeping) as JSON in the file's metadata. Nested
dicts/tuples are encoded with tags so `load_state(save_state(x)) == x` structurally,
including the integer keys of optimizer state dicts.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from sr_engine.errors import CheckpointError

STATE_FORMAT = "sr_engine.train_state/1"
STATE_FILE = "train_state.safetensors"


def _pack(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, Tensor):
        key = f"t{len(tensors)}"
        # clone: safetensors refuses shared or strided storage (channels_last params)
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _pack(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_pack(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def _unpack(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_unpack(v, tensors) for v in obj["__tuple__"])
    return {k: _unpack(v, tensors) for k, v in obj["__dict__"]}


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write `state` (nested dicts/lists/tuples of tensors and JSON scalars) atomically."""
    tensors: dict[str, Tensor] = {}
    meta = json.dumps({"format": STATE_FORMAT, "state": _pack(state, tensors)})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"sr_engine": meta})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by `save_state`; CheckpointError if it is not one."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["sr_engine"])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - not a dict
    except FileNotFoundError:
        raise CheckpointError(f"training state not found: {path}") from None
    except Exception as exc:  # safetensors errors, missing or bad metadata
        raise CheckpointError(f"{path}: not a training state ({exc})") from None
    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: unknown training-state format {meta.get('format')!r}")
    return _unpack(meta["state"], tensors)


def rng_state(data_state: Tensor) -> dict[str, Any]:
    """Every random stream a step draws from: torch's global CPU/CUDA ones and the data's
    (`data_state`: its generator's state after the last batch trained on)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "data": data_state}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], data_generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    data_generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
