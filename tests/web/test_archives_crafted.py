"""Crafted dataset archives: every one is a 400 naming the problem (and the member, where
there is one) on the upload page and in the API, never a 500; over-long and duplicate names
are accepted under short, distinct, deterministic names. No message shows a server path."""

from __future__ import annotations

import html
import io
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from webapp.api.tokens import token_create
from webapp.training.models import Dataset

pytestmark = pytest.mark.django_db

# Offsets of the flag and method fields in a zip's local (PK\3\4) and central (PK\1\2) headers.
LOCAL, CENTRAL = (b"PK\x03\x04", 6), (b"PK\x01\x02", 8)


def _zip(members: dict[str, bytes], **kwargs: object) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **kwargs) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, **kwargs) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _patch_zip(data: bytes, field: int, value: int, *, set_bits: bool = False) -> bytes:
    """Overwrite a 16-bit field (0: flags, 2: method) in every header of a one-member zip."""
    out = bytearray(data)
    for signature, offset in (LOCAL, CENTRAL):
        at = out.find(signature) + offset + field
        old = struct.unpack_from("<H", out, at)[0]
        struct.pack_into("<H", out, at, (old | value) if set_bits else value)
    return bytes(out)


def _pax_nul(image: bytes) -> bytes:
    # a pax "path" record is the one way a NUL reaches a tar name (the header field stops at it)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("x.png")
        info.size, info.pax_headers = len(image), {"path": "a\x00b.png"}
        tf.addfile(info, io.BytesIO(image))
    return buf.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# (id, archive builder from make_image, file name, the message the user must read)
CRAFTED: list[tuple[str, Callable[[Callable], bytes], str, str]] = [
    ("control-char", lambda mk: _zip({"ok.png": mk(32, 32), "a\nb.png": mk(32, 32)}),
     "d.zip", "control characters or bytes that are not UTF-8 are not allowed: a\\x0ab.png"),
    ("nul-in-pax-name", lambda mk: _pax_nul(mk(32, 32)), "d.tar",
     "are not allowed: a\\x00b.png"),
    ("non-utf8-zip-name", lambda mk: _patch_zip(_zip({"xQy.png": mk(32, 32)}), 0, 0x800,
                                                set_bits=True).replace(b"xQy", b"x\xffy"),
     "d.zip", "the archive: cannot be read (member name x\\xffy.png is not UTF-8)"),
    ("non-utf8-tar-name", lambda mk: _tar({"x\udcffy.png": mk(32, 32)},
                                          format=tarfile.GNU_FORMAT, encoding="utf-8",
                                          errors="surrogateescape"),
     "d.tar", "are not allowed: x\\xffy.png"),
    ("corrupt-central-directory", lambda mk: _zip({"a.png": mk(32, 32)}).replace(
        b"PK\x01\x02", b"PK\x01\x09"),
     "d.zip", "the archive: cannot be read (Bad magic number for central directory)"),
    ("truncated-tar-gz", lambda mk: _half(_tar({"big.png": mk(96, 96)}, "w:gz")), "d.tar.gz",
     "the archive, after big.png: cannot be read (Compressed file ended"),
    ("truncated-tar", lambda mk: _half(_tar({"big.png": mk(96, 96)})), "d.tar",
     "the archive, after big.png: cannot be read (unexpected end of data)"),
    ("truncated-tar-xz", lambda mk: _half(_tar({"big.png": mk(96, 96)}, "w:xz")), "d.tar.xz",
     "the archive, after big.png: cannot be read ("),
    ("deflate64", lambda mk: _patch_zip(_zip({"a.png": mk(32, 32)}), 2, 9), "d.zip",
     "a.png: cannot be read (That compression method is not supported)"),
    ("encrypted", lambda mk: _patch_zip(_zip({"a.png": mk(32, 32)}), 0, 0x1, set_bits=True),
     "d.zip", "a.png: cannot be read (encrypted; password-protected archives are not"),
    ("bad-crc", lambda mk: _zip({"a.png": mk(32, 32)}).replace(mk(32, 32)[-40:-20],
                                                                bytes(20)),
     "d.zip", "a.png: cannot be read (Bad CRC-32 for file 'a.png')"),
    ("xz-garbage", lambda mk: b"\xfd7zXZ\x00" + b"garbage" * 100, "d.tar.xz",
     "not a zip or tar archive"),
    ("empty-zip", lambda mk: _zip({}), "d.zip", "no usable images"),
    ("empty-tar", lambda mk: _tar({}), "d.tar", "no usable images"),
    ("zip-in-zip", lambda mk: _zip({"inner.zip": _zip({"a.png": mk(32, 32)})}), "d.zip",
     "skipped: inner.zip (an archive inside the archive"),
]


