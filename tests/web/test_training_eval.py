"""Evaluation jobs run by the real worker: staff queue one from the page (and the API), the
results table shows model x dataset x scale beside bicubic with the numbers the engine's
`sr_engine.evaluate.evaluate` gives for the same files."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from webapp.api.tokens import token_create
from webapp.training.datasets import dataset_create_from_archive
from webapp.training.models import EvalResult

ROW_RE = re.compile(r'<tr data-model="([^"]+)" data-dataset="([^"]+)" data-scale="(\d+)">'
                    r"(.*?)</tr>", re.S)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _dataset(owner, name: str, make_image, sizes: list[tuple[int, int]]):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (w, h) in enumerate(sizes):
            zf.writestr(f"{i}.png", make_image(w, h, seed=10 + i))
    return dataset_create_from_archive(owner=owner, name=name,
                                       archive=SimpleUploadedFile(f"{name}.zip", buf.getvalue()))


def _engine_numbers(model: str, folder: str, scale: int) -> tuple[float, float]:
    from sr_engine.evaluate import evaluate
    from sr_engine.zoo import load_model

    report = evaluate(load_model(model, scale=scale, device="cpu"), folder, scale=scale)
    return report.psnr_y, report.ssim_y


def _table(html: str) -> dict[tuple[str, str, int], list[str]]:
    """{(model, dataset, scale): [images, psnr, ssim, bicubic psnr, bicubic ssim]}."""
    return {(m, d, int(s)): re.findall(r"<td[^>]*>(.*?)</td>", cells)[2:]
            for m, d, s, cells in ROW_RE.findall(html)}


@pytest.mark.slow
def test_evaluation_job_results_table_matches_the_engine(worker, staff, staff_client,
                                                         make_image, weights_dir: Path,
                                                         wait_job):
    small = _dataset(staff, "evalset", make_image, [(40, 32), (36, 30)])
    other = _dataset(staff, "evalset2", make_image, [(50, 34)])
    response = staff_client.post(reverse("training_evaluations"), {
        "model": "espcn_x2", "scale": 2, "datasets": [small.id, other.id], "queue": "gpu"})
    assert response.status_code == 302, response.content.decode()[:2000]
    job_id = response.url.rstrip("/").split("/")[-1]
    job = wait_job(job_id)
    assert (job.kind, job.status) == ("evaluate", "done"), job.error
    assert EvalResult.objects.filter(job=job).count() == 2
    job_page = staff_client.get(response.url).content.decode()
    assert "Evaluating espcn_x2 x2" in job_page and 'data-field="eval-results"' in job_page

    table = _table(staff_client.get(reverse("training_evaluations")).content.decode())
    assert set(table) == {("espcn_x2", "evalset", 2), ("espcn_x2", "evalset2", 2)}
    for dataset in (small, other):
        psnr, ssim = _engine_numbers(str(weights_dir / "espcn_x2.safetensors"), dataset.path, 2)
        bic_psnr, bic_ssim = _engine_numbers("bicubic", dataset.path, 2)
        row = table[("espcn_x2", dataset.name, 2)]
        n_images = len(list(Path(dataset.path).glob("*.png")))
        assert row == [str(n_images), f"{psnr:.2f}", f"{ssim:.4f}", f"{bic_psnr:.2f}",
                       f"{bic_ssim:.4f}"]
        # An untrained network is not bicubic: the two columns are separate measurements.
        assert f"{psnr:.2f}" != f"{bic_psnr:.2f}"


@pytest.mark.slow
def test_evaluation_api_queues_and_reports(worker, staff, client, make_image, wait_job):
    dataset = _dataset(staff, "apieval", make_image, [(40, 32)])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=staff)}"}
    created = client.post(reverse("api_evaluations"), {"model": "bicubic", "scale": 2,
                          "datasets": ["apieval"]}, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    body = created.json()
    assert wait_job(body["id"]).status == "done"
    report = client.get(reverse("api_evaluation", args=[body["id"]]), **auth).json()
    psnr, ssim = _engine_numbers("bicubic", dataset.path, 2)
    assert report["status"] == "done" and report["model"] == "bicubic"
    [result] = report["results"]
    assert result["dataset"] == "apieval" and result["scale"] == 2
    assert result["psnr"] == pytest.approx(psnr, abs=1e-9)
    assert result["ssim"] == pytest.approx(ssim, abs=1e-9)
    assert result["bicubic_psnr"] == pytest.approx(psnr, abs=1e-9)


@pytest.mark.django_db
@pytest.mark.parametrize("body, message", [
    ({"model": "bicubic", "scale": 2, "datasets": []}, "datasets"),
    ({"model": "nope", "scale": 2, "datasets": ["x"]}, "dataset"),
    ({"model": "bicubic", "scale": 2, "datasets": ["apieval"], "extra": 1}, "extra"),
    ({"model": "espcn_x2", "scale": 3, "datasets": ["apieval"]}, "x3"),
    ({"model": "unknown-model", "scale": 2, "datasets": ["apieval"]}, "unknown model"),
    ({"model": "bicubic", "scale": True, "datasets": ["apieval"]}, "scale (integer)"),
])
def test_evaluation_api_rejects_bad_input(staff, client, make_image, body, message):
    _dataset(staff, "apieval", make_image, [(40, 32)])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=staff)}"}
    response = client.post(reverse("api_evaluations"), body, content_type="application/json",
                           **auth)
    assert response.status_code == 400 and message in response.json()["error"], response.content


@pytest.mark.django_db
def test_evaluation_api_is_for_staff(user, client):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user)}"}
    response = client.post(reverse("api_evaluations"), {"model": "bicubic", "scale": 2,
                           "datasets": []}, content_type="application/json", **auth)
    assert response.status_code == 403
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(reverse("api_evaluation", args=[missing]), **auth).status_code == 403


def test_openapi_lists_the_evaluation_endpoints(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/evaluations"]
    assert "get" in paths["/api/v1/evaluations/{id}"]
