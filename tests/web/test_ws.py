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


async def _assert_closed_4404(path: str, headers=None) -> None:
    """Refusals are an accepted socket closed with the documented 4404, not a failed
    handshake that a client cannot tell from a network error."""
    comm, connected, _ = await _connect(path, headers)
    assert connected
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
    await comm.wait()


async def test_other_users_and_anonymous_are_refused(user, other_user):
    job = await _running_job(user)
    headers = await sync_to_async(_session_headers)(other_user)
    await _assert_closed_4404(f"/ws/jobs/{job.id}/", headers)
    await _assert_closed_4404(f"/ws/jobs/{job.id}/", [(b"origin", b"http://testserver")])


@pytest.mark.parametrize("path", ["/ws/jobs/not-a-uuid/", "/ws/jobs/", "/ws/other/x",
                                  "/ws/jobs/00000000-0000-0000-0000-000000000000/"])
async def test_paths_that_are_not_a_job_are_closed_with_4404(path, user):
    headers = await sync_to_async(_session_headers)(user)
    await _assert_closed_4404(path, headers)


async def test_quiet_sockets_get_keepalives_and_ignore_garbage(user, settings):
    settings.SR_WS_KEEPALIVE_SECONDS = 1
    job = await _running_job(user)
    headers = await sync_to_async(_session_headers)(user)
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/", headers)
    assert connected and (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
    await comm.send_to(text_data="not json")
    await comm.send_to(bytes_data=b"\x00\x01")
    assert await comm.receive_json_from(timeout=5) == {"type": "keepalive"}
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=5) in ({"type": "pong"}, {"type": "keepalive"})
    await comm.disconnect()


async def test_session_socket_from_a_foreign_origin_is_refused(user):
    job = await _running_job(user)
    headers = [h for h in await sync_to_async(_session_headers)(user) if h[0] != b"origin"]
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/",
                                        headers + [(b"origin", b"http://evil.example")])
    assert not connected  # refused at the handshake (HTTP 403), as documented
    await comm.wait()  # end the refused app here, not in the event loop's teardown


async def test_api_token_in_the_query_string(user, other_user):
    job = await _running_job(user)
    token = await sync_to_async(token_create)(user=user)
    comm, connected, _ = await _connect(f"/ws/jobs/{job.id}/?token={token}")
    assert connected
    assert (await comm.receive_json_from(timeout=5))["job"]["id"] == str(job.id)
    await comm.disconnect()
    stranger = await sync_to_async(token_create)(user=other_user)
    for bad in (stranger, "srs_wrong"):
        await _assert_closed_4404(f"/ws/jobs/{job.id}/?token={bad}")
