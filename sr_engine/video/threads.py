"""Two small thread stages, so decoding and encoding a clip overlap the model: `Ahead` runs an
iterator (the demuxer and decoder) a few items ahead, `Behind` hands items to a function (the
encoder and muxer) a few items behind. Queues are bounded, so memory stays flat whatever the
clip's length; an exception in a stage is raised in the caller, and `close()` stops a stage
that is still running (the caller failed or was cancelled). PyAV releases the GIL while
FFmpeg decodes and encodes."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import torch

T = TypeVar("T")
_END = object()
_POLL_S = 0.1  # how often a blocked stage looks at its stop flag


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Stage:
    def __init__(self, depth: int, name: str) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _put(self, item: object) -> bool:
        """Queue `item` unless stopped first; False when stopped."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop the thread and wait for it (queued items are dropped)."""
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get_nowait()
            except queue.Empty:
                self.thread.join(_POLL_S)


def spare_core(device_type: str) -> bool:
    """Do decode/encode threads have something to run on? With the model on a GPU, or a CPU
    with more cores than torch's threads, yes; on a 2-core CPU whose cores torch already
    uses, threads measured no faster than one loop (150 frames 320x240, bicubic x2: median
    4.26 s threaded against 3.73 s)."""
    return device_type == "cuda" or (os.cpu_count() or 1) > torch.get_num_threads()


class Inline(Generic[T]):
    """Ahead's and Behind's interface with no thread: items are read and handled in turn."""

    def __init__(self, items: Iterable[T] = (), handle: Callable[[T], None] | None = None
                 ) -> None:
        self.items, self.handle = items, handle

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def put(self, item: T) -> None:
        assert self.handle is not None
        self.handle(item)

    def finish(self) -> None:
        """Nothing waits: every item was handled when put."""

    def close(self) -> None:
        """Nothing runs."""


class Ahead(_Stage, Generic[T]):
    """Iterate `items` in a thread, at most `depth` items ahead of the consumer."""

    def __init__(self, items: Iterable[T], depth: int = 4, name: str = "sr-ahead") -> None:
        super().__init__(depth, name)
        self.items = items
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failed(exc))
            return
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]


class Behind(_Stage, Generic[T]):
    """Call `handle(item)` in a thread for each `put` item, at most `depth` waiting."""

    def __init__(self, handle: Callable[[T], None], depth: int = 4,
                 name: str = "sr-behind") -> None:
        super().__init__(depth, name)
        self.handle = handle
        self.error: BaseException | None = None
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            try:
                self.handle(item)  # type: ignore[arg-type]
            except BaseException as exc:  # raised by the next put() or finish()
                self.error = exc
                self.stop.set()
                return

    def put(self, item: T) -> None:
        self._raise()
        if not self._put(item):
            self._raise()

    def finish(self) -> None:
        """Wait until every item is handled; raise the handler's exception, if any."""
        self._put(_END)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
