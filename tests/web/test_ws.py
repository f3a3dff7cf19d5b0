"""The job websocket against the real ASGI app and the private Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from sr_engine.progress import ProgressEvent
from webapp.api.tokens import token_create
from webapp.asgi import application
from webapp.jobs.models import Job, JobStatus
from webapp.jobs.services import job_mark_done
from webapp.progress import JobProgress

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio,
              pytest.mark.timeout(60)]


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return [(b"cookie", cookie.encode()), (b"origin", b"http://testserver"),
            (b"host", b"testserver")]


async def _connect(path: str, headers=None) -> tuple[WebsocketCommunicator, bool, object]:
    comm = WebsocketCommunicator(application, path, headers=headers or [])
    connected, code = await comm.connect(timeout=10)
    return comm, connected, code


@sync_to_async
def _running_job(user) -> Job:
    return Job.objects.create(owner=user, kind="upscale", status=JobStatus.RUNNING,
                              progress=ProgressEvent(stage="tiling", current=2,
                                                     total=8).to_dict())


async def test_owner_gets_the_snapshot_first_then_updates(user):
    job = await _running_job(user)
    headers = await sync_to_async(_session_headers)(user)
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/", headers)
    assert connected
    first = await comm.receive_json_from(timeout=5)
    assert first["type"] == "snapshot"
    assert first["job"]["progress"]["current"] == 2 and first["job"]["status"] == "running"

    await sync_to_async(JobProgress(job.id))(ProgressEvent(stage="tiling", current=3, total=8))
    update = await comm.receive_json_from(timeout=5)
    assert update["type"] == "update" and update["job"]["progress"]["current"] == 3

    await sync_to_async(job_mark_done)(job_id=job.id, result={"summary": {"model_psnr_y": 31.0}})
    done = await comm.receive_json_from(timeout=5)
    assert done["job"]["status"] == "done" and done["job"]["progress"]["stage"] == "done"
    await comm.disconnect()


async def test_other_users_and_anonymous_are_refused(user, other_user):
    job = await _running_job(user)
    headers = await sync_to_async(_session_headers)(other_user)
    comm, connected, code = await _connect(f"/ws/jobs/{job.id}/", headers)
    assert not connected and code == 4404
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/",
                                        [(b"origin", b"http://testserver")])
    assert not connected


async def test_session_socket_from_a_foreign_origin_is_refused(user):
    job = await _running_job(user)
    headers = [h for h in await sync_to_async(_session_headers)(user) if h[0] != b"origin"]
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/",
                                        headers + [(b"origin", b"http://evil.example")])
    assert not connected


async def test_api_token_in_the_query_string(user, other_user):
    job = await _running_job(user)
    token = await sync_to_async(token_create)(user=user)
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/?token={token}")
    assert connected
    assert (await comm.receive_json_from(timeout=5))["job"]["id"] == str(job.id)
    await comm.disconnect()
    stranger = await sync_to_async(token_create)(user=other_user)
    for bad in (stranger, "srs_wrong"):
        comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/?token={bad}")
        assert not connected
