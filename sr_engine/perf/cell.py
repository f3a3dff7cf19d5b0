"""One measurement, run in a fresh process so its peak memory is its own:
`python -m sr_engine.perf.cell MODEL SCALE WxH METHOD REPEATS` prints one JSON line
({"seconds": [...], "peak_rss_mib": ..., "precision": ...})."""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sr_engine.data.io import Picture
from sr_engine.inference.auto import resolve_precision
from sr_engine.inference.config import UpscaleConfig
from sr_engine.perf.methods import METHODS
from sr_engine.zoo import load_model

# Warm-ups run on a crop: they set up oneDNN and TorchScript, and a full-size warm-up of a slow
# model costs as much as the measurement. Inputs over WARM_LIMIT pixels take one round.
WARM_LIMIT, WARM_SIZE = 1_000_000, 128


@dataclass(frozen=True)
class CellResult:
    seconds: list[float]
    peak_rss_mib: float
    precision: str  # what ran: "auto" resolved for the engine, fp32 for the peers


def parse_size(text: str) -> tuple[int, int]:
    """"480x320" -> (width, height)."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def measure(model_id: str, scale: int, size: tuple[int, int], method: str,
            repeats: int) -> CellResult:
    """Time `repeats` runs of `method` after two warm-up runs on a crop."""
    model = load_model(model_id, scale=scale, device="cpu")
    run = METHODS[method]
    width, height = size
    generator = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 256, (height, width, model.spec.channels), generator=generator,
                           dtype=torch.uint8)
    picture = Picture(pixels=levels.numpy())
    lr = levels.permute(2, 0, 1)[None].float() / 255
    warm_lr = lr[..., :WARM_SIZE, :WARM_SIZE]
    warm_picture = Picture(pixels=picture.pixels[:WARM_SIZE, :WARM_SIZE])
    for _ in range(2):  # TorchScript profiles a frozen graph's first call, optimises the second
        run(model, warm_lr, warm_picture)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(model, lr, picture)
        seconds.append(time.perf_counter() - start)
    precision = "fp32" if method.startswith(("plain", "realesrgan")) else \
        resolve_precision(UpscaleConfig().precision, torch.device("cpu"), model.name)
    return CellResult(seconds, peak_rss_mib(), precision)


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss across exec, so a child would report its parent's peak when that is larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    model_id, scale, size, method, repeats = argv
    result = measure(model_id, int(scale), parse_size(size), method, int(repeats))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
