"""Fixtures shared by tests/web and tests/e2e, defined once so both use ONE private Redis,
one worker and one media dir (two copies raced: jobs went to the other worker). Nothing here
is autouse: the engine tests do not start any of it."""

import os
import tempfile

# precision "auto" picks by timing this CPU: tests that compare outputs bit for bit (and the
# worker and servers they start) must not depend on which CPU CI runs on.
# tests/engine/test_auto_precision.py tests auto itself with this unset.
os.environ.setdefault("SR_ENGINE_PRECISION", "fp32")
# Measured choices (sr_engine.inference.auto/fast) go to this run's own cache, not ~/.cache.
os.environ.setdefault("SR_ENGINE_CACHE", tempfile.mkdtemp(prefix="sr-engine-cache-"))

from webapp.testing import *  # noqa: E402, F403 - pytest finds the fixtures by name
