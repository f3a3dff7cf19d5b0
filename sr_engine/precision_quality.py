"""What reduced precision costs each checkpoint: PSNR in bf16/fp16 against fp32 on the
validation sets, measured by `sr-engine benchmark` and kept in `precision.json` beside the
weights, where precision "auto" reads it (sr_engine.inference.auto). Each reduced precision is
measured each way inference may run it (sr_engine.inference.fast): under autocast ("bf16"),
as a copy of the weights in that dtype ("bf16-native") and as that copy's fused graph
("bf16-fused", which rounds its fused adds once)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from sr_engine.benchmark import QualityRow
from sr_engine.evaluate import evaluate, load_eval_set
from sr_engine.inference.auto import CANDIDATES, MAX_DROP_DB, fastest_precision
from sr_engine.inference.fast import CANDIDATES as WAYS
from sr_engine.inference.fast import build_variant, quality_key
from sr_engine.inference.precision import AUTOCAST_DTYPES, autocast_supported
from sr_engine.paths import atomic_write_text
from sr_engine.progress import ProgressCallback
from sr_engine.zoo import load_model, resolve_device


@dataclass(frozen=True)
class PrecisionRow:
    model: str
    scale: int
    dataset: str
    precision: str
    psnr_fp32: float
    psnr: float

    @property
    def drop(self) -> float:
        """dB lost against fp32 (>= 0; a gain counts as no loss)."""
        return max(0.0, self.psnr_fp32 - self.psnr)


def precisions_to_check(device: torch.device, mode: str) -> list[str]:
    """"auto": the precision auto would pick on this device, if not fp32 (measuring one it
    never picks costs time for nothing, e.g. emulated bf16); "always": every candidate the
    device can run; "never": none."""
    if mode == "never":
        return []
    if mode == "auto":
        fast = fastest_precision(device)
        return [] if fast == "fp32" else [fast]
    return [p for p in CANDIDATES.get(device.type, ())
            if autocast_supported(device.type, AUTOCAST_DTYPES[p])]


def precision_ways(precision: str) -> list[str]:
    """One way per distinct rounding (a frozen graph rounds as the weight copy it freezes)."""
    return ["eager", *(w for w in WAYS[precision] if w in ("native", "native-fused"))]


def precision_rows(quality: Iterable[QualityRow], data_dirs: Sequence[Path],
                   precisions: Sequence[str], *, device: str = "auto",
                   progress: ProgressCallback | None = None) -> list[PrecisionRow]:
    """Each checkpoint of `quality` (its fp32 rows) evaluated again in each precision, each
    way (a way that cannot be built gets no row, so inference never picks it)."""
    dev = resolve_device(device)
    fp32 = {(r.model, r.scale, r.dataset): r.psnr for r in quality if r.arch != "bicubic"}
    sources = {(r.model, r.scale): r.source or r.model for r in quality}
    rows = []
    for model_name, scale in sorted({(m, s) for m, s, _ in fp32}):
        model = load_model(sources[model_name, scale], scale=scale, device=dev)
        for data_dir in data_dirs:
            if (model_name, scale, data_dir.name) not in fp32:
                continue
            data = load_eval_set(data_dir, scale=scale)
            for precision in precisions:
                for way in precision_ways(precision):
                    try:
                        runner = build_variant(model, precision, way)
                    except Exception:  # noqa: BLE001 - unmeasured: inference never runs it
                        continue
                    report = evaluate(model, data, progress=progress, precision=precision,
                                      runner=runner)
                    rows.append(PrecisionRow(model_name, scale, data_dir.name,
                                             quality_key(precision, way),
                                             fp32[model_name, scale, data_dir.name],
                                             report.psnr_y))
    return rows


def precision_table(rows: Sequence[PrecisionRow]) -> list[str]:
    lines = ["| model | dataset | precision | PSNR fp32 | PSNR | drop (dB) | auto may use it |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = "yes" if r.drop <= MAX_DROP_DB else "no (fp32 kept)"
        lines.append(f"| {r.model} | {r.dataset} | {r.precision} | {r.psnr_fp32:.3f} | "
                     f"{r.psnr:.3f} | {r.drop:.4f} | {ok} |")
    return lines


def write_precision_file(path: Path, rows: Sequence[PrecisionRow]) -> dict:
    """Merge the largest drop per model and precision into `path` (measurements of other
    precisions, made on other machines, stay)."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    worst: dict[tuple[str, str], float] = {}
    for r in rows:
        worst[r.model, r.precision] = max(worst.get((r.model, r.precision), 0.0), r.drop)
    for (model, precision), drop in worst.items():
        table.setdefault(model, {})[precision] = round(drop, 5)
    atomic_write_text(path, json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table
