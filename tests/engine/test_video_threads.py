"""The decode-ahead / encode-behind stages (sr_engine.video.threads): order kept, errors
raised in the caller, and a stage still running is stopped by close() without hanging."""

from __future__ import annotations

import itertools
import threading

import pytest

from sr_engine.video.threads import Ahead, Behind

pytestmark = pytest.mark.timeout(20)


def test_items_pass_through_both_stages_in_order():
    seen: list[int] = []
    behind = Behind(seen.append, depth=2)
    for item in Ahead(range(100), depth=3):
        behind.put(item * 2)
    behind.finish()
    assert seen == [2 * i for i in range(100)]


def test_an_error_in_the_reader_is_raised_in_the_consumer_after_the_items_before_it():
    def items():
        yield from (1, 2)
        raise ValueError("corrupt packet")

    got = []
    with pytest.raises(ValueError, match="corrupt packet"):
        for item in Ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_an_error_in_the_writer_is_raised_by_a_later_put_or_by_finish():
    def handle(item: int) -> None:
        if item == 3:
            raise OSError("disk full")

    behind = Behind(handle, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for i in range(1000):
            behind.put(i)
        behind.finish()
    behind.close()


def test_close_stops_stages_blocked_on_full_or_empty_queues():
    ahead = Ahead(itertools.count(), depth=2)  # endless: blocks on its full queue
    next(iter(ahead))
    ahead.close()
    release = threading.Event()
    behind = Behind(lambda item: release.wait(), depth=1)  # blocks in its handler ...
    behind.put(1)
    threading.Timer(0.3, release.set).start()
    behind.close()  # ... and then waits on an empty queue
    idle = Behind(lambda item: None)
    idle.close()
    assert not (ahead.thread.is_alive() or behind.thread.is_alive() or idle.thread.is_alive())
