"""sr_engine.inference.memory: inference makes glibc keep freed tensor memory for reuse
(SR_ENGINE_MALLOC=0 leaves the allocator alone), measured in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sr_engine.inference import memory

# In a fresh process: allocate and free a 256 MiB tensor 5 times; count the page faults.
PROBE = """
import json, resource, torch
from sr_engine.inference import memory
reused = memory.reuse_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(64 * 2**20).sum()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
memory.release_freed_memory()
print(json.dumps({"reused": reused, "faults": faults}))
"""

glibc = pytest.mark.skipif(memory._glibc() is None, reason="needs Linux with glibc")


def _probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@glibc
def test_freed_tensors_are_reused_instead_of_faulted_in_again():
    kept, left_alone = _probe(), _probe(SR_ENGINE_MALLOC="0")
    assert kept["reused"] and not left_alone["reused"]
    pages = 256 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert left_alone["faults"] >= 4 * pages  # every allocation faulted in afresh
    assert kept["faults"] <= 2 * pages  # the first one only (and a little besides)


def test_without_glibc_both_do_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    memory.reuse_freed_memory.cache_clear()
    try:
        assert memory.reuse_freed_memory() is False
        memory.release_freed_memory()
    finally:
        memory.reuse_freed_memory.cache_clear()
