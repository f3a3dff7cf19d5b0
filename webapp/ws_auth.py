"""Websocket authentication: a browser uses its session cookie (and must come from an
allowed origin, against cross-site hijacking); an API client passes `?token=`."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator

from webapp.api.tokens import token_user


class TokenOrSessionAuth:
    def __init__(self, app: object) -> None:
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(app))
        self.app = app

    async def __call__(self, scope: dict, receive: object, send: object) -> object:
        query = parse_qs(scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        if token is None:
            return await self.session_app(scope, receive, send)
        user = await database_sync_to_async(token_user)(token)
        if user is None:
            from django.contrib.auth.models import AnonymousUser

            user = AnonymousUser()
        return await self.app(dict(scope, user=user), receive, send)
