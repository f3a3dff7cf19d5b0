"""Checkpoints: safetensors + JSON header, atomic writes, strict and pickle-free loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sr_engine import __version__
from sr_engine.checkpoint import (
    META_KEY,
    CheckpointMeta,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from sr_engine.errors import CheckpointError, ConfigError, UnknownModelError
from sr_engine.registry import create_model, list_models

SMALL = {"n_resblocks": 2, "n_feats": 8}  # srresnet: has BatchNorm's int64 buffers too


def small_srresnet(seed: int = 0) -> tuple[torch.nn.Module, CheckpointMeta]:
    torch.manual_seed(seed)
    model = create_model("srresnet", scale=2, **SMALL)
    meta = CheckpointMeta.for_arch("srresnet", scale=2, hparams=SMALL, name="tiny",
                                   step=7, metrics={"psnr": 31.5}, recipe={"lr": 1e-4})
    return model, meta


def test_meta_validation_and_resolved_hparams() -> None:
    meta = CheckpointMeta.for_arch("edsr", scale=4, hparams={"variant": "full"})
    assert meta.color == "rgb" and meta.engine_version == __version__
    assert meta.hparams == {"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1}
    assert meta.created.endswith("+00:00")
    with pytest.raises(UnknownModelError):
        CheckpointMeta(arch="nope", scale=2, hparams={}, color="rgb")
    with pytest.raises(ConfigError, match="supports scales"):
        CheckpointMeta(arch="espcn", scale=8, hparams={}, color="y")
    with pytest.raises(ConfigError, match="colour"):
        CheckpointMeta(arch="espcn", scale=2, hparams={}, color="rgb")
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        CheckpointMeta(arch="espcn", scale=2, hparams={"depth": 3}, color="y")


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    model.train()(torch.rand(2, 3, 8, 8))  # move BatchNorm running stats off their init
    path = save_checkpoint(tmp_path / "sub" / "tiny.safetensors", model, meta)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["tiny.safetensors"]
    assert read_meta(path) == meta
    loaded, meta2 = load_checkpoint(path)
    assert meta2 == meta and not loaded.training
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_saved_tensors_are_cpu_fp32_and_header_is_json(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    model = model.double().to(memory_format=torch.channels_last)  # as inference leaves it
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    with safe_open(str(path), framework="pt") as fh:
        header = json.loads(fh.metadata()[META_KEY])
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}  # noqa: SIM118 - not a dict
    assert header["arch"] == "srresnet" and header["metrics"] == {"psnr": 31.5}
    assert dtypes == {torch.float32, torch.int64}  # int64: BatchNorm's num_batches_tracked


def test_every_registered_arch_round_trips(tmp_path: Path) -> None:
    for spec in list_models(kind=None):
        with torch.device("meta"):
            skeleton = create_model(spec.id, scale=spec.scales[0])
        model = skeleton.to_empty(device="cpu")
        meta = CheckpointMeta.for_arch(spec.id, scale=spec.scales[0])
        path = save_checkpoint(tmp_path / f"{spec.id}.safetensors", model, meta)
        assert read_meta(path).arch == spec.id
        assert load_checkpoint(path)[1].hparams == spec.resolve_hparams()


def test_failed_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, meta = small_srresnet()
    target = tmp_path / "m.safetensors"

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("sr_engine.checkpoint.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(target, model, meta)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    target = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    before = target.read_bytes()
    wrong = create_model("srresnet", scale=2, n_resblocks=3, n_feats=8)
    with pytest.raises(CheckpointError, match="do not fit"):
        save_checkpoint(target, wrong, meta)
    assert target.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_save_refuses_other_suffixes(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    with pytest.raises(CheckpointError, match="safetensors"):
        save_checkpoint(tmp_path / "m.pth", model, meta)


def test_pth_is_loaded_with_weights_only(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    path = tmp_path / "legacy.pth"
    torch.save({"meta": meta.to_dict(), "state_dict": model.state_dict()}, path)
    assert read_meta(path) == meta
    loaded, _ = load_checkpoint(path)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


class Payload:
    """An arbitrary object: a weights_only load must refuse to rebuild it."""


@pytest.mark.parametrize("content", [
    {"meta": {}, "state_dict": {}, "extra": Payload()},
    {"state_dict": {}},
    [1, 2, 3],
])
def test_pth_with_anything_else_is_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "bad.pth"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_meta(tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))  # valid file, but no SR Studio header
    model, meta = small_srresnet()
    truncated = save_checkpoint(tmp_path / "cut.safetensors", model, meta)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    for path, loader in ((garbage, read_meta), (plain, read_meta), (truncated, load_checkpoint)):
        with pytest.raises(CheckpointError) as info:
            loader(path)
        assert "\n" not in str(info.value) and path.name in str(info.value)


def test_weights_that_do_not_fit_the_header_are_refused(tmp_path: Path) -> None:
    model, meta = small_srresnet()
    state = {k: v.float().contiguous() for k, v in model.state_dict().items()}
    state["head.0.weight"] = torch.zeros(8, 3, 3, 3)  # the header says 9x9
    path = tmp_path / "lying.safetensors"
    save_file(state, str(path), metadata={META_KEY: json.dumps(meta.to_dict())})
    with pytest.raises(CheckpointError, match=r"shape mismatch \['head.0.weight"):
        load_checkpoint(path)
    bad_meta = {**meta.to_dict(), "arch": "not_an_arch"}
    save_file(state, str(path), metadata={META_KEY: json.dumps(bad_meta)})
    with pytest.raises(CheckpointError, match="bad metadata"):
        read_meta(path)


def test_summary_names_the_validation_set_and_the_paper() -> None:
    meta = CheckpointMeta.for_arch("espcn", scale=3, metrics={"ssim": 0.90164, "psnr": 32.296},
                                   recipe={"data": {"val": "../shared/data/benchmark/Set5"}})
    assert meta.summary() == "Set5 psnr 32.30 ssim 0.9016 (paper 33.13)"
    assert CheckpointMeta.for_arch("espcn", scale=3).summary() == ""
    srcnn = CheckpointMeta.for_arch("srcnn", scale=2, metrics={"psnr": 36.6, "ssim": 0.95},
                                    recipe={"data": {"val": "/data/Set14"}})
    assert srcnn.summary() == "Set14 psnr 36.60 ssim 0.9500 (paper 32.42 / 0.9063)"
    # No published row (espcn x2, or a set of one's own): the figures alone.
    meta = CheckpointMeta.for_arch("espcn", scale=2, metrics={"psnr": 36.45},
                                   recipe={"data": {"val": "photos"}})
    assert meta.summary() == "photos psnr 36.45"
