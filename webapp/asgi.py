"""ASGI entry point: Django for HTTP, Channels for `ws/`."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from webapp.routing import websocket_urlpatterns  # noqa: E402
from webapp.ws_auth import TokenOrSessionAuth  # noqa: E402

# `make run` has no nginx in front: serve /static/ from the app unless told not to.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.SR_SERVE_STATIC else django_asgi_app

application = ProtocolTypeRouter({
    "http": http_app,
    "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns)),
})
