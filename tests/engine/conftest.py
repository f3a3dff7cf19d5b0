"""Engine tests run on CPU with one torch thread.

The tensors here are tiny and the CI box has 2 shared cores: intra-op thread hand-offs cost
more than the arithmetic (measured 3-10x slower with 2 threads).
"""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_extra_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine tests see only the shipped weights unless a test points SR_ENGINE_WEIGHTS itself."""
    monkeypatch.delenv("SR_ENGINE_WEIGHTS", raising=False)
