"""Odd and hostile images through the API and the real worker: each is either refused with a
400 that says why, or upscaled to the end (never an internal error, never a 500)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from webapp.api.tokens import token_create

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b""))


RGB = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
_PNG = _save(RGB, "PNG")
_JPEG = _save(RGB, "JPEG", progressive=True)
_EXIF = Image.Exif()
_EXIF[0x0112] = 6  # rotate 90 degrees on display

REFUSED = {  # name -> (bytes, words the 400 must contain)
    "truncated png": (_PNG[: len(_PNG) // 2], "truncated"),
    "truncated progressive jpeg": (_JPEG[: len(_JPEG) // 2], "truncated"),
    "empty file": (b"", "not a readable image"),
    "random bytes": (bytes(range(256)) * 20, "not a readable image"),
    "100000x100000 png header": (_png_header_only(100_000, 100_000), "too many pixels"),
    "0x0 png header": (_png_header_only(0, 0), "not a readable image"),
    "gif": (_save(RGB.convert("P"), "GIF"), "GIF images are not supported"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
            "not a readable image"),
}
ACCEPTED = {
    "animated webp": _save(RGB, "WEBP", save_all=True, append_images=[RGB.rotate(90)]),
    "float tiff": _save(Image.fromarray(np.linspace(0, 1, 400, dtype=np.float32)
                                        .reshape(20, 20)), "TIFF"),
    "16-bit tiff": _save(Image.fromarray(np.arange(400, dtype=np.uint16).reshape(20, 20) * 99),
                         "TIFF"),
    "1-bit tiff": _save(RGB.convert("1"), "TIFF"),
    "lab tiff": _save(RGB.convert("LAB"), "TIFF"),
    "jpeg-compressed tiff": _save(RGB, "TIFF", compression="jpeg"),
    "cmyk jpeg": _save(RGB.convert("CMYK"), "JPEG"),
    "multi-picture jpeg (phones)": _save(RGB, "MPO", save_all=True, append_images=[RGB]),
    "rotated jpeg (exif)": _save(RGB, "JPEG", exif=_EXIF.tobytes()),
    "palette png with transparency": _save(RGB.convert("P"), "PNG", transparency=0),
    "rgba bmp": _save(RGB.convert("RGBA"), "BMP"),
    "1x1 png": _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
    "3000x1 png": _save(Image.new("RGB", (3000, 1), (10, 200, 10)), "PNG"),
}


def _post(client: object, user: object, data: bytes, name: str) -> object:
    image = io.BytesIO(data)
    image.name = name
    return client.post("/api/v1/jobs", {"image": image, "model": "espcn_x2", "scale": "2"},
                       HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unusable_images_are_a_400_naming_the_problem(client, user, name):
    data, words = REFUSED[name]
    response = _post(client, user, data, f"{name}.png")
    assert response.status_code == 400 and words in response.json()["error"], response.content
    assert "/tmp" not in response.json()["error"]


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_odd_but_valid_images_are_upscaled_to_the_end(worker, client, user, wait_job, name):
    response = _post(client, user, ACCEPTED[name], f"{name}.img")
    assert response.status_code == 201, response.content
    job = wait_job(response.json()["id"])
    assert job.status == "done", (job.error, job.progress)
