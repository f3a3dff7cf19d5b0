"""Strict readers for settings that come from the environment.

Each reader raises ImproperlyConfigured naming the variable and what it expected, so a
typo in a deployment fails at start-up instead of half-working.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Host names that mean "this machine only": any other host makes a deployment public.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1", "testserver"})
# Passwords env.example used to ship and the ones guessed first: never fine in production.
_PLACEHOLDER_PASSWORDS = {"secret", "password", "postgres", "change-me", "changeme"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value}: must be at least {minimum}")
    return value


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of `choices` (case-insensitive), or `default` when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name} is set but empty; give a comma-separated list")
    return items


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default.resolve()
    path = Path(raw.strip()).expanduser()
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(f"{name}={raw!r}: exists and is not a directory")
    return path.resolve()


def env_url(name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL whose scheme is one of `schemes`, or None when the variable is unset/empty."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    parsed = urlparse(url)
    if parsed.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}: scheme {parsed.scheme or '(none)'!r} is not one of {', '.join(schemes)}")
    if parsed.scheme in ("unix", "sqlite"):
        if not parsed.path:
            raise ImproperlyConfigured(f"{name}={url!r}: needs an absolute path")
    elif not parsed.hostname:
        raise ImproperlyConfigured(f"{name}={url!r}: needs a host")
    return url


def redis_url_for_celery(url: str) -> str:
    """Kombu spells a unix-socket Redis URL `redis+socket://`; redis-py spells it `unix://`."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return f"redis+socket://{parsed.path}" + (f"?{parsed.query}" if parsed.query else "")
    return url


def is_public_deployment(debug: bool, allowed_hosts: list[str]) -> bool:
    """DEBUG off and a host other than this machine: a production deployment."""
    return not debug and bool(set(allowed_hosts) - LOCAL_HOSTS)


def is_placeholder_password(password: str) -> bool:
    """env.example's `change-me...` placeholders and well-known default passwords."""
    low = password.strip().lower()
    return low in _PLACEHOLDER_PASSWORDS or "change-me" in low or "changeme" in low
