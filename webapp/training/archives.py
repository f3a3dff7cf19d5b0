"""Dataset archives (zip, tar, tar.gz/bz2/xz): checked before anything is written, then
extracted member by member with hard byte limits.

Refused outright (the whole archive, in both modes): absolute or `..` paths, names with
control characters or bytes that are not UTF-8, links, devices, too many members, declared
sizes over the limit, zip members compressed suspiciously well (bombs), members that turn out
larger than declared, and archives that cannot be read (corrupt, truncated, encrypted,
unsupported compression). Images that do not decode, or are too small or too large, are
skipped and listed with their reason; `strict` refuses the archive instead, naming them.
Other files (README, .DS_Store, nested archives) are skipped and listed. An archive with no
usable image is refused. Images are written flat (`a/b/c.png` -> `a__b__c.png`, shortened
with a hash when too long for the filesystem) so the folder also serves as a validation set,
which the evaluation protocol reads without recursion.
"""

from __future__ import annotations

import hashlib
import tarfile
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, TypeVar

from PIL import Image

from sr_engine.data.io import IMAGE_SUFFIXES

MAX_RATIO = 200  # PNG/JPEG barely compress; a member shrunk more than this is a bomb
MIN_SIDE = 16
CHUNK = 1 << 20
# Filesystems allow 255 bytes per name; leave room for the "-N" that tells duplicates apart.
MAX_NAME_BYTES = 200
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".7z",
                    ".rar", ".zst"}
IMAGE_KINDS = "PNG, JPEG, BMP, TIFF, WebP, PPM"
A = TypeVar("A", zipfile.ZipFile, tarfile.TarFile)


class ArchiveRejected(Exception):
    """The archive cannot become a dataset; the message names the bad members."""


@dataclass
class Member:
    name: str
    size: int  # declared uncompressed size
    packed: int | None  # compressed size (zip only)
    open: Callable[[], IO[bytes]]


@dataclass
class Extracted:
    images: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name (reason)", in archive order


def shown(name: str) -> str:
    """`name` fit to show: control characters and undecodable bytes (surrogates left by
    tarfile's surrogateescape) as \\xNN, so a crafted name cannot break a page or a log."""
    out = "".join(f"\\x{ord(c) & 0xFF:02x}" if unicodedata.category(c) in ("Cc", "Cs") else c
                  for c in name)
    return out or "(no name)"


def name_list(names: list[str], limit: int = 8) -> str:
    """The first `limit` names, shown safely, and how many more there are."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown(n) for n in names[:limit]) + more


def _reason(exc: Exception) -> str:
    """One line from an archive library's exception, without our own file paths."""
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes):
        return f"member name {shown(exc.object.decode('utf-8', 'backslashreplace'))} is not UTF-8"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "encrypted; password-protected archives are not supported"
    if isinstance(exc, OSError) and exc.filename:
        return exc.strerror or type(exc).__name__
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Any failure of the archive libraries as ArchiveRejected naming `what`. On hostile input
    they raise many types (BadZipFile, TarError, EOFError, zlib.error, LZMAError,
    NotImplementedError for deflate64, RuntimeError for encryption, UnicodeDecodeError for
    names, OverflowError for absurd offsets...); none of them is a server fault."""
    try:
        yield
    except ArchiveRejected:
        raise
    except Exception as exc:
        raise ArchiveRejected(f"{what}: cannot be read ({_reason(exc)})") from None


def _opened(opener: Callable[[], A]) -> A:
    """`opener()`, its failures as ArchiveRejected; the caller closes what it returns."""
    with _reading("the archive"):
        return opener()


def _unsafe(name: str) -> bool:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


def _bad_name(name: str) -> bool:
    # NUL cannot be a file name, control characters garble pages and logs, and surrogates
    # (bytes that are not UTF-8) cannot be shown or stored as text.
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in name)


def _tar_infos(tf: tarfile.TarFile, *, max_files: int, max_bytes: int) -> list[tarfile.TarInfo]:
    """Headers one by one, stopping at the first limit: a compressed tar is decompressed to be
    listed, and a few MB of .tar.gz can declare millions of entries or terabytes."""
    infos: list[tarfile.TarInfo] = []
    total, entries = 0, iter(tf)
    while True:
        # a truncated stream fails on the header after the member it cuts: name that member
        with _reading(f"the archive, after {shown(infos[-1].name)}" if infos else "the archive"):
            info = next(entries, None)
        if info is None:
            return infos
        infos.append(info)
        total += info.size
        if len(infos) > max_files:
            raise ArchiveRejected(f"more than {max_files} entries; the limit is {max_files} files")
        if total > max_bytes:
            raise ArchiveRejected(f"more than {max_bytes:,} bytes uncompressed; "
                                  f"the limit is {max_bytes:,}")


@contextmanager
def _members(path: Path, *, max_files: int, max_bytes: int) -> Iterator[list[Member]]:
    # Only opening and listing are under _reading: the caller's own errors pass the yield.
    with _reading("the archive"):
        is_zip = zipfile.is_zipfile(path)
        is_tar = not is_zip and tarfile.is_tarfile(path)
    if is_zip:
        with _opened(partial(zipfile.ZipFile, path)) as zf:
            # not ZipInfo.is_dir(): it fails on an empty name
            yield [Member(i.filename, i.file_size, i.compress_size, partial(zf.open, i))
                   for i in zf.infolist() if not i.filename.endswith("/")]
        return
    if not is_tar:
        raise ArchiveRejected("not a zip or tar archive")
    with _opened(partial(tarfile.open, path, "r:*")) as tf:
        infos = _tar_infos(tf, max_files=max_files, max_bytes=max_bytes)
        odd = [i.name for i in infos if not (i.isfile() or i.isdir())]
        if odd:
            raise ArchiveRejected(f"links or special files are not allowed: {name_list(odd)}")
        yield [Member(i.name, i.size, None, partial(tf.extractfile, i))
               for i in infos if i.isfile()]


def _check(members: list[Member], *, max_files: int, max_bytes: int) -> None:
    unsafe = [m.name for m in members if _unsafe(m.name)]
    if unsafe:
        raise ArchiveRejected(f"paths outside the archive are not allowed: {name_list(unsafe)}")
    bad = [m.name for m in members if _bad_name(m.name)]
    if bad:
        raise ArchiveRejected("names with control characters or bytes that are not UTF-8 are "
                              f"not allowed: {name_list(bad)}")
    if len(members) > max_files:
        raise ArchiveRejected(f"{len(members)} files; the limit is {max_files}")
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise ArchiveRejected(f"{total:,} bytes uncompressed; the limit is {max_bytes:,}")
    bombs = [m.name for m in members if m.packed is not None and m.size > CHUNK
             and m.size > MAX_RATIO * max(m.packed, 1)]
    if bombs:
        raise ArchiveRejected(f"suspiciously high compression (zip bomb?): {name_list(bombs)}")


def _chunks(member: Member) -> Iterator[bytes]:
    """The member's bytes, never more than its header declares. Read errors are the
    archive's; write errors stay with the caller (a full disk is a server fault)."""
    read = 0
    with _reading(shown(member.name)), member.open() as src:
        while chunk := src.read(CHUNK):
            read += len(chunk)
            if read > member.size:
                raise ArchiveRejected(f"{shown(member.name)}: larger than its header says")
            yield chunk


