"""`sr-engine` / `python -m sr_engine`: upscale, train, evaluate, benchmark, ship, models,
inspect.

Thin: parse arguments, build the engine's config objects, call engine functions, print.
Every error the engine raises on purpose ends the command with one line and exit status 2.
Subcommands import the engine (and with it torch, ~1.5 s) inside their functions, so `--help`
and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sr_engine import perf as perf_defaults
from sr_engine.console import BarProgress, StopOnSignal
from sr_engine.errors import Cancelled, ConfigError, EngineError, TrainingStopped
from sr_engine.video import is_video

if TYPE_CHECKING:
    from sr_engine.inference import UpscaleConfig

DEFAULT_SETS = ("Set5", "Set14")


def _shared_benchmark_dirs() -> list[Path]:
    from sr_engine.paths import shared_data_dir

    root = shared_data_dir()
    if root is None:
        return []
    return [root / "benchmark" / s for s in DEFAULT_SETS if (root / "benchmark" / s).is_dir()]


def cmd_upscale(args: argparse.Namespace) -> int:
    from sr_engine.inference import UpscaleConfig, upscale_file, upscale_files
    from sr_engine.zoo import own_scale

    scale = args.scale or own_scale(args.model)
    config = UpscaleConfig(model=args.model, scale=scale, tile=args.tile, overlap=args.overlap,
                           batch=args.batch, device=args.device, precision=args.precision,
                           format=args.format, color_fix=args.color_fix)
    bar = BarProgress(quiet=args.quiet)
    out = Path(args.output)
    single = len(args.inputs) == 1 and Path(args.inputs[0]).is_file() and out.suffix != ""
    if single and is_video(args.inputs[0]):
        return _upscale_video(args, config, bar)
    try:
        if single:
            results = [upscale_file(args.inputs[0], out, config, progress=bar)]
        else:
            results = upscale_files(args.inputs, out, config, progress=bar)
    finally:
        bar.close()
    for r in results:
        print(f"{r.src} -> {r.dst} ({r.output_size[0]}x{r.output_size[1]}, {r.seconds:.2f} s)")
    return 0


def _upscale_video(args: argparse.Namespace, config: UpscaleConfig, bar: BarProgress) -> int:
    from sr_engine.video.config import VideoConfig
    from sr_engine.video.upscale import upscale_video

    end = args.end if args.preview is None else args.start + args.preview
    video = VideoConfig(codec=args.codec, crf=args.crf, start_s=args.start, end_s=end,
                        segment_s=args.segment)
    try:
        r = upscale_video(args.inputs[0], args.output, config, video, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print("sr-engine: the finished segments are kept; run the same command again to "
              "resume after them", file=sys.stderr)
        raise
    finally:
        bar.close()
    resumed = f", {r.resumed} of them from an interrupted run" if r.resumed else ""
    print(f"{r.src} -> {r.dst} ({r.output_size[0]}x{r.output_size[1]}, {r.frames} frames"
          f"{resumed}, {r.seconds:.2f} s)")
    for note in r.notes:
        print(f"  note: {note}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from sr_engine.ship import record_session
    from sr_engine.train import TrainConfig, train
    from sr_engine.zoo import resolve_device

    config = TrainConfig.from_toml(args.recipe).with_overrides(args.set or [])
    device = str(resolve_device(config.train.device))
    bar = BarProgress(quiet=args.quiet)
    try:
        with StopOnSignal(bar) as progress:
            result = train(config, progress=progress,
                           resume=Path(args.resume) if args.resume else None)
    except TrainingStopped as stop:  # Ctrl-C: the state is saved; the card keeps the session
        record_session(stop.out_dir, command=_command_line(args), seconds=stop.seconds,
                       steps=stop.step, device=device)
        print(f"sr-engine: stopped at step {stop.step}; continue with the same command and "
              f"--resume {stop.out_dir}", file=sys.stderr)
        return 130
    except Cancelled:  # Ctrl-C while loading: no step was taken, so nothing needs saving
        print("sr-engine: stopped while loading, before any training step", file=sys.stderr)
        return 130
    finally:
        bar.close()
    record_session(result.out_dir, command=_command_line(args), seconds=result.seconds,
                   steps=result.steps, device=device)
    print(f"trained {result.steps} steps in {result.seconds:.0f} s; "
          f"best: {result.best_checkpoint}; last: {result.last_checkpoint}; "
          f"metrics: {json.dumps(result.best_metrics)}")
    return 0


# evaluate --metrics name -> (report key, per-image cell, mean in the summary line)
_EVAL_COLUMNS = {"psnr": ("psnr_y", "{:8.2f} dB", "PSNR {:.2f} dB"),
                 "ssim": ("ssim_y", "{:.4f}", "SSIM {:.4f}"),
                 "niqe": ("niqe", "NIQE {:.4f}", "NIQE {:.4f}"),
                 "lpips": ("lpips", "LPIPS {:.4f}", "LPIPS {:.4f}")}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sr_engine.evaluate import parse_metrics

    metrics = parse_metrics(args.metrics)
    if args.video:
        for name in ("niqe", "lpips"):
            if name in metrics:
                raise ConfigError(f"--metrics {name} applies to --data image sets only")
        return _evaluate_video(args)
    from sr_engine.evaluate import evaluate
    from sr_engine.zoo import load_model, resolve_device

    if args.degradation != "bi":
        raise ConfigError("--degradation bd applies to --video sets only")
    model = load_model(args.model, scale=args.scale, device=resolve_device(args.device))
    bar = BarProgress(quiet=args.quiet or args.json)
    try:
        report = evaluate(model, Path(args.data), scale=model.scale, progress=bar,
                          precision=args.precision, with_niqe="niqe" in metrics,
                          with_lpips="lpips" in metrics)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    columns = [_EVAL_COLUMNS[m] for m in metrics]
    for item in report.per_image:
        cells = "  ".join(cell.format(item[key]) for key, cell, _ in columns)
        print(f"{item['name']:<20} {cells}")
    means = ", ".join(mean.format(getattr(report, key)) for key, _, mean in columns)
    print(f"{report.dataset} x{report.scale} {model.name}: {means} over {report.n_images} images")
    return 0


def _evaluate_video(args: argparse.Namespace) -> int:
    from sr_engine.video.evaluate import evaluate_video, fmt_figure
    from sr_engine.zoo import load_model, resolve_device

    model = load_model(args.model, scale=args.scale, device=resolve_device(args.device))
    bar = BarProgress(quiet=args.quiet or args.json)
    try:
        report = evaluate_video(model, Path(args.video), scale=model.scale,
                                degradation=args.degradation, precision=args.precision,
                                progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"{'clip':<20} {'frames':>6} {'PSNR':>8}    {'SSIM':<6}  {'tE':>6} "
          f"{'warp SR':>8} {'warp HR':>8}")
    for c in report.per_clip:
        print(f"{c.name:<20} {c.n_frames:>6} {c.psnr_y:8.2f} dB {c.ssim_y:.4f}  "
              f"{fmt_figure(c.temporal_error):>6} {fmt_figure(c.warp_error_sr):>8} "
              f"{fmt_figure(c.warp_error_hr):>8}")
    print(f"{report.dataset} x{report.scale} {report.degradation.upper()} {model.name}: "
          f"PSNR {report.psnr_y:.2f} dB, SSIM {report.ssim_y:.4f} (frames, then clips: "
          f"{report.n_clips} clips, {report.n_frames} frames); temporal error "
          f"{fmt_figure(report.temporal_error)}, warping error "
          f"{fmt_figure(report.warp_error_sr)} (HR frames {fmt_figure(report.warp_error_hr)})")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from sr_engine import benchmark as bm
    from sr_engine import precision_quality as pq
    from sr_engine.metrics.niqe import niqe_params_path
    from sr_engine.perf import table as perf
    from sr_engine.video import quality as vq
    from sr_engine.video import speed as vs
    from sr_engine.zoo import resolve_device

    models = args.models or bm.default_models()
    data = [Path(d) for d in args.data] if args.data else _shared_benchmark_dirs()
    bar = BarProgress(quiet=args.quiet)
    try:
        niqe_ok = niqe_params_path().is_file()
        quality, skipped = ([], []) if args.no_quality or not data else bm.quality_rows(
            models, args.scales, data, device=args.device, progress=bar, niqe=niqe_ok)
        checks = pq.precisions_to_check(resolve_device(args.device), args.precision_check)
        reduced = pq.precision_rows(quality, data, checks, device=args.device,
                                    progress=bar) if quality and checks else []
        if reduced and args.precision_file:  # now: the speed runs below read it
            pq.write_precision_file(Path(args.precision_file), reduced)
        clips, label = vq.clip_set(args.video_data, data, Path(tempfile.gettempdir())
                                   / "sr-engine-dev-clips") \
            if not (args.no_quality or args.no_video) and vq.SCALE in args.scales \
            else (Path(), "")
        vquality = vq.video_quality_rows(vq.default_models(), clips, device=args.device,
                                         progress=bar) if label else []
        archs = [m for m in models if not Path(m).suffix]  # speed is per arch, not per file
        speed = [] if args.no_speed else bm.speed_rows(
            archs, args.scales, devices=args.devices, precisions=args.precisions,
            hr_size=args.speed_size, repeats=args.repeats, progress=bar)
        run_video = not (args.no_speed or args.no_video) and args.video_frames > 0 \
            and vs.VIDEO_SCALE in args.scales
        video, left_out = vs.video_speed_rows(
            archs, devices=args.devices, precisions=args.precisions,
            size=args.video_size or vs.VIDEO_SIZE, frames=args.video_frames,
            budget_s=args.video_budget, progress=bar) if run_video else ([], [])
        measured = perf.run_perf(args.perf_models, args.perf_sizes, rounds=args.perf_rounds,
                                 budget_s=args.perf_budget, progress=bar) if args.perf else None
    finally:
        bar.close()
    if not data and not args.no_quality:
        skipped.append("quality: no --data given and ../shared/data/benchmark not found")
    if quality and not niqe_ok:
        skipped.append(f"NIQE: no pristine model at {niqe_params_path()} (set SR_NIQE_PARAMS)")
    if quality and not checks:
        skipped.append("reduced precision: not measured (auto uses fp32 on this device; "
                       "--precision-check always measures it anyway)")
    regressed = []
    if measured and args.perf_json:
        regressed = perf.regressions(measured, perf.load_kept(Path(args.perf_json)))
        if args.perf_accept or not regressed:
            perf.keep(measured, Path(args.perf_json))
    text = bm.render_markdown(quality, speed, skipped, _command_line(args),
                              precision=pq.precision_table(reduced) if reduced else [],
                              perf=perf.perf_markdown(measured) if measured else [],
                              video=vs.video_speed_table(video, left_out),
                              video_quality=vq.video_quality_table(vquality, label))
    if args.out:
        from sr_engine.paths import atomic_write_text

        atomic_write_text(Path(args.out), text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    for line in regressed:
        print(f"performance regression: {line}", file=sys.stderr)
    if regressed and not args.perf_accept:
        print(f"{args.perf_json} kept as it was (--perf-accept records this run anyway)",
              file=sys.stderr)
        return 1
    return 0


def cmd_ship(args: argparse.Namespace) -> int:
    from sr_engine.ship import ship_run

    print(f"shipped {ship_run(Path(args.run_dir), force=args.force)}")
    return 0


def cmd_train_bench(args: argparse.Namespace) -> int:
    from sr_engine.train import throughput as tb

    rows = tb.measure(args.models or tb.DEFAULT_MODELS, rounds=args.rounds, round_s=args.round_s,
                      precision=args.precision, overrides=args.set or [],
                      log=None if args.quiet else lambda line: print(line, file=sys.stderr))
    report = tb.report(rows, _command_line(args))
    text = "\n".join(tb.render_markdown(rows, report))
    from sr_engine.paths import atomic_write_text

    for path, content in ((args.out, text), (args.json, json.dumps(report, indent=2))):
        if path:
            atomic_write_text(Path(path), content + "\n")
            print(f"wrote {path}")
    if not args.out:
        print(text)
    return 0


def _tile(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number of pixels, got {text!r}")\
            from None


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, got {text!r}")
    return int(width), int(height)


def _command_line(args: argparse.Namespace) -> str:
    return "sr-engine " + " ".join(shlex.quote(a) for a in args.argv)


def cmd_models(args: argparse.Namespace) -> int:
    from sr_engine.registry import list_models
    from sr_engine.zoo import available_checkpoints

    print("Registered architectures:")
    for s in list_models(kind=None):
        scales = ",".join(f"x{x}" for x in s.scales)
        print(f"  {s.id:<20} {s.kind:<13} {s.color:<3} {s.input_space:<9} {scales:<12} "
              f"{s.description}")
    print("Available checkpoints:")
    found = available_checkpoints()
    for path, meta in found:
        print(f"  {meta.arch:<10} x{meta.scale}  step {meta.step:<8} {meta.summary()}  {path}")
    if not found:
        print("  (none: train one with `sr-engine train RECIPE.toml`)")
    return 0


def cmd_make_clips(args: argparse.Namespace) -> int:
    from sr_engine.data.motion import Motion
    from sr_engine.video.synth import make_clips

    bar = BarProgress(quiet=args.quiet)
    try:
        folders = make_clips(args.stills, args.output, frames=args.frames, seed=args.seed,
                             motion=Motion(shift=args.shift), progress=bar)
    finally:
        bar.close()
    print(f"{len(folders)} clips of {args.frames} frames in {args.output} "
          f"(score a model on them: sr-engine evaluate --video {args.output})")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from sr_engine.checkpoint import read_meta
    from sr_engine.video.io import probe

    path = Path(args.checkpoint)
    info = probe(path) if is_video(path) else read_meta(path)
    print(json.dumps(info.to_dict(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-engine", description="Super-resolution engine")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upscale", help="upscale image files or folders")
    up.add_argument("inputs", nargs="+", metavar="INPUT")
    up.add_argument("-o", "--output", required=True,
                    help="output file (one input file) or folder")
    up.add_argument("--model", default="bicubic", help="registry id or checkpoint path")
    up.add_argument("--scale", type=int, default=None,
                    help="default: the model's own (espcn_x2: 2), else 4")
    up.add_argument("--tile", type=_tile, default="auto",
                    help="LR tile size; 0 = no tiling; auto (default) = the whole image or the "
                         "largest tiles that fit SR_ENGINE_TILE_MEMORY_MB (1024)")
    up.add_argument("--overlap", type=int, default=None, help="default: the model's halo")
    up.add_argument("--batch", type=int, default=4, help="tiles per forward pass")
    up.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    up.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                    help="auto: the fastest precision that keeps the model's quality here")
    up.add_argument("--format", default=None, help="output format (default: from extension)")
    up.add_argument("--color-fix", choices=["auto", "hist", "meanstd", "none"], default="auto",
                    help="give the output the input's colours: hist (histogram matching), "
                         "meanstd (mean/std transfer), none; auto (default) = what the "
                         "model's checkpoint asks for, none for PSNR-trained models")
    up.add_argument("--codec", choices=["h264", "h265", "vp9", "av1"], default="h264",
                    help="video codec of an upscaled clip (audio and subtitles are copied)")
    up.add_argument("--crf", type=int, default=18, help="video quality: lower is better")
    up.add_argument("--start", type=float, default=0.0, metavar="SECONDS",
                    help="a clip from this time on (the output starts at 0)")
    up.add_argument("--end", type=float, default=None, metavar="SECONDS",
                    help="a clip up to this time")
    up.add_argument("--preview", type=float, default=None, metavar="SECONDS",
                    help="SECONDS of a clip from --start only (to judge a model quickly)")
    up.add_argument("--segment", type=float, default=60.0, metavar="SECONDS",
                    help="seconds of work kept at a time: an interrupted clip resumes after "
                         "its last finished segment")
    up.set_defaults(func=cmd_upscale)

    tr = sub.add_parser("train", help="train a model from a TOML recipe")
    tr.add_argument("recipe")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key")
    tr.add_argument("--resume", default=None, help="training state to resume from")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="PSNR/SSIM (and NIQE, LPIPS) with the standard protocol")
    ev.add_argument("--model", required=True)
    ev.add_argument("--scale", type=int, default=None)
    sets = ev.add_mutually_exclusive_group(required=True)
    sets.add_argument("--data",
                      help="folder of HR images (or holding HR/, or *_HR beside *_LR files)")
    sets.add_argument("--video", metavar="DIR",
                      help="video set: one folder of HR frames per clip (Vid4, REDS4, UDM10 "
                           "layout); Y PSNR/SSIM per clip and over clips, temporal error, "
                           "warping error beside the HR frames'")
    ev.add_argument("--degradation", choices=["bi", "bd"], default="bi",
                    help="LR of each --video frame: bi = MATLAB bicubic, bd = 7x7 Gaussian "
                         "blur (sigma 1.6) then every scale-th pixel")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    ev.add_argument("--metrics", default="psnr,ssim", metavar="LIST",
                    help="comma list of psnr, ssim, niqe, lpips (default psnr,ssim): the "
                         "columns printed; niqe adds NIQE (no reference, lower is more natural) "
                         "of each output's Y, border shaved by the scale, with the pristine "
                         "model from $SR_NIQE_PARAMS or ../shared/data/metrics; lpips adds "
                         "LPIPS (VGG, lower is closer) of each RGB output against the HR, "
                         "border shaved, with ImageNet VGG16 weights from $SR_LPIPS_VGG16 and "
                         "the LPIPS release's vgg.pth from $SR_LPIPS_LINEAR (paths or URLs; "
                         "--data sets only)")
    ev.add_argument("--json", action="store_true",
                    help="print one JSON object (PSNR and SSIM always; niqe, lpips null unless "
                         "asked)")
    ev.set_defaults(func=cmd_evaluate)

    bm = sub.add_parser("benchmark", help="write quality and speed tables")
    bm.add_argument("--models", nargs="+", default=None, help="ids or checkpoints (default: all)")
    bm.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
    bm.add_argument("--data", nargs="+", default=None, help="default: ../shared Set5 and Set14")
    bm.add_argument("--out", default=None, help="markdown file to write (default: stdout)")
    bm.add_argument("--device", default="auto", help="device for the quality table")
    bm.add_argument("--devices", nargs="+", default=["cpu"], help="devices for the speed table")
    bm.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    bm.add_argument("--speed-size", type=int, default=192,
                    help="output edge of the speed test (LR = size / scale)")
    bm.add_argument("--repeats", type=int, default=3)
    bm.add_argument("--video-frames", type=int, default=3,
                    help="frames timed per model and precision in the video speed table (x4, "
                         "run when 4 is among --scales; 0: no video table)")
    bm.add_argument("--video-size", type=_size, default=None, metavar="WxH",
                    help="input frame of the video speed table (default 854x480: 480p, 16:9)")
    bm.add_argument("--video-budget", type=float, default=60.0, metavar="SECONDS",
                    help="time no more frames of a model and precision after this long (one "
                         "frame at least)")
    bm.add_argument("--precision-check", choices=["auto", "always", "never"], default="auto",
                    help="evaluate checkpoints in reduced precision too (auto: the one "
                         "precision auto would pick here)")
    bm.add_argument("--precision-file", default=None,
                    help="JSON of each checkpoint's PSNR drop per precision to merge into "
                         "(what precision auto reads: sr_engine/weights/precision.json)")
    bm.add_argument("--video-data", type=Path, default=None, metavar="DIR",
                    help="clip folders (Vid4 layout) for the video quality table (default: "
                         "clips made from the Set14 stills)")
    bm.add_argument("--no-quality", action="store_true")
    bm.add_argument("--no-speed", action="store_true")
    bm.add_argument("--no-video", action="store_true", help="no video quality or speed tables")
    bm.add_argument("--perf", action="store_true",
                    help="add the side-by-side performance table (engine vs peers, roofline)")
    bm.add_argument("--perf-models", nargs="+", default=list(perf_defaults.DEFAULT_MODELS),
                    metavar="CHECKPOINT")
    bm.add_argument("--perf-sizes", nargs="+", default=list(perf_defaults.DEFAULT_SIZES),
                    metavar="WxH")
    bm.add_argument("--perf-rounds", type=int, default=3,
                    help="interleaved rounds on inputs up to 1 MP (larger: one)")
    bm.add_argument("--perf-budget", type=float, default=400.0,
                    help="skip a measurement estimated to take longer (seconds)")
    bm.add_argument("--perf-json", default=None,
                    help="kept runs per CPU (docs/bench/perf.json): a run whose engine/plain "
                         "ratios are over 1.5x the kept ones fails and is not recorded")
    bm.add_argument("--perf-accept", action="store_true",
                    help="record this run in --perf-json even if it is slower")
    bm.set_defaults(func=cmd_benchmark)

    sh = sub.add_parser("ship", help="copy a run's best checkpoint, log and card into the zoo")
    sh.add_argument("run_dir")
    sh.add_argument("--force", action="store_true",
                    help="ship a later stage even if it validated under the model it continues")
    sh.set_defaults(func=cmd_ship)

    tb = sub.add_parser("train-bench", help="training steps/s: the engine vs a plain "
                        "PyTorch loop (channels_last, bf16 autocast), interleaved")
    tb.add_argument("--models", nargs="+", default=None,
                    help="edsr, espcn, fsrcnn, vdsr, srresnet (their CPU recipes) or recipe "
                         "files (default: edsr espcn vdsr)")
    tb.add_argument("--rounds", type=int, default=3)
    tb.add_argument("--round-s", type=float, default=2.0, help="seconds per contender and round")
    tb.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="the engine's (the plain loop always runs bf16 autocast)")
    tb.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a key of every recipe")
    tb.add_argument("--json", default=None, help="write the rows and the machine here")
    tb.add_argument("--out", default=None, help="markdown file to write (default: stdout)")
    tb.set_defaults(func=cmd_train_bench)

    sub.add_parser("models", help="list architectures and checkpoints").set_defaults(
        func=cmd_models)
    mc = sub.add_parser("make-clips", help="a video evaluation set from still images: one "
                        "folder of HR frames per still, moved by a random camera path")
    mc.add_argument("stills", help="folder of still images (not ones a model trains on)")
    mc.add_argument("-o", "--output", required=True, help="folder for the clip folders")
    mc.add_argument("--frames", type=int, default=15, help="frames per clip")
    mc.add_argument("--seed", type=int, default=0)
    mc.add_argument("--shift", type=float, default=3.0,
                    help="the fastest camera speed, HR pixels per frame")
    mc.set_defaults(func=cmd_make_clips)

    ins = sub.add_parser("inspect", help="print a checkpoint's metadata")
    ins.add_argument("checkpoint")
    ins.set_defaults(func=cmd_inspect)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in training cards and benchmark reports
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader that has gone (`| head`) fails here, not at exit
        return code
    except BrokenPipeError:
        # Stop quietly, as Unix tools do; stdout goes to devnull so exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except EngineError as exc:
        print(f"sr-engine: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sr-engine: interrupted", file=sys.stderr)
        return 130
