"""The CLI end to end, in-process through `main()` (and once as a real subprocess)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_engine.benchmark import parse_quality_table
from sr_engine.checkpoint import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from sr_engine.cli import main
from sr_engine.errors import CheckpointError
from sr_engine.registry import create_model
from sr_engine.ship import ship_run
from sr_engine.train.state import load_state
from sr_engine.zoo import load_model
from tests.engine.test_fuse import BF16_FUSE

SMOKE = Path(__file__).resolve().parents[2] / "sr_engine" / "recipes" / "tiny_smoke.toml"


def _png(path: Path, w: int, h: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(2):
        _png(folder / f"im{i}.png", 36, 30, seed=i)
    return folder


@pytest.fixture
def espcn_ckpt(tmp_path: Path) -> Path:
    model = create_model("espcn", scale=2, n1=8, n2=8)
    meta = CheckpointMeta.for_arch("espcn", scale=2, hparams={"n1": 8, "n2": 8}, step=3)
    return save_checkpoint(tmp_path / "espcn_x2.safetensors", model, meta)


def test_upscale_takes_the_scale_a_model_name_carries(tmp_path, espcn_ckpt, monkeypatch):
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(espcn_ckpt.parent))
    src = _png(tmp_path / "in.png", 20, 16)
    for model in ("espcn_x2", str(espcn_ckpt)):  # a checkpoint id, a checkpoint file
        out = tmp_path / f"out-{Path(model).stem}.png"
        assert main(["-q", "upscale", str(src), "-o", str(out), "--model", model]) == 0
        assert Image.open(out).size == (40, 32)
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "b.png")]) == 0  # bicubic
    assert Image.open(tmp_path / "b.png").size == (80, 64)  # a bare id: x4


def _train_smoke(out: Path, hr_dir: Path, *extra: str) -> Path:
    """`sr-engine train` on the tiny smoke recipe (8 steps), training and validating on hr_dir."""
    assert main(["-q", "train", str(SMOKE), "--set", f"data.train=['{hr_dir}']",
                 "--set", f"data.val='{hr_dir}'", "--set", f"train.out_dir='{out}'", *extra]) == 0
    return out


def test_upscale_one_file(tmp_path, capsys):
    src = _png(tmp_path / "in.png", 40, 34)
    assert main(["-q", "upscale", str(src), "-o", str(tmp_path / "out.png"), "--scale", "3",
                 "--tile", "16"]) == 0
    assert Image.open(tmp_path / "out.png").size == (120, 102)
    assert "out.png" in capsys.readouterr().out


def test_upscale_folder_with_checkpoint(tmp_path, hr_dir, espcn_ckpt):
    out = tmp_path / "out"
    assert main(["-q", "upscale", str(hr_dir), "-o", str(out), "--model", str(espcn_ckpt),
                 "--scale", "2", "--tile", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["im0_x2.png", "im1_x2.png"]
    assert Image.open(out / "im0_x2.png").size == (72, 60)


@pytest.mark.parametrize("argv, needle", [
    (["upscale", "missing.png", "-o", "x.png"], "not found"),
    (["upscale", "{src}", "-o", "x.png", "--model", "espcn", "--scale", "3"],
     "sr-engine train sr_engine/recipes/espcn_x3.toml"),
    (["upscale", "{src}", "-o", "x.png", "--model", "nope"], "unknown"),
    (["upscale", "{src}", "-o", "x.png", "--scale", "5"], "x5"),
    (["inspect", "{src}"], ""),
    (["train", "missing.toml"], "recipe not found"),
])
def test_errors_are_one_line_and_nonzero(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    # an empty zoo: "espcn" x3 must lack weights whatever has been shipped
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", tmp_path / "no_weights")
    monkeypatch.delenv("SR_ENGINE_WEIGHTS", raising=False)
    src = _png(tmp_path / "in.png", 8, 8)
    rc = main(["-q", *[a.replace("{src}", str(src)) for a in argv]])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("sr-engine: error:") and "\n" not in err and needle in err
    assert not (tmp_path / "x.png").exists()


def test_evaluate_json(hr_dir, capsys):
    assert main(["evaluate", "--model", "bicubic", "--scale", "2", "--data", str(hr_dir),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 2 and len(report["per_image"]) == 2
    assert 5 < report["psnr_y"] < 60 and 0 < report["ssim_y"] <= 1


def test_models_and_inspect(espcn_ckpt, capsys, monkeypatch):
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(espcn_ckpt.parent))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "edsr" in out and "srgan_discriminator" in out and str(espcn_ckpt) in out
    assert main(["inspect", str(espcn_ckpt)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert (meta["arch"], meta["scale"], meta["step"]) == ("espcn", 2, 3)


def test_benchmark_writes_both_tables(tmp_path, hr_dir, espcn_ckpt, monkeypatch):
    # an empty zoo, so that the bare id "espcn" has no weights whatever has been shipped
    monkeypatch.setattr("sr_engine.zoo.SHIPPED_WEIGHTS", tmp_path / "no_weights")
    monkeypatch.delenv("SR_ENGINE_WEIGHTS", raising=False)
    out = tmp_path / "bench.md"
    assert main(["-q", "benchmark", "--models", "bicubic", "espcn", str(espcn_ckpt),
                 "--scales", "2", "--data", str(hr_dir), "--precisions", "fp32",
                 "--speed-size", "32", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Quality" in text and "## Speed" in text
    assert "| bicubic | bicubic | x2 | hr |" in text and "| espcn_x2 | espcn | x2 | hr |" in text
    rows = parse_quality_table(text)
    assert [(r["model"], r["set"]) for r in rows] == [("bicubic", "hr"), ("espcn_x2", "hr")]
    assert float(rows[0]["PSNR"]) > 10
    assert "espcn x2: no trained weights" in text  # the id without weights is reported
    assert "| espcn | x2 | cpu | fp32 |" in text and "| bicubic | x2 | cpu | fp32 |" in text


def test_benchmark_without_video_tables(tmp_path, hr_dir, monkeypatch):
    def no_clips(*args, **kwargs):
        raise AssertionError("--no-video must not look for clips")

    monkeypatch.setattr("sr_engine.video.quality.clip_set", no_clips)
    out = tmp_path / "bench.md"
    assert main(["-q", "benchmark", "--models", "bicubic", "--scales", "4", "--data",
                 str(hr_dir), "--no-speed", "--no-video", "--precision-check", "never",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "| bicubic | bicubic | x4 | hr |" in text and "Video" not in text


def test_train_inspect_ship(tmp_path, hr_dir, capsys, monkeypatch):
    out = tmp_path / "run"
    _train_smoke(out, hr_dir)
    assert "trained 8 steps" in capsys.readouterr().out
    assert main(["inspect", str(out / "best.safetensors")]) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == "espcn"

    weights, docs = tmp_path / "weights", tmp_path / "docs"
    weights.mkdir()
    shipped = ship_run(out, weights_dir=weights, docs_dir=docs)
    assert shipped == weights / "espcn_x2.safetensors"
    card = (docs / "espcn_x2.md").read_text()
    assert "sr-engine -q train" in card and "| 8 |" in card and "[model]" in card
    assert (docs / "espcn_x2.jsonl").read_text() == (out / "log.jsonl").read_text()
    monkeypatch.setenv("SR_ENGINE_WEIGHTS", str(weights))
    assert load_model("espcn", scale=2).meta.step == 8


def test_module_entry_point_runs_alone():
    out = subprocess.run([sys.executable, "-m", "sr_engine", "models"], capture_output=True,
                         text=True, check=True)
    assert "bicubic" in out.stdout


def test_a_reader_that_stops_early_gets_no_traceback():
    # `sr-engine models | head -1`: the pipe closes before the listing is written
    proc = subprocess.Popen([sys.executable, "-m", "sr_engine", "models"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == ""


def test_ship_keeps_earlier_stages(tmp_path, hr_dir):
    """A run that continues the shipped file keeps its card and log as the next stage (1, 2);
    a fresh run replaces the model and drops them."""
    weights, docs = tmp_path / "weights", tmp_path / "docs"
    weights.mkdir()

    def train_and_ship(name: str, *extra: str) -> str:
        out = _train_smoke(tmp_path / name, hr_dir, *extra)
        # 8 steps may validate under the model they continue; the guard has its own test
        ship_run(out, weights_dir=weights, docs_dir=docs, force=True)
        return (out / "log.jsonl").read_text()

    cont = ("--set", f"model.init='{weights / 'espcn_x2.safetensors'}'")
    first = train_and_ship("first")
    second = train_and_ship("second", *cont)
    card = (docs / "espcn_x2.md").read_text()
    assert "[stage 1](espcn_x2.stage1.md)" in card
    assert (docs / "espcn_x2.stage1.jsonl").read_text() == first
    stage1 = (docs / "espcn_x2.stage1.md").read_text()
    assert "[espcn_x2.stage1.jsonl](espcn_x2.stage1.jsonl)" in stage1

    train_and_ship("third", *cont)  # stage 2 is kept beside stage 1, which stays as it was
    assert "[stage 1](espcn_x2.stage1.md), [stage 2](espcn_x2.stage2.md)" in \
        (docs / "espcn_x2.md").read_text()
    assert (docs / "espcn_x2.stage2.jsonl").read_text() == second
    assert (docs / "espcn_x2.stage1.md").read_text() == stage1

    train_and_ship("fresh")
    assert sorted(p.name for p in docs.iterdir()) == ["espcn_x2.jsonl", "espcn_x2.md"]
    assert "stage 1" not in (docs / "espcn_x2.md").read_text()


def test_ship_refuses_a_stage_under_the_model_it_continues(tmp_path, hr_dir):
    weights, docs = tmp_path / "weights", tmp_path / "docs"
    weights.mkdir()
    target = weights / "espcn_x2.safetensors"
    ship_run(_train_smoke(tmp_path / "first", hr_dir), weights_dir=weights, docs_dir=docs)
    second = _train_smoke(tmp_path / "second", hr_dir, "--set", f"model.init='{target}'")
    # the shipped model claims 1 dB more than the second run's best
    module, meta = load_checkpoint(target)
    meta.metrics["psnr"] = read_meta(second / "best.safetensors").metrics["psnr"] + 1
    save_checkpoint(target, module, meta)
    before = target.read_bytes(), sorted(p.name for p in docs.iterdir())

    with pytest.raises(CheckpointError, match=r"not shipped: .* under .* espcn_x2.safetensors"):
        ship_run(second, weights_dir=weights, docs_dir=docs)
    assert (target.read_bytes(), sorted(p.name for p in docs.iterdir())) == before

    ship_run(second, weights_dir=weights, docs_dir=docs, force=True)
    assert read_meta(target).step == read_meta(second / "best.safetensors").step
    assert (docs / "espcn_x2.stage1.md").exists()


def test_ctrl_c_saves_a_state_records_the_session_and_resumes(tmp_path, hr_dir, capsys):
    """A real SIGINT to `sr-engine train`: exit 130 at the next progress step with a resumable
    state and the stopped session recorded (so its time reaches the card); resuming finishes."""
    out = tmp_path / "run"
    overrides = ["--set", f"data.train=['{hr_dir}']", "--set", f"data.val='{hr_dir}'",
                 "--set", f"train.out_dir='{out}'", "--set", "train.ckpt_every=100000"]
    proc = subprocess.Popen([sys.executable, "-m", "sr_engine", "-q", "train", str(SMOKE),
                             "--set", "train.steps=100000", *overrides],
                            stderr=subprocess.PIPE, text=True)
    log = out / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and '"kind": "train"' in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "training never logged"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err.splitlines()[-1]
    (stopped,) = [json.loads(x) for x in (out / "sessions.jsonl").read_text().splitlines()]
    assert 2 <= stopped["steps"] < 100000 and stopped["seconds"] > 0
    assert load_state(out / "train_state.safetensors")["step"] == stopped["steps"]

    end = stopped["steps"] + 4
    assert main(["-q", "train", str(SMOKE), "--set", f"train.steps={end}", *overrides,
                 "--resume", str(out)]) == 0
    assert f"trained {end} steps" in capsys.readouterr().out
    sessions = (out / "sessions.jsonl").read_text().splitlines()
    assert [json.loads(x)["steps"] for x in sessions] == [stopped["steps"], end]


def test_ctrl_c_while_loading_exits_130_with_one_line(tmp_path, hr_dir, capsys, monkeypatch):
    import sr_engine.train.loop as loop

    def interrupted(*args, **kwargs):  # the signal lands while the data is being read
        signal.raise_signal(signal.SIGINT)
        return build(*args, **kwargs)

    build = loop.build_session
    monkeypatch.setattr(loop, "build_session", interrupted)
    argv = ["-q", "train", str(SMOKE), "--set", f"data.train=['{hr_dir}']",
            "--set", f"data.val='{hr_dir}'", "--set", f"train.out_dir='{tmp_path / 'run'}'"]
    assert main(argv) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "sr-engine: stopped while loading, before any training step"
    assert not (tmp_path / "run" / "sessions.jsonl").exists()


def test_the_precision_check_measures_autocast_and_the_bf16_weight_copies(tmp_path, hr_dir,
                                                                         espcn_ckpt):
    out, kept = tmp_path / "bench.md", tmp_path / "precision.json"
    assert main(["-q", "benchmark", "--models", str(espcn_ckpt), "--scales", "2", "--data",
                 str(hr_dir), "--no-speed", "--precision-check", "always",
                 "--precision-file", str(kept), "--out", str(out)]) == 0
    # the fused bf16 graph needs oneDNN's bf16 convolution (not on AVX2-only CPUs): a way
    # that cannot be built gets no row, so inference never picks it
    ways = {"bf16", "bf16-native"} | ({"bf16-fused"} if BF16_FUSE else set())
    assert set(json.loads(kept.read_text())["espcn_x2"]) == ways
    text = out.read_text()
    assert all(f"| espcn_x2 | hr | {way} |" in text for way in ways)
