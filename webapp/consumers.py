"""Websocket `ws/jobs/<uuid>/`: ownership check at connect, the stored snapshot first,
then every update the worker sends to the job's group."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from webapp.jobs.selectors import job_get_for_user, job_payload
from webapp.progress import job_group

CLOSE_NOT_FOUND = 4404


class JobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        payload = await self._payload(job_id)
        if payload is None:  # not found and not yours look the same
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = job_group(job_id)
        # Join before reading the snapshot so no update falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        payload = await self._payload(job_id)
        await self.send_json({"type": "snapshot", "job": payload})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: object, **kwargs: object) -> None:
        # Clients only listen; "ping" lets them check the connection is alive.
        if content == {"type": "ping"}:
            await self.send_json({"type": "pong"})

    async def job_update(self, message: dict) -> None:
        await self.send_json({"type": "update", "job": message["job"]})

    @database_sync_to_async
    def _payload(self, job_id: str) -> dict | None:
        job = job_get_for_user(job_id=job_id, user=self.scope["user"])
        return None if job is None else job_payload(job)
