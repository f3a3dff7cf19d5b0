"""Job services and the progress adapter, with a test job kind (no engine involved)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sr_engine.errors import Cancelled, EngineError
from sr_engine.progress import ProgressEvent
from webapp.jobs import runners, services
from webapp.jobs.models import Job, JobStatus
from webapp.progress import JobProgress

pytestmark = pytest.mark.django_db

OUTCOMES: dict[str, object] = {}


def fake_runner(job: Job, progress: JobProgress) -> dict:
    """A job kind for these tests: reports two tiles, then does what the test asked."""
    for i in (1, 2):
        progress(ProgressEvent(stage="tiling", current=i, total=2))
    outcome = OUTCOMES[str(job.id)]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.fixture(autouse=True)
def _test_kind():
    runners.register("test", f"{__name__}.fake_runner")


def _job(user, **fields) -> Job:
    return Job.objects.create(owner=user, kind="test", params={}, **fields)


def test_job_create_enqueues_only_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.job_create(owner=user, kind="test", params={"a": 1})
    assert len(callbacks) == 1
    assert job.status == JobStatus.QUEUED and job.progress["stage"] == "queued"


def test_job_create_rejects_an_unknown_kind(user):
    with pytest.raises(LookupError, match="nope"):
        services.job_create(owner=user, kind="nope", params={})


@pytest.mark.parametrize(("outcome", "status", "error"), [
    ({"summary": {"psnr": 30.5}}, JobStatus.DONE, ""),
    (EngineError("model x has no weights"), JobStatus.FAILED, "model x has no weights"),
    (Cancelled("stop"), JobStatus.CANCELLED, "Cancelled by the user."),
    (ZeroDivisionError("boom"), JobStatus.FAILED, "Internal error: ZeroDivisionError: boom"),
])
def test_job_execute_always_ends_in_a_terminal_state(user, outcome, status, error):
    job = _job(user)
    OUTCOMES[str(job.id)] = outcome
    services.job_execute(job_id=job.id, worker="w1")
    job.refresh_from_db()
    assert (job.status, job.error) == (status, error)
    assert job.finished_at is not None and job.worker == "w1"
    if status == JobStatus.DONE:
        assert job.progress["stage"] == "done" and job.progress["metrics"] == {"psnr": 30.5}
    else:
        assert job.progress["stage"] == "failed"


def test_a_job_runs_once(user):
    job = _job(user)
    OUTCOMES[str(job.id)] = {}
    assert services.job_start(job_id=job.id, worker="a") is not None
    assert services.job_start(job_id=job.id, worker="b") is None


def test_cancelling_a_queued_job_stops_it_before_it_runs(user):
    job = services.job_cancel(job=_job(user))
    assert job.status == JobStatus.CANCELLED
    services.job_execute(job_id=job.id, worker="w")  # a redelivered message does nothing
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.worker == ""


def test_progress_raises_cancelled_once_requested(user):
    job = _job(user, status=JobStatus.RUNNING)
    progress = JobProgress(job.id, interval=0)
    progress(ProgressEvent(stage="tiling", current=1, total=3))
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    with pytest.raises(Cancelled):
        progress(ProgressEvent(stage="tiling", current=2, total=3))


def test_progress_is_throttled_but_keeps_stage_changes_and_skips_engine_done(user, monkeypatch):
    job = _job(user, status=JobStatus.RUNNING)
    stored: list[dict] = []
    monkeypatch.setattr(JobProgress, "store", lambda self, event: stored.append(event.to_dict()))
    progress = JobProgress(job.id, interval=60)
    progress(ProgressEvent(stage="loading"))
    for i in range(1, 5):
        progress(ProgressEvent(stage="tiling", current=i, total=5))
    progress(ProgressEvent(stage="tiling", current=5, total=5))
    progress.labelled("bicubic")(ProgressEvent(stage="saving", message="out.png"))
    progress(ProgressEvent(stage="done"))
    assert [(e["stage"], e["current"]) for e in stored] == [
        ("loading", 0), ("tiling", 1), ("tiling", 5), ("saving", 0)]
    assert stored[-1]["message"] == "bicubic: out.png"


def test_progress_snapshot_is_stored_on_the_row(user):
    job = _job(user, status=JobStatus.RUNNING)
    JobProgress(job.id)(ProgressEvent(stage="tiling", current=3, total=9, eta_s=4.0))
    job.refresh_from_db()
    assert job.progress["current"] == 3 and job.progress["eta_s"] == 4.0
    assert job.heartbeat_at is not None


def test_reconcile_fails_jobs_whose_process_is_gone_or_silent(user):
    import os
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    now = timezone.now()
    gone = _job(user, status=JobStatus.RUNNING, worker=f"w1@h:{dead.pid}", heartbeat_at=now)
    live = _job(user, status=JobStatus.RUNNING, worker=f"w1@h:{os.getpid()}", heartbeat_at=now)
    stale = _job(user, status=JobStatus.RUNNING, worker=f"w2@h:{os.getpid()}",
                 heartbeat_at=now - timedelta(hours=3))
    other = _job(user, status=JobStatus.RUNNING, worker=f"w2@h:{dead.pid}", heartbeat_at=now)
    assert services.job_reconcile(node="w1@h", stale_after=timedelta(hours=2)) == 2
    statuses = {j.id: j.status for j in Job.objects.all()}
    assert statuses[gone.id] == statuses[stale.id] == JobStatus.FAILED
    assert statuses[live.id] == statuses[other.id] == JobStatus.RUNNING
    assert "worker" in Job.objects.get(id=gone.id).error
