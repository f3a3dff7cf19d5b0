"""Dataset archives (zip, tar, tar.gz/bz2/xz): checked before anything is written, then
extracted member by member with hard byte limits.

Refused outright (the whole archive): absolute or `..` paths, links, devices, too many
members, declared sizes over the limit, zip members compressed suspiciously well (bombs),
and members that turn out larger than declared. Images that do not decode, or are too small
or too large, are named in the error. Other files (README, .DS_Store) are skipped and listed.
Images are written flat (`a/b/c.png` -> `a__b__c.png`) so the folder also serves as a
validation set, which the evaluation protocol reads without recursion.
"""

from __future__ import annotations

import tarfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from PIL import Image, UnidentifiedImageError

from sr_engine.data.io import IMAGE_SUFFIXES

MAX_RATIO = 200  # PNG/JPEG barely compress; a member shrunk more than this is a bomb
MIN_SIDE = 16
CHUNK = 1 << 20


class ArchiveRejected(Exception):
    """The archive cannot become a dataset; the message names the bad members."""


@dataclass
class Member:
    name: str
    size: int  # declared uncompressed size
    packed: int | None  # compressed size (zip only)
    open: object  # () -> binary file object


@dataclass
class Extracted:
    images: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _names(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _unsafe(name: str) -> bool:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


def _tar_infos(tf: tarfile.TarFile, *, max_files: int, max_bytes: int) -> list[tarfile.TarInfo]:
    """Headers one by one, stopping at the first limit: a compressed tar is decompressed to be
    listed, and a few MB of .tar.gz can declare millions of entries or terabytes."""
    infos: list[tarfile.TarInfo] = []
    total = 0
    for info in tf:
        infos.append(info)
        total += info.size
        if len(infos) > max_files:
            raise ArchiveRejected(f"more than {max_files} entries; the limit is {max_files} files")
        if total > max_bytes:
            raise ArchiveRejected(f"more than {max_bytes:,} bytes uncompressed; "
                                  f"the limit is {max_bytes:,}")
    return infos


@contextmanager
def _members(path: Path, *, max_files: int, max_bytes: int) -> Iterator[list[Member]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            yield [Member(i.filename, i.file_size, i.compress_size,
                          (lambda i=i: zf.open(i)))
                   for i in zf.infolist() if not i.is_dir()]
        return
    if not tarfile.is_tarfile(path):
        raise ArchiveRejected("not a zip or tar archive")
    with tarfile.open(path, "r:*") as tf:
        infos = _tar_infos(tf, max_files=max_files, max_bytes=max_bytes)
        odd = [i.name for i in infos if not (i.isfile() or i.isdir())]
        if odd:
            raise ArchiveRejected(f"links or special files are not allowed: {_names(odd)}")
        yield [Member(i.name, i.size, None, (lambda i=i: tf.extractfile(i)))
               for i in infos if i.isfile()]


def _check(members: list[Member], *, max_files: int, max_bytes: int) -> None:
    unsafe = [m.name for m in members if _unsafe(m.name)]
    if unsafe:
        raise ArchiveRejected(f"paths outside the archive are not allowed: {_names(unsafe)}")
    if len(members) > max_files:
        raise ArchiveRejected(f"{len(members)} files; the limit is {max_files}")
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise ArchiveRejected(f"{total:,} bytes uncompressed; the limit is {max_bytes:,}")
    bombs = [m.name for m in members if m.packed is not None and m.size > CHUNK
             and m.size > MAX_RATIO * max(m.packed, 1)]
    if bombs:
        raise ArchiveRejected(f"suspiciously high compression (zip bomb?): {_names(bombs)}")


def _copy(src: IO[bytes], dest: Path, limit: int) -> None:
    written = 0
    with dest.open("wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise ArchiveRejected(f"{dest.name}: larger than its header says")
            out.write(chunk)


def _image_problem(path: Path, max_pixels: int) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    return f"{im.width}x{im.height} is over {max_pixels:,} pixels"
                if min(im.width, im.height) < MIN_SIDE:
                    return f"{im.width}x{im.height} is smaller than {MIN_SIDE} pixels"
                im.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        return "not a readable image"
    return None


def _flat_name(name: str, taken: set[str]) -> str:
    flat = "__".join(PurePosixPath(name).parts)
    stem, suffix, n = Path(flat).stem, Path(flat).suffix.lower(), 1
    while flat in taken:
        n += 1
        flat = f"{stem}-{n}{suffix}"
    taken.add(flat)
    return flat


def extract_images(archive: Path, dest: Path, *, max_files: int, max_bytes: int,
                   max_pixels: int) -> Extracted:
    """Check `archive`, write its images flat into `dest`; ArchiveRejected on any problem
    (the caller removes `dest`)."""
    out, bad, taken = Extracted(), [], set()
    dest.mkdir(parents=True, exist_ok=True)
    with _members(archive, max_files=max_files, max_bytes=max_bytes) as members:
        _check(members, max_files=max_files, max_bytes=max_bytes)
        for m in members:
            hidden = any(p.startswith(".") or p == "__MACOSX" for p in PurePosixPath(m.name).parts)
            if hidden or PurePosixPath(m.name).suffix.lower() not in IMAGE_SUFFIXES:
                out.skipped.append(m.name)
                continue
            target = dest / _flat_name(m.name, taken)
            with m.open() as src:
                _copy(src, target, m.size)
            problem = _image_problem(target, max_pixels)
            if problem:
                bad.append(f"{m.name} ({problem})")
            out.images.append(target)
    if bad:
        raise ArchiveRejected(f"bad images: {_names(bad)}")
    if not out.images:
        raise ArchiveRejected("no images (PNG, JPEG, BMP, TIFF, WebP, PPM) in the archive")
    return out
