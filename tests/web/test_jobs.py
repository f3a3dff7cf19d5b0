"""Job services and the progress adapter, with a test job kind (no engine involved)."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from sr_engine.errors import Cancelled, ConfigError, EngineError
from sr_engine.progress import ProgressEvent
from webapp.celery import app
from webapp.jobs import broker, recovery, runners, services
from webapp.jobs.broker import QueueUnavailable
from webapp.jobs.models import Job, JobStatus
from webapp.limits import LimitExceeded
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


def test_progress_is_throttled_across_stages_and_skips_engine_done(user, monkeypatch):
    job = _job(user, status=JobStatus.RUNNING)
    stored: list[dict] = []
    monkeypatch.setattr(JobProgress, "store", lambda self, event: stored.append(event.to_dict()))
    with JobProgress(job.id, interval=60) as progress:
        progress(ProgressEvent(stage="loading"))
        for i in range(1, 6):
            progress(ProgressEvent(stage="tiling", current=i, total=5))
        progress.labelled("bicubic")(ProgressEvent(stage="saving", message="out.png"))
        progress(ProgressEvent(stage="done"))
    # The first event at once; the rest waited for the interval and the job's end dropped them.
    assert [(e["stage"], e["current"]) for e in stored] == [("loading", 0)]


def test_a_deferred_event_is_stored_when_its_interval_is_up_and_never_after_close(
        user, monkeypatch):
    job = _job(user, status=JobStatus.RUNNING)
    stored: list[dict] = []
    monkeypatch.setattr(JobProgress, "store", lambda self, event: stored.append(event.to_dict()))
    progress = JobProgress(job.id, interval=0.05, just_stored=True)
    progress(ProgressEvent(stage="tiling", current=5, total=5))
    progress.labelled("bicubic")(ProgressEvent(stage="saving", message="out.png"))
    deadline = time.monotonic() + 10
    while not stored and time.monotonic() < deadline:
        time.sleep(0.01)
    progress.close()
    # Only the latest waiting event: a silent step after it shows its own stage.
    assert [(e["stage"], e["message"]) for e in stored] == [("saving", "bicubic: out.png")]
    progress(ProgressEvent(stage="validating"))
    progress.store_now(ProgressEvent(stage="validating"))
    assert len(stored) == 1


def test_progress_snapshot_is_stored_on_the_row(user):
    job = _job(user, status=JobStatus.RUNNING)
    JobProgress(job.id)(ProgressEvent(stage="tiling", current=3, total=9, eta_s=4.0))
    job.refresh_from_db()
    assert job.progress["current"] == 3 and job.progress["eta_s"] == 4.0
    assert job.heartbeat_at is not None


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


def test_reconcile_requeues_this_nodes_jobs_whose_process_is_gone_then_fails_them(
        user, monkeypatch):
    published = []
    monkeypatch.setattr(services, "publish", lambda job_id, queue: published.append(job_id)
                        or True)
    now = timezone.now()
    gone = _job(user, status=JobStatus.RUNNING, worker=f"w1@h:{_dead_pid()}", heartbeat_at=now,
                attempts=1)
    last = _job(user, status=JobStatus.RUNNING, worker=f"w1@h:{_dead_pid()}", heartbeat_at=now,
                attempts=2)
    live = _job(user, status=JobStatus.RUNNING, worker=f"w1@h:{os.getpid()}", heartbeat_at=now)
    other = _job(user, status=JobStatus.RUNNING, worker=f"w2@h:{_dead_pid()}", heartbeat_at=now)
    assert recovery.job_reconcile(node="w1@h") == 2
    jobs = {j.id: j for j in Job.objects.all()}
    assert jobs[gone.id].status == JobStatus.QUEUED and jobs[gone.id].worker == ""
    assert "queued again (try 2 of 2)" in jobs[gone.id].progress["message"]
    assert published == [str(gone.id)] and jobs[gone.id].enqueued_at is not None
    assert jobs[last.id].status == JobStatus.FAILED
    assert "stopped before it finished (try 2 of 2)" in jobs[last.id].error
    assert jobs[live.id].status == jobs[other.id].status == JobStatus.RUNNING


def test_a_requeued_job_is_claimed_again_and_counts_its_tries(user, monkeypatch):
    monkeypatch.setattr(services, "publish", lambda job_id, queue: True)
    job = _job(user)
    services.job_start(job_id=job.id, worker=f"w1@h:{_dead_pid()}")
    recovery.job_reconcile(node="w1@h")
    assert services.job_start(job_id=job.id, worker="w1@h:1") is not None
    assert Job.objects.get(id=job.id).attempts == 2


def test_sweep_recovers_silent_jobs_and_republishes_queued_jobs_without_a_message(
        user, monkeypatch, settings):
    settings.SR_JOB_STALE_SECONDS, settings.SR_QUEUE_GRACE_SECONDS = 30, 15
    published = []
    monkeypatch.setattr(services, "publish", lambda job_id, queue: published.append(job_id)
                        or True)
    now = timezone.now()
    silent = _job(user, status=JobStatus.RUNNING, worker="w9@elsewhere:1", attempts=1,
                  heartbeat_at=now - timedelta(seconds=31))
    beating = _job(user, status=JobStatus.RUNNING, worker="w9@elsewhere:2", attempts=1,
                   heartbeat_at=now - timedelta(seconds=5))
    never = _job(user)  # the broker was down when it was created
    lost = _job(user, enqueued_at=now - timedelta(seconds=60))  # its message went with Redis
    waiting = _job(user, enqueued_at=now - timedelta(seconds=60))
    fresh = _job(user, enqueued_at=now)  # just published: give the worker time to take it
    monkeypatch.setattr(recovery, "waiting_job_ids", lambda queues, held_for: {str(waiting.id)})
    assert recovery.job_sweep() == {"recovered": 1, "published": 2}  # + the recovered one
    assert sorted(published) == sorted(str(j.id) for j in (silent, never, lost))
    assert Job.objects.get(id=beating.id).status == JobStatus.RUNNING
    assert Job.objects.get(id=fresh.id).enqueued_at == fresh.enqueued_at


def test_waiting_job_ids_reads_the_real_broker_queue(user, settings):
    job = _job(user, queue="cpu-nobody-consumes")
    assert services.job_enqueue(job_id=job.id)
    assert str(job.id) in broker.waiting_job_ids({"cpu-nobody-consumes"})
    assert str(job.id) not in broker.waiting_job_ids({"default"})
    broker._client(settings.REDIS_URL).delete("cpu-nobody-consumes")


def test_a_message_a_worker_just_took_counts_as_waiting_for_the_grace_only(user, settings):
    # The sweep between a worker taking a message and claiming its job must not publish a
    # second copy; a message held longer than the grace (a dead worker's) no longer counts.
    job = _job(user, queue="cpu-nobody-consumes")
    assert services.job_enqueue(job_id=job.id)
    with app.connection_for_read() as connection:
        held = connection.default_channel.basic_get("cpu-nobody-consumes")  # kombu's QoS
        assert held is not None and held.headers["id"] == str(job.id)
        try:
            assert str(job.id) not in broker.waiting_job_ids({"cpu-nobody-consumes"})
            assert str(job.id) in broker.waiting_job_ids({"cpu-nobody-consumes"}, held_for=60)
            time.sleep(1.1)
            assert str(job.id) not in broker.waiting_job_ids({"cpu-nobody-consumes"},
                                                             held_for=1)
        finally:
            held.ack()


def test_a_user_at_the_running_limit_waits_in_the_queue(user, other_user, settings):
    settings.SR_USER_MAX_RUNNING_JOBS = 2
    for _ in range(2):
        _job(user, status=JobStatus.RUNNING)
    waiting, others = _job(user), _job(other_user)
    assert services.job_start(job_id=waiting.id, worker="w:1") is None
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED and waiting.enqueued_at is not None
    assert waiting.progress["message"] == "waiting: 2 of your jobs are running (the limit is 2)"
    assert services.job_start(job_id=others.id, worker="w:1") is not None
    settings.SR_USER_MAX_RUNNING_JOBS = 0  # no limit
    assert services.job_start(job_id=waiting.id, worker="w:1") is not None


def test_submissions_over_the_active_job_limit_are_refused(user, settings):
    settings.SR_USER_MAX_ACTIVE_JOBS = 2
    services.job_create(owner=user, kind="test", params={})
    _job(user, status=JobStatus.RUNNING)
    with pytest.raises(LimitExceeded, match="2 jobs queued or running and the limit is 2"):
        services.job_create(owner=user, kind="test", params={})


def test_job_create_refuses_when_the_broker_is_down_and_saves_nothing(user, settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path / 'gone.sock'}"
    with pytest.raises(QueueUnavailable, match="not reachable"):
        services.job_create(owner=user, kind="test", params={})
    assert not Job.objects.exists()


def test_retry_runs_a_failed_job_again_from_the_start(user, django_capture_on_commit_callbacks):
    job = _job(user, status=JobStatus.FAILED, error="boom", attempts=2)
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.job_retry(job=job)
    assert len(callbacks) == 1  # publishes once committed
    assert (job.status, job.error, job.attempts) == (JobStatus.QUEUED, "", 0)
    with pytest.raises(ConfigError, match="only a failed or cancelled job"):
        services.job_retry(job=job)
