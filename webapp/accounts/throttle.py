"""Failed log-in counters per username and per client address, in Django's cache (Redis when
REDIS_URL is set, so every web process sees the same counts).

Each key counts failures in a fixed window that starts with its first failure; a second key
holds when that window ends, so a refusal can say how long to wait."""

from __future__ import annotations

import contextlib
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis import RedisError


def client_address(request: HttpRequest) -> str:
    """Behind nginx REMOTE_ADDR is nginx itself; it appends the real client as the last
    X-Forwarded-For entry (earlier entries come from the client and may be forged)."""
    if settings.SR_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def throttle_keys(request: HttpRequest, username: str) -> list[str]:
    # Hashed: usernames may hold characters a cache key must not (spaces, >250 bytes).
    def key(kind: str, value: str) -> str:
        return f"login-fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"

    return [key("user", username.strip().lower()), key("addr", client_address(request))]


def seconds_blocked(keys: list[str]) -> int:
    """0 when another attempt may go ahead, else how many seconds until one may. With the
    cache (Redis) down the throttle is off rather than the login page an error."""
    try:
        return _seconds_blocked(keys)
    except RedisError:
        return 0


def _seconds_blocked(keys: list[str]) -> int:
    counts = cache.get_many(keys)
    full = [k for k in keys if counts.get(k, 0) >= settings.SR_LOGIN_MAX_FAILURES]
    if not full:
        return 0
    ends = cache.get_many([k + ":ends" for k in full]).values()
    return max(1, math.ceil(max(ends, default=time.time() + 1) - time.time()))


def failure_record(keys: list[str]) -> None:
    with contextlib.suppress(RedisError):  # see seconds_blocked
        _failure_record(keys)


def _failure_record(keys: list[str]) -> None:
    window = settings.SR_LOGIN_WINDOW_SECONDS
    for key in keys:
        cache.add(key + ":ends", time.time() + window, window)
        cache.add(key, 0, window)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add and incr: this failure starts one
            cache.set(key, 1, window)


def failures_forget_user(keys: list[str]) -> None:
    """After a good password the username starts afresh; the address keeps its count, or
    one account of an attacker's own would reset it between guesses at others."""
    with contextlib.suppress(RedisError):  # see seconds_blocked
        cache.delete_many([keys[0], keys[0] + ":ends"])
