"""Request bodies are bounded before anything reads them (outermost ASGI layer for HTTP).

Django reads a whole body (into a spooled temp file) before a view can refuse it, so limits
that views enforce still cost the server the upload. This layer answers first:

- 413 when Content-Length is over the route's limit, or as soon as a chunked body passes it
  (the app then sees a disconnect and the layer answers for it);
- 401 when a body over `SR_ANONYMOUS_BODY_BYTES` comes without a session or API token that
  belongs to an active user (an anonymous client cannot make the server store anything big).

Limits: dataset archive routes allow `SR_DATASET_MAX_ARCHIVE_BYTES` (plus form overhead), every
other route `SR_MAX_REQUEST_BYTES`. The server (uvicorn) applies flow control, so a body that
is never read is never buffered.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from webapp.api.tokens import bearer_token, token_user

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ARCHIVE_ROUTES = ("/training/datasets/new", "/api/v1/datasets")
FORM_OVERHEAD = 1024 * 1024  # multipart headers and the other fields of a form


def body_limit(path: str) -> int:
    if path.rstrip("/") in ARCHIVE_ROUTES:
        return settings.SR_DATASET_MAX_ARCHIVE_BYTES + FORM_OVERHEAD
    return settings.SR_MAX_REQUEST_BYTES


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _session_user_id(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    cookies = dict(part.strip().partition("=")[::2] for part in cookie_header.split(";"))
    key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return None
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(key)
    return store.get(SESSION_KEY)


def request_user_known(scope: Scope) -> bool:
    """Does the request carry a session or API token of an active user? (Synchronous: DB.)"""
    token = bearer_token(_header(scope, b"authorization"))
    if token:
        return token_user(token) is not None
    user_id = _session_user_id(_header(scope, b"cookie"))
    return bool(user_id) and get_user_model().objects.filter(pk=user_id,
                                                             is_active=True).exists()


async def _answer(send: Send, status: int, message: str, scope: Scope) -> None:
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, kind = (message + "\n").encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"the request body is over the {limit:,} byte limit"


class RequestGuard:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await _answer(send, 413, _too_large(limit), scope)
            return
        chunked = (_header(scope, b"transfer-encoding") or "").lower() == "chunked"
        big = chunked or (length or 0) > settings.SR_ANONYMOUS_BODY_BYTES
        if big and not await sync_to_async(request_user_known)(scope):
            await _answer(send, 401, "log in (or send an API token) before uploading", scope)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app with a receive that cuts a body off once it passes `limit`."""
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> dict:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, tracked_send)
        if state["over"] and not state["started"]:
            await _answer(send, 413, _too_large(limit), scope)
