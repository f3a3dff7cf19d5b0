"""Turn a user-given weights location (path, file:// or http(s):// URL) into a local file.

Nothing is ever downloaded unless the user wrote the URL: there are no default URLs here.
Downloads land in a cache directory ($SR_ENGINE_CACHE or ~/.cache/sr_engine) and appear
there atomically, so an interrupted download never leaves a truncated file behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from sr_engine.errors import CheckpointError


def expand_path(value: str | os.PathLike[str]) -> Path:
    """`~` and $ENV expanded; a relative path stays relative to the current directory."""
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(value))))


def cache_dir() -> Path:
    """Where downloaded weights are kept: $SR_ENGINE_CACHE, else ~/.cache/sr_engine."""
    env = os.environ.get("SR_ENGINE_CACHE")
    return expand_path(env) if env else Path.home() / ".cache" / "sr_engine"


def resolve_source(source: str | os.PathLike[str], *, timeout: float = 60.0) -> Path:
    """Local path of `source`, downloading http(s) URLs into the cache once.

    Raises CheckpointError when the file does not exist or the download fails.
    """
    text = os.fspath(source)
    scheme = urllib.parse.urlparse(text).scheme.lower()
    if scheme in ("http", "https"):
        return _download(text, timeout)
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(text).path))
    else:
        path = expand_path(text)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    return path


def _download(url: str, timeout: float) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "weights"
    dest = cache_dir() / "weights" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, length=1 << 20)
        os.replace(tmp, dest)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"cannot download {url}: {exc}") from None
    return dest
