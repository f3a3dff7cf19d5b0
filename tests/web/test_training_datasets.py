"""Datasets: archive checks (traversal, links, bombs), bad images skipped and named (or
refused in strict mode), folder allow-list, stats and thumbnails; staff-only pages and API;
config validation."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from sr_engine.errors import ConfigError
from webapp.api.tokens import token_create
from webapp.training.archives import ArchiveRejected
from webapp.training.datasets import dataset_create_from_archive, dataset_register_folder
from webapp.training.models import Dataset

pytestmark = pytest.mark.django_db


def _zip(members: dict[str, bytes], **kwargs) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **kwargs) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("data.zip", buf.getvalue())


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return SimpleUploadedFile("data.tar.gz", buf.getvalue())


def test_a_zip_of_images_becomes_a_flat_dataset_with_stats(staff, make_image):
    archive = _zip({"a/one.png": make_image(40, 30), "a/b/two.jpg": make_image(20, 50, fmt="JPEG"),
                    "README.txt": b"hello", "__MACOSX/._one.png": b"x"})
    ds = dataset_create_from_archive(owner=staff, name="tiny", archive=archive)
    files = sorted(p.name for p in Path(ds.path).iterdir())
    assert files == ["a__b__two.jpg", "a__one.png"]
    assert (ds.image_count, ds.top_level_count) == (2, 2)
    assert ds.stats["min_w"] == 20 and ds.stats["max_h"] == 50 and len(ds.thumbnails) == 2


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png",
                                  "a\\..\\evil.png"])
def test_traversal_is_rejected_and_nothing_is_written(staff, make_image, name, media_root):
    before = set((media_root / "datasets").glob("*")) if (media_root / "datasets").exists() \
        else set()
    with pytest.raises(ArchiveRejected, match="outside the archive"):
        dataset_create_from_archive(owner=staff, name="x", archive=_zip({name: make_image()}))
    assert set((media_root / "datasets").glob("*")) == before
    assert not Dataset.objects.exists()


def test_tar_links_are_rejected(staff, make_image):
    archive = _tar({"ok.png": make_image()}, links={"link.png": "/etc/passwd"})
    with pytest.raises(ArchiveRejected, match="links or special files.*link.png"):
        dataset_create_from_archive(owner=staff, name="x", archive=archive)


def test_zip_bombs_are_rejected_before_extraction(staff):
    bomb = _zip({"zeros.png": b"\0" * (8 << 20)}, compression=zipfile.ZIP_DEFLATED)
    assert bomb.size < 100_000
    with pytest.raises(ArchiveRejected, match="zip bomb.*zeros.png"):
        dataset_create_from_archive(owner=staff, name="x", archive=bomb)


def test_total_size_and_member_count_limits(staff, make_image):
    with override_settings(SR_DATASET_MAX_BYTES=2048), \
            pytest.raises(ArchiveRejected, match="bytes uncompressed"):
        dataset_create_from_archive(owner=staff, name="x",
                                    archive=_zip({"a.bin": b"1" * 4096}))
    with override_settings(SR_DATASET_MAX_FILES=2), pytest.raises(ArchiveRejected, match="3 files"):
        dataset_create_from_archive(owner=staff, name="x", archive=_zip(
            {f"{i}.png": make_image() for i in range(3)}))


@pytest.mark.parametrize(("limits", "members", "message"), [
    ({"SR_DATASET_MAX_FILES": 5}, {f"{i}.txt": b"" for i in range(5000)}, "more than 5 entries"),
    ({"SR_DATASET_MAX_BYTES": 2048}, {f"{i}.bin": bytes(1024) for i in range(100)},
     "more than 2,048 bytes")])
def test_a_tar_is_listed_only_up_to_the_limits(staff, limits, members, message):
    # a .tar.gz is decompressed to be listed: stop at the first entry over a limit
    with override_settings(**limits), pytest.raises(ArchiveRejected, match=message):
        dataset_create_from_archive(owner=staff, name="x", archive=_tar(members))


def _mixed(make_image) -> SimpleUploadedFile:
    return _tar({"good.png": make_image(), "broken.png": b"not an image",
                 "tiny.png": make_image(4, 4), "notes.txt": b"hi"})


def test_bad_images_are_skipped_and_named_by_default(staff, make_image):
    ds = dataset_create_from_archive(owner=staff, name="mixed", archive=_mixed(make_image))
    assert sorted(p.name for p in Path(ds.path).iterdir()) == ["good.png"]
    assert ds.image_count == 1
    assert ds.skipped == ["broken.png (not a readable image)",
                          "tiny.png (4x4 is smaller than 16 pixels)",
                          "notes.txt (not an image file)"]


def test_strict_refuses_the_archive_naming_each_bad_image(staff, make_image, media_root):
    (media_root / "datasets").mkdir(parents=True, exist_ok=True)
    before = set((media_root / "datasets").iterdir())
    with pytest.raises(ArchiveRejected) as info:
        dataset_create_from_archive(owner=staff, name="x", archive=_mixed(make_image),
                                    strict=True)
    assert "broken.png (not a readable image)" in str(info.value)
    assert "tiny.png (4x4 is smaller" in str(info.value) and "good.png" not in str(info.value)
    assert not Dataset.objects.exists() and set((media_root / "datasets").iterdir()) == before


def test_an_archive_without_a_usable_image_is_refused_naming_what_was_skipped(staff,
                                                                              make_image):
    archive = _zip({"broken.png": b"not an image", "tiny.png": make_image(4, 4)})
    with pytest.raises(ArchiveRejected, match=r"no usable images .*skipped: broken.png "
                                              r"\(not a readable image\), tiny.png"):
        dataset_create_from_archive(owner=staff, name="x", archive=archive)
    assert not Dataset.objects.exists()


def test_security_refusals_stay_whole_archive_when_forgiving(staff, make_image):
    archive = _tar({"good.png": make_image(), "broken.png": b"not an image"},
                   links={"link.png": "/etc/passwd"})
    with pytest.raises(ArchiveRejected, match="links or special files"):
        dataset_create_from_archive(owner=staff, name="x", archive=archive)


def test_upload_page_lists_skipped_files_and_strict_refuses_with_a_400(staff_client,
                                                                       make_image):
    url = reverse("training_dataset_new")
    strict = staff_client.post(url, {"which": "upload", "up-name": "s", "up-strict": "on",
                                     "up-archive": _mixed(make_image)})
    assert strict.status_code == 400
    assert "broken.png (not a readable image)" in strict.content.decode()
    response = staff_client.post(url, {"which": "upload", "up-name": "f",
                                       "up-archive": _mixed(make_image)}, follow=True)
    assert response.status_code == 200 and response.redirect_chain
    page = response.content.decode()
    assert "skipped 3 file(s): broken.png (not a readable image), tiny.png (4x4" in page
    assert "notes.txt (not an image file)" in page


def test_dataset_api_lists_skipped_files_and_honours_strict(client, staff, make_image):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=staff)}"}
    url = reverse("api_datasets")
    response = client.post(url, {"name": "s", "strict": "true",
                                 "archive": _mixed(make_image)}, **auth)
    assert response.status_code == 400
    assert "bad images (strict): broken.png (not a readable image)" in response.json()["error"]
    response = client.post(url, {"name": "s", "strict": "maybe",
                                 "archive": _mixed(make_image)}, **auth)
    assert response.status_code == 400 and "strict: give true or false" in \
        response.json()["error"]
    response = client.post(url, {"name": "f", "archive": _mixed(make_image)}, **auth)
    assert response.status_code == 201
    assert response.json()["images"] == 1 and response.json()["skipped"] == [
        "broken.png (not a readable image)", "tiny.png (4x4 is smaller than 16 pixels)",
        "notes.txt (not an image file)"]


def test_folder_registration_is_limited_to_the_allowed_roots(staff, tmp_path, make_image):
    allowed = tmp_path / "allowed"
    (allowed / "set").mkdir(parents=True)
    (allowed / "set" / "x.png").write_bytes(make_image(32, 32))
    (tmp_path / "elsewhere").mkdir()
    (allowed / "escape").symlink_to(tmp_path / "elsewhere")
    with override_settings(SR_DATASET_ROOTS=[allowed.resolve()]):
        ds = dataset_register_folder(owner=staff, name="set", folder=str(allowed / "set"))
        assert ds.image_count == 1 and ds.source == "folder"
        for bad in (str(tmp_path / "elsewhere"), str(allowed / "escape"),
                    str(allowed / "set" / ".." / ".."), "relative/path"):
            with pytest.raises(ConfigError, match="folder"):
                dataset_register_folder(owner=staff, name=f"n{len(bad)}", folder=bad)
    with pytest.raises(ConfigError, match="already exists"):
        dataset_register_folder(owner=staff, name="set", folder=str(allowed / "set"))


def test_a_folder_with_an_unreadable_image_is_refused_by_name(staff, tmp_path, make_image):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "good.png").write_bytes(make_image(32, 32))
    (folder / "broken.png").write_bytes(b"not an image")
    with override_settings(SR_DATASET_ROOTS=[tmp_path.resolve()]), \
            pytest.raises(ConfigError, match="broken.png is not a readable image"):
        dataset_register_folder(owner=staff, name="broken", folder=str(folder))
    assert not Dataset.objects.filter(name="broken").exists()


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "not JSON"),
    ('{"name": 5, "folder": "relative"}', "absolute path"),
    ('{"name": "n", "folder": 7}', "absolute path"),
    ('{"name": "n", "folder": "/tmp/a\\u0000b"}', "NUL"),
])
def test_dataset_api_refuses_bad_bodies_with_a_400(client, staff, tmp_path, body, message):
    with override_settings(SR_DATASET_ROOTS=[tmp_path.resolve()]):
        response = client.post(reverse("api_datasets"), data=body,
                               content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token_create(user=staff)}")
    assert response.status_code == 400 and message in response.json()["error"]


def test_only_staff_reach_the_studio_and_its_api(client, user, staff):
    client.force_login(user)
    assert client.get(reverse("training")).status_code == 403
    assert client.get(reverse("training_run_new")).status_code == 403
    token = token_create(user=user)
    for name in ("api_datasets", "api_training_jobs"):
        response = client.post(reverse(name), data="{}", content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 403 and "staff" in response.json()["error"]
    client.force_login(staff)
    assert client.get(reverse("training")).status_code == 200


def test_training_job_api_reports_config_errors(client, staff, make_image):
    ds = dataset_create_from_archive(owner=staff, name="d",
                                     archive=_zip({"a.png": make_image(32, 32)}))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=staff)}"}

    def post(body: dict) -> dict:
        response = client.post(reverse("api_training_jobs"), data=body,
                               content_type="application/json", **auth)
        assert response.status_code == 400
        return response.json()["error"]

    base = {"arch": "espcn", "scale": 2, "train_dataset": ds.id}
    assert "x5" in post({**base, "scale": 5})
    assert "steps" in post({**base, "overrides": {"steps": 0}})
    assert "nope" in post({**base, "overrides": {"nope": 1}})
    assert "n9" in post({**base, "overrides": {"hparams": {"n9": 1}}})
    assert "recipe" in post({**base, "recipe": "missing"})
    assert "queue" in post({**base, "queue": "elsewhere"})
    assert "train_dataset" in post({**base, "train_dataset": "unknown"})
    assert "unknown field(s) bogus" in post({**base, "bogus": 1})
