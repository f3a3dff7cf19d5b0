"""Fixtures shared by tests/web and tests/e2e, defined once so both use ONE private Redis,
one worker and one media dir (two copies raced: jobs went to the other worker). Nothing here
is autouse: the engine tests do not start any of it."""

from webapp.testing import *  # noqa: F403 - pytest finds the fixtures by name
