"""`windows`: the sliding window of consecutive frames a video model takes, over a stream of
decoded frames, with the clip's first and last frames repeated at its ends (the usual
padding of VESPCN-style models). Image models take a window of one.

Frames come in as (frame, wanted) pairs: frames before a trimmed start or a resume point are
decoded for their context but not upscaled themselves. Only the last `frames // 2` of them
are kept, so memory stays at one window whatever the clip's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def windows(items: Iterable[tuple[T, bool]], frames: int) -> Iterator[tuple[T, list[T]]]:
    """(centre, window of `frames` items centred on it) for each wanted item, in order."""
    half = frames // 2
    kept: deque[tuple[T, bool]] = deque(maxlen=2 * half + 1)
    for item in items:
        kept.append(item)
        if len(kept) > half:
            yield from _emit(kept, len(kept) - 1 - half, half)
    # The last `half` wanted items: their windows end at the clip's last frame.
    for centre in range(max(len(kept) - half, 0), len(kept)):
        yield from _emit(kept, centre, half)


def _emit(kept: deque[tuple[T, bool]], centre: int, half: int
          ) -> Iterator[tuple[T, list[T]]]:
    frame, wanted = kept[centre]
    if wanted:
        last = len(kept) - 1
        yield frame, [kept[min(max(i, 0), last)][0] for i in range(centre - half,
                                                                      centre + half + 1)]
