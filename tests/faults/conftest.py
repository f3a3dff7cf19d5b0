"""The fault suite's one studio (tests/faults/studio.py), started once for the session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.faults.studio import Studio

# uvicorn's access log: a 5xx is a failure, except the documented 503 of a job submitted
# while the queue is down and of /healthz while a part is down.
SERVER_ERROR = re.compile(r'"(\S+) (\S+) HTTP/1\.[01]" (5\d\d)')
EXPECTED_5XX = {("POST", "/api/v1/jobs", "503"), ("GET", "/healthz", "503")}


@pytest.fixture(scope="session")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("studio")
    server = Studio(root / "data", root / "run.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        errors = [m.group(0) for m in SERVER_ERROR.finditer(server.tail(10**8))
                  if m.groups() not in EXPECTED_5XX]
        assert not errors, errors[:20]
