"""Websocket `ws/jobs/<uuid>/`: ownership check at connect, the stored snapshot first, then
every update the worker sends to the job's group, and a keep-alive while nothing happens."""

from __future__ import annotations

import asyncio
import contextlib
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from webapp.jobs.selectors import job_get_for_user, job_payload
from webapp.progress import job_group

CLOSE_NOT_FOUND = 4404


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Accept, then close with 4404: the client sees the documented code, not a failed
    handshake that looks like a network error."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)


class JobConsumer(AsyncJsonWebsocketConsumer):
    keepalive_task: asyncio.Task | None = None

    async def connect(self) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        payload = await self._payload(job_id)
        await self.accept()
        if payload is None:  # not found and not yours look the same
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = job_group(job_id)
        # Join before reading the snapshot so no update falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        payload = await self._payload(job_id)
        await self.send_json({"type": "snapshot", "job": payload})
        self.keepalive_task = asyncio.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        # Proxies and clients drop connections that stay silent; a visible message also
        # lets a client tell "queued, nothing new" from "connection dead".
        while True:
            await asyncio.sleep(settings.SR_WS_KEEPALIVE_SECONDS)
            await self.send_json({"type": "keepalive"})

    async def disconnect(self, code: int) -> None:
        if self.keepalive_task is not None:
            self.keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keepalive_task
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None,
                      **kwargs: object) -> None:
        # Clients only listen; "ping" lets them check the connection is alive. Anything else
        # (binary frames, text that is not JSON) is ignored rather than closing with 1011.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        if content == {"type": "ping"}:
            await self.send_json({"type": "pong"})

    async def job_update(self, message: dict) -> None:
        await self.send_json({"type": "update", "job": message["job"]})

    @database_sync_to_async
    def _payload(self, job_id: str) -> dict | None:
        job = job_get_for_user(job_id=job_id, user=self.scope["user"])
        return None if job is None else job_payload(job)
