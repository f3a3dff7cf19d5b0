"""Training batches built ahead of the step in one background thread.

A thread, not DataLoader worker processes: the sampler holds every image in memory and one
`torch.Generator` draws all of a run's random choices in order, so a single producer keeps
the exact stream of the synchronous loop (same batches, same order) and a resumed run stays
bit-identical. The torch ops that crop, resize and degrade release the GIL, so building the
next batch overlaps the model's step where a core is free. Measured on a 2-core EPYC busy
with other processes (load 5-7): ESPCN-recipe batches came at 50-80/s from this thread and
at 0.5-11/s built on the main thread. The main thread's libgomp workers spin-wait between
parallel regions and lose their core to the other processes (OMP_WAIT_POLICY=passive closes
the gap); while a second thread's OpenMP team is alive, libgomp throttles that spinning.

Each batch carries the generator's state right after it was built: the producer runs ahead,
so the state a resume must restart from is that of the last batch the model consumed, not
the generator's current one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import torch
from torch import Tensor

# A wait this long for the producer to take a free slot or hand a batch means it is busy,
# not gone: the consumer re-checks that the thread is alive and waits again.
_POLL_S = 0.1
# With `probe`, the thread starts only when building a batch takes more than this share of
# the caller's step. Why: on 2 cores a producer thread beside the step's two OpenMP threads
# took 20% off EDSR x4 training (3.42 against 4.26 steps/s built in line, AMX Xeon; its
# batches take ~4 ms against a ~290 ms step), while ESPCN's (5 ms against a 3 ms step) need it.
THREAD_SHARE = 0.1


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Batches are built on one intra-op thread, in the prefetch thread and the caller's
    alike (the same arithmetic, so a resumed run's batches are the same): beside the step's
    threads, a second team of two on small tensors spent most of its time waiting for a
    core (ESPCN x4 batches: 60/s with two threads, 149/s with one, measured beside a
    training step on this 2-core CPU). The thread count is per thread under OpenMP."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class BatchSource(Protocol):
    """What a prefetcher draws from: `PatchSampler` (a stub in the tests)."""

    generator: torch.Generator

    def batch(self, n: int) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class Batch:
    lr: Tensor
    hr: Tensor
    data_state: Tensor  # the sampler generator's state after this batch (for a resume)


class _Failed:
    """The producer's exception, handed through the queue to be raised by the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetcher:
    """`next()` returns the sampler's batches in order, built `depth` batches ahead.

    `depth=0` builds each batch in the calling thread when asked (no thread; the reference
    the prefetched stream must equal). `probe=k` builds the first k in the calling thread,
    timing each build against the caller's time between calls, and starts the thread only
    if building takes more than THREAD_SHARE of it (the stream is the same either way).
    `pin` pins host memory for an asynchronous copy to a GPU. `waited` adds up the seconds
    `next()` spent blocked: the step's time starved of data. Use it as a context manager (or
    call `close()`): the thread stops on exit, exceptions and cancellation included. An
    exception in the producer is raised by the next `next()`.
    """

    def __init__(self, source: BatchSource, batch_size: int, *, depth: int = 2,
                 channels_last: bool = False, pin: bool = False, probe: int = 0) -> None:
        self.source, self.batch_size, self.depth = source, batch_size, depth
        self.channels_last, self.pin = channels_last, pin
        self.waited = 0.0
        self._queue: queue.Queue[Batch | _Failed] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe = probe if depth > 0 else 0
        self._build_s = self._step_s = 0.0
        self._returned_at: float | None = None
        if depth > 0 and not self._probe:
            self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._produce, name="sr-prefetch",
                                        daemon=True)  # daemon: never holds up exit
        self._thread.start()

    def _probed(self, started: float) -> None:
        """Account one batch built in line while probing; start the thread if it pays."""
        self._build_s += time.perf_counter() - started
        if self._returned_at is not None:
            self._step_s += started - self._returned_at
        self._probe -= 1
        if not self._probe and self._build_s > THREAD_SHARE * self._step_s:
            self._start()

    def build(self) -> Batch:
        """One batch from the source, laid out as the step wants it."""
        with one_thread():
            lr, hr = self.source.batch(self.batch_size)
        state = self.source.generator.get_state()
        if self.channels_last:  # the layout oneDNN convolves fastest on CPU
            lr = lr.contiguous(memory_format=torch.channels_last)
        if self.pin:
            lr, hr = lr.pin_memory(), hr.pin_memory()
        return Batch(lr, hr, state)

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                self._put(self.build())
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failed(exc))

    def _put(self, item: Batch | _Failed) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def next(self) -> Batch:
        t = time.perf_counter()
        try:
            if self._thread is None:
                batch = self.build()
                if self._probe:
                    self._probed(t)
                return batch
            while True:
                try:
                    item = self._queue.get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    if not self._thread.is_alive():
                        raise RuntimeError("the batch prefetch thread stopped") from None
            if isinstance(item, _Failed):
                self.close()
                raise item.error
            return item
        finally:
            self._returned_at = time.perf_counter()
            self.waited += self._returned_at - t

    def close(self) -> None:
        """Stop the producer and wait for it (at most one batch's build time)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
