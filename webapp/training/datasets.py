"""Dataset services: an uploaded archive or a server folder from `SR_DATASET_ROOTS` becomes
a Dataset row with its image count, size spread and a few thumbnails."""

from __future__ import annotations

import shutil
import statistics
import uuid
import warnings
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from PIL import Image

from sr_engine.data.io import IMAGE_SUFFIXES
from sr_engine.errors import ConfigError
from webapp.training.archives import ArchiveRejected, extract_images
from webapp.training.models import Dataset

THUMBS = 8
THUMB_SIZE = 128


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ConfigError("name: give a dataset name of 1 to 100 characters")
    if Dataset.objects.filter(name=name).exists():
        raise ConfigError(f"name: a dataset called {name!r} already exists")
    return name


def _media(key: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "datasets" / key


def dataset_create_from_archive(*, owner: AbstractBaseUser, name: str,
                                archive: UploadedFile, strict: bool = False) -> Dataset:
    """Extract a zip/tar of HR images; ConfigError (bad name) or ArchiveRejected. Files that
    are not usable images are skipped and listed, "name (reason)", in the returned dataset's
    `skipped` attribute (not stored); `strict` refuses an archive with a bad image instead."""
    name = _check_name(name)
    if archive.size > settings.SR_DATASET_MAX_ARCHIVE_BYTES:
        raise ArchiveRejected(f"the archive is {archive.size:,} bytes; the limit is "
                              f"{settings.SR_DATASET_MAX_ARCHIVE_BYTES:,}")
    key = uuid.uuid4().hex
    folder = _media(key)
    try:
        src = _stored_archive(archive, folder)
        extracted = extract_images(src, folder / "images",
                                   max_files=settings.SR_DATASET_MAX_FILES,
                                   max_bytes=settings.SR_DATASET_MAX_BYTES,
                                   max_pixels=settings.SR_MAX_PIXELS, strict=strict)
        src.unlink()
        dataset = Dataset(name=name, owner=owner, source=Dataset.Source.UPLOAD,
                          path=str(folder / "images"))
        # For the upload's response only (page message, API body): the row has no field.
        dataset.skipped = extracted.skipped
        _scan(dataset, key)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    dataset.save()
    return dataset


def _stored_archive(archive: UploadedFile, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "archive"
    with path.open("wb") as out:
        for chunk in archive.chunks():
            out.write(chunk)
    return path


def dataset_allowed_folder(raw: str) -> Path:
    """`raw` resolved (links followed) when it lies under an allowed root; else ConfigError."""
    roots = settings.SR_DATASET_ROOTS
    if not roots:
        raise ConfigError("folder: no server folders are allowed (set SR_DATASET_ROOTS)")
    if "\x00" in (raw or ""):
        raise ConfigError("folder: a path cannot contain a NUL character")
    path = Path(raw or "").expanduser()
    if not path.is_absolute():
        raise ConfigError("folder: give an absolute path")
    path = path.resolve()
    if not any(path == root or path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise ConfigError(f"folder: {path} is not under an allowed root ({allowed})")
    if not path.is_dir():
        raise ConfigError(f"folder: {path} is not a folder")
    return path


def dataset_register_folder(*, owner: AbstractBaseUser, name: str, folder: str) -> Dataset:
    name = _check_name(name)
    path = dataset_allowed_folder(folder)
    key = uuid.uuid4().hex
    dataset = Dataset(name=name, owner=owner, source=Dataset.Source.FOLDER, path=str(path))
    try:
        _scan(dataset, key)
    except BaseException:
        shutil.rmtree(_media(key), ignore_errors=True)
        raise
    dataset.save()
    return dataset


def _scan(dataset: Dataset, key: str) -> None:
    """Count, sizes (from headers) and thumbnails; ConfigError when there is no image."""
    root = Path(dataset.path)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file())
    if not files:
        raise ConfigError(f"folder: no images in {root}")
    if len(files) > settings.SR_DATASET_MAX_FILES:
        raise ConfigError(f"folder: {len(files)} images; the limit is "
                          f"{settings.SR_DATASET_MAX_FILES}")
    widths, heights = [], []
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(path) as im:
                    widths.append(im.width)
                    heights.append(im.height)
            except (OSError, Image.DecompressionBombError):
                raise ConfigError(f"folder: {path.relative_to(root)} is not a readable "
                                  "image") from None
    dataset.image_count = len(files)
    dataset.top_level_count = sum(1 for p in files if p.parent == root)
    dataset.total_bytes = sum(p.stat().st_size for p in files)
    dataset.stats = {"min_w": min(widths), "max_w": max(widths), "min_h": min(heights),
                     "max_h": max(heights), "median_w": int(statistics.median(widths)),
                     "median_h": int(statistics.median(heights))}
    dataset.thumbnails = _thumbnails(files[:THUMBS], _media(key) / "thumbs")


def _thumbnails(files: list[Path], folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    media = Path(settings.MEDIA_ROOT)
    out = []
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                thumb = im.convert("RGB")
        except OSError:  # a header that reads but pixels that do not (truncated file)
            raise ConfigError(f"folder: {path.name} is not a readable image") from None
        thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
        target = folder / f"{i:02d}.png"
        thumb.save(target)
        out.append(str(target.relative_to(media)))
    return out
