"""The batch prefetcher: the same batches in the same order as building them in the loop,
the generator state a resume needs, errors handed to the consumer, and a thread that always
stops (on close, on exceptions, while blocked on a full queue). No timings."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from torch import Tensor

from sr_engine.data import prefetch
from sr_engine.data.prefetch import Prefetcher
from sr_engine.errors import Cancelled
from sr_engine.progress import ProgressEvent
from sr_engine.train import train
from tests.engine.test_train import _config, data  # noqa: F401 - data is a fixture


class Source:
    """A stand-in for PatchSampler: random batches from its own generator."""

    def __init__(self, seed: int = 0, fail_at: int | None = None,
                 gate: threading.Event | None = None) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.fail_at, self.gate, self.built = fail_at, gate, 0

    def batch(self, n: int) -> tuple[Tensor, Tensor]:
        if self.gate is not None:
            self.gate.wait()
        if self.built == self.fail_at:
            raise ValueError("bad image")
        self.built += 1
        lr = torch.rand(n, 3, 4, 4, generator=self.generator)
        return lr, torch.rand(n, 3, 8, 8, generator=self.generator)


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sr-prefetch"]


def _take(prefetcher: Prefetcher, k: int) -> list:
    return [prefetcher.next() for _ in range(k)]


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_prefetched_stream_equals_the_synchronous_one(depth: int) -> None:
    with Prefetcher(Source(), 3, depth=0) as sync, Prefetcher(Source(), 3, depth=depth) as ahead:
        want, got = _take(sync, 6), _take(ahead, 6)
    for a, b in zip(want, got, strict=True):
        assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr)
        assert torch.equal(a.data_state, b.data_state)
    assert not _threads()


def test_data_state_is_where_a_resume_restarts() -> None:
    """The generator runs ahead of the consumer; the batch's state does not."""
    source = Source()
    with Prefetcher(source, 2, depth=3) as ahead:
        first = _take(ahead, 2)
        rest = _take(ahead, 2)
    resumed = Source(seed=123)
    resumed.generator.set_state(first[-1].data_state)
    with Prefetcher(resumed, 2, depth=0) as again:
        for a, b in zip(rest, _take(again, 2), strict=True):
            assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr)


def test_layout_options() -> None:
    with Prefetcher(Source(), 2, depth=1, channels_last=True) as p:
        batch = p.next()
    assert batch.lr.is_contiguous(memory_format=torch.channels_last)
    assert batch.hr.is_contiguous()


def test_a_producer_error_reaches_the_consumer_after_the_good_batches() -> None:
    with Prefetcher(Source(fail_at=2), 2, depth=2) as p:
        _take(p, 2)
        with pytest.raises(ValueError, match="bad image"):
            p.next()
    assert not _threads()


def test_the_thread_stops_on_an_exception_in_the_loop() -> None:
    class Stop(Exception):
        pass

    with pytest.raises(Stop), Prefetcher(Source(), 2, depth=2) as p:
        p.next()
        raise Stop  # e.g. the progress callback's Cancelled
    assert not _threads()


def test_close_while_the_queue_is_full_and_while_building() -> None:
    source = Source()
    full = Prefetcher(source, 2, depth=1)
    while source.built < 2:  # one batch queued, the producer holding the next
        threading.Event().wait(0.01)
    full.close()
    assert not _threads()

    gate = threading.Event()
    building = Prefetcher(Source(gate=gate), 2, depth=1)
    closer = threading.Thread(target=building.close)
    closer.start()
    gate.set()  # the build in progress finishes, then the producer sees the stop
    closer.join(timeout=10)
    assert not closer.is_alive() and not _threads()


def test_waiting_is_counted() -> None:
    with Prefetcher(Source(), 2, depth=0) as p:
        _take(p, 3)
    assert p.waited > 0  # built in the loop: all of it is waiting


def test_training_reports_the_wait_and_leaves_no_thread(data, tmp_path: Path) -> None:  # noqa: F811
    events: list[ProgressEvent] = []
    train(_config(data, tmp_path / "run"), progress=events.append)
    logged = [e.metrics for e in events if e.stage == "training" and e.metrics]
    assert logged and all(0 <= m["wait"] <= 1 for m in logged)
    assert not _threads()

    def stop(event: ProgressEvent) -> None:
        if event.stage == "training":
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        train(_config(data, tmp_path / "stopped"), progress=stop)
    assert not _threads()


class _Clock:
    """time.perf_counter for the prefetch module, advanced by the test: builds cost
    `build_s`, the caller's step `step_s`."""

    def __init__(self, build_s: float, step_s: float) -> None:
        self.now, self.build_s, self.step_s = 0.0, build_s, step_s

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("build_s", "step_s", "threaded"), [
    (0.004, 0.29, False),  # EDSR on 2 cores: batches cost ~1% of a step, built in line
    (0.005, 0.003, True),  # ESPCN: batches cost more than a step, built ahead
])
def test_probing_starts_the_thread_only_when_batches_are_not_cheap(monkeypatch, build_s,
                                                                   step_s, threaded):
    clock = _Clock(build_s, step_s)
    monkeypatch.setattr(prefetch.time, "perf_counter", clock)

    class Timed(Source):
        def batch(self, n: int) -> tuple[Tensor, Tensor]:
            clock.now += clock.build_s
            return super().batch(n)

    with Prefetcher(Source(), 3, depth=0) as sync, \
            Prefetcher(Timed(), 3, depth=2, probe=4) as probing:
        want, got = _take(sync, 8), []
        for _ in range(8):
            got.append(probing.next())
            clock.now += clock.step_s
            assert bool(_threads()) == (threaded and len(got) >= 4)
    for a, b in zip(want, got, strict=True):
        assert torch.equal(a.lr, b.lr) and torch.equal(a.data_state, b.data_state)
    assert not _threads()