def _copy(member: Member, dest: Path) -> None:
    with dest.open("wb") as out:
        for chunk in _chunks(member):
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
    # Pillow's decoders raise many types on crafted files (struct.error, EOFError,
    # IndexError...), and the bomb guards; each means this member is not usable.
    except Exception:
        return "not a readable image"
    return None


def _not_an_image(name: str) -> str | None:
    """Why a member is not even tried as an image, or None."""
    path = PurePosixPath(name)
    if any(p.startswith(".") or p == "__MACOSX" for p in path.parts):
        return "hidden or system file"
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        return "an archive inside the archive; put its images in the upload itself"
    if suffix not in IMAGE_SUFFIXES:
        return "not an image file"
    return None


def _short(flat: str, name: str) -> str:
    """`flat`, or when over MAX_NAME_BYTES its start plus a hash of the member name: the
    same archive always gives the same names."""
    if len(flat.encode()) <= MAX_NAME_BYTES:
        return flat
    suffix = PurePosixPath(flat).suffix.lower()
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    room = MAX_NAME_BYTES - len(suffix) - len(digest) - 1
    head = flat.encode()[:room].decode("utf-8", "ignore")  # never half a character
    return f"{head}-{digest}{suffix}"


def _flat_name(name: str, taken: set[str]) -> str:
    flat = _short("__".join(PurePosixPath(name).parts), name)
    stem, suffix, n = Path(flat).stem, Path(flat).suffix.lower(), 1
    while flat in taken:
        n += 1
        flat = f"{stem}-{n}{suffix}"
    taken.add(flat)
    return flat


def extract_images(archive: Path, dest: Path, *, max_files: int, max_bytes: int,
                   max_pixels: int, strict: bool = False) -> Extracted:
    """Check `archive` and write its images flat into `dest`. Unusable images are skipped
    and listed, or with `strict` refuse the archive. ArchiveRejected on any refusal (the
    caller removes `dest`)."""
    out, bad, taken = Extracted(), [], set()
    dest.mkdir(parents=True, exist_ok=True)
    with _members(archive, max_files=max_files, max_bytes=max_bytes) as members:
        _check(members, max_files=max_files, max_bytes=max_bytes)
        for m in members:
            reason = _not_an_image(m.name)
            if reason:
                out.skipped.append(f"{m.name} ({reason})")
                continue
            target = dest / _flat_name(m.name, taken)
            _copy(m, target)
            problem = _image_problem(target, max_pixels)
            if problem:
                target.unlink()
                bad.append(f"{m.name} ({problem})")
                out.skipped.append(bad[-1])
            else:
                out.images.append(target)
    if bad and strict:
        raise ArchiveRejected(f"bad images (strict): {name_list(bad)}")
    if not out.images:
        skipped = f"; skipped: {name_list(out.skipped)}" if out.skipped else ""
        raise ArchiveRejected(f"no usable images ({IMAGE_KINDS}) in the archive{skipped}")
    return out