def _page(client, data: bytes, filename: str, name: str = "crafted"):
    return client.post(reverse("training_dataset_new"), {
        "which": "upload", "up-name": name, "up-archive": SimpleUploadedFile(filename, data)})


def _api(client, staff, data: bytes, filename: str, name: str = "crafted"):
    return client.post(reverse("api_datasets"), {
        "name": name, "archive": SimpleUploadedFile(filename, data)},
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=staff)}")


@pytest.mark.parametrize(("build", "filename", "message"), [c[1:] for c in CRAFTED],
                         ids=[c[0] for c in CRAFTED])
def test_crafted_archives_are_a_400_naming_the_problem(staff_client, make_image, media_root,
                                                       build, filename, message):
    data = build(make_image)
    page = _page(staff_client, data, filename)
    assert page.status_code == 400
    text = html.unescape(page.content.decode())
    assert message in text
    api = _api(staff_client, staff_client.staff, data, filename)
    assert api.status_code == 400
    error = api.json()["error"]
    assert message in error and str(media_root) not in error and "/datasets/" not in error
    assert not Dataset.objects.exists()


def test_an_empty_upload_is_a_400(staff_client):
    page = _page(staff_client, b"", "d.zip")
    assert page.status_code == 400 and "The submitted file is empty" in page.content.decode()
    api = _api(staff_client, staff_client.staff, b"", "d.zip")
    assert api.status_code == 400 and api.json()["error"] == "not a zip or tar archive"


def test_over_long_names_are_shortened_the_same_way_each_time(staff_client, make_image):
    deep = "/".join(["d" * 200] * 3) + "/x.png"  # flattened: 611 bytes
    wide = "é" * 150 + ".PNG"  # 304 bytes, 2 per character: a cut must not split one
    data = _zip({deep: make_image(32, 32), wide: make_image(32, 32),
                 "b/" + "a" * 250 + ".png": make_image(32, 32)})
    first, second = (_api(staff_client, staff_client.staff, data, "d.zip", name=n)
                     for n in ("long1", "long2"))
    assert (first.status_code, second.status_code) == (201, 201)
    names = [sorted(p.name for p in Path(Dataset.objects.get(name=n).path).iterdir())
             for n in ("long1", "long2")]
    assert names[0] == names[1] and len(names[0]) == 3
    assert all(len(n.encode()) <= 255 for n in names[0])
    assert any(n.startswith("é" * 10) and n.endswith(".png") for n in names[0])


def test_names_that_flatten_to_the_same_file_are_all_kept(staff_client, make_image):
    buf = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buf, "w") as zf:
        for seed, name in enumerate(("x.png", "x.png", "a/b.png", "a__b.png")):
            zf.writestr(name, make_image(32, 32, seed=seed))
    response = _api(staff_client, staff_client.staff, buf.getvalue(), "d.zip", name="dups")
    assert response.status_code == 201 and response.json()["images"] == 4
    assert sorted(p.name for p in Path(Dataset.objects.get(name="dups").path).iterdir()) == [
        "a__b-2.png", "a__b.png", "x-2.png", "x.png"]
