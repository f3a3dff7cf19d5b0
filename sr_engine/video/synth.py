"""`make_clips`: a video evaluation set made from still images, for checking video models and
the video pipeline without video data. Each still becomes one clip folder of HR frames
(`OUT/<still name>/frame_000.png`, ...), the layout of Vid4 and of `sr-engine evaluate
--video`, moved by its own random camera path (sr_engine.data.motion). Make them from stills
no model trains on (the benchmark sets, not ../shared/data/train).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from sr_engine.data.io import IMAGE_SUFFIXES, Picture, load_image, save_image
from sr_engine.data.motion import Motion, clip_from_still
from sr_engine.errors import ConfigError
from sr_engine.progress import ProgressCallback, Reporter

RECIPE = "clips.json"  # in OUT: how the clips were made, to make them again


def make_clips(src_dir: str | Path, out_dir: str | Path, *, frames: int = 15, seed: int = 0,
               motion: Motion | None = None, progress: ProgressCallback | None = None
               ) -> list[Path]:
    """One clip folder of `frames` HR frames per still in `src_dir` (sorted by name, seeded
    one after another from `seed`), in `out_dir`; returns the folders. A still too small
    for the motion is a ConfigError naming it. Gray stills make gray clips."""
    stills = sorted(p for p in Path(src_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
        if Path(src_dir).is_dir() else []
    if not stills:
        raise ConfigError(f"no still images in {src_dir}")
    motion = motion or Motion()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    reporter = Reporter(progress, "saving", total=len(stills))
    folders = []
    for path in stills:
        pixels = load_image(path).pixels
        if pixels.dtype == np.uint16:
            pixels = (pixels // 257).astype(np.uint8)
        still = torch.tensor(pixels).permute(2, 0, 1).to(torch.float64) / 255
        try:
            clip = clip_from_still(still, frames, motion=motion, generator=generator)
        except ConfigError as exc:
            raise ConfigError(f"{path.name}: {exc}") from None
        folder = out / path.stem
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for t, frame in enumerate(clip):
            levels = torch.round(frame * 255).to(torch.uint8).permute(1, 2, 0).numpy()
            save_image(folder / f"frame_{t:03d}.png", Picture(pixels=levels))
        folders.append(folder)
        reporter.advance(message=f"{path.stem}: {len(clip)} frames of "
                                 f"{clip.shape[-1]}x{clip.shape[-2]}")
    (out / RECIPE).write_text(json.dumps({"source": str(src_dir), "frames": frames,
                                          "seed": seed, "motion": asdict(motion)}, indent=2))
    return folders
