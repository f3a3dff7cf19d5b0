"""Upload checks through the real decoder: each bad file gets its own message, which never
shows the server's temp file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

import sr_engine.data.io as io_module
from sr_engine.errors import ImageError
from webapp.images.services import upload_create
from webapp.images.validation import ImageRejected, image_check

pytestmark = pytest.mark.django_db


def _file(data: bytes, name: str = "x.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def _encode(image: Image.Image, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return buf.getvalue()


def test_a_good_png_is_stored_with_its_size_and_hash(user, make_image):
    upload = upload_create(owner=user, file=_file(make_image(24, 16)))
    assert (upload.width, upload.height, upload.format) == (24, 16, "PNG")
    assert len(upload.sha256) == 64 and upload.original.name.endswith("original.png")
    assert upload.thumbnail


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"this is not an image at all", "notes.png", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "broken.png", "not a readable image"),
])
def test_undecodable_files_are_rejected_whatever_their_name(user, data, name, message):
    with pytest.raises(ImageRejected, match=message):
        upload_create(owner=user, file=_file(data, name))


def test_unsupported_formats_are_named(user, make_image):
    with pytest.raises(ImageRejected, match="GIF images are not supported"):
        upload_create(owner=user, file=_file(make_image(8, 8, fmt="GIF", mode="L"), "a.png"))


def test_truncated_jpeg_fails_the_real_decode(user, make_image):
    data = make_image(64, 64, fmt="JPEG")
    with pytest.raises(ImageRejected):
        upload_create(owner=user, file=_file(data[: len(data) // 2], "cut.jpg"))


@override_settings(SR_MAX_PIXELS=1000)
def test_pixel_limit_stops_decompression_bombs(user, make_image):
    with pytest.raises(ImageRejected, match="the limit is 1,000"):
        upload_create(owner=user, file=_file(make_image(40, 40)))


@override_settings(SR_MAX_UPLOAD_BYTES=2048)
def test_byte_limit(user, make_image):
    with pytest.raises(ImageRejected, match="byte limit"):
        upload_create(owner=user, file=_file(make_image(64, 64)))


@pytest.mark.parametrize(("data", "note"), [
    (lambda mk: mk(16, 16, fmt="JPEG", mode="CMYK"), "CMYK"),
    (lambda mk: mk(16, 16, mode="RGBA"), "transparency"),
    (lambda mk: _encode(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"), "16 bits"),
    (lambda mk: _encode(Image.new("RGB", (8, 8), "red"), "WEBP", save_all=True,
                        append_images=[Image.new("RGB", (8, 8), "blue")]), "animated"),
])
def test_special_images_are_accepted_with_a_note(user, make_image, data, note):
    upload = upload_create(owner=user, file=_file(data(make_image), "special.img"))
    assert any(note in n for n in upload.notes), upload.notes


def test_decode_errors_never_show_the_server_temp_file(user, make_image):
    data = make_image(64, 64, fmt="JPEG")
    with pytest.raises(ImageRejected) as info:
        upload_create(owner=user, file=_file(data[: len(data) // 2], "cut.jpg"))
    message = str(info.value)
    assert message.startswith("cannot decode image (") and ".part" not in message
    assert "tmp" not in message


def test_engine_errors_name_the_users_file_instead_of_the_path(tmp_path, make_image,
                                                              monkeypatch):
    path = tmp_path / "tmpab12.upload.png"
    path.write_bytes(make_image(16, 16))

    def failing_load(p, **_):
        raise ImageError(f"{p.name}: cannot decode image ([Errno 5] Input/output error: "
                         f"'{p}')")

    monkeypatch.setattr(io_module, "load_image", failing_load)
    with pytest.raises(ImageRejected) as info:
        image_check(path, max_pixels=10_000, display_name="holiday.png")
    assert str(info.value) == ("cannot decode image ([Errno 5] Input/output error: "
                               "'holiday.png')")
    with pytest.raises(ImageRejected, match=r"error: 'the image'\)$"):
        image_check(path, max_pixels=10_000)
