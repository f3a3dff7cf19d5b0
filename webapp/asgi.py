"""ASGI entry point: Django for HTTP (behind the body guard), Channels for `ws/`."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.umask(0o077)  # uploads and results the web process writes are the service user's only
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from webapp.guard import RequestGuard  # noqa: E402
from webapp.routing import websocket_urlpatterns  # noqa: E402
from webapp.ws_auth import TokenOrSessionAuth  # noqa: E402

# Static files are served by WhiteNoise inside Django (settings.MIDDLEWARE).
application = ProtocolTypeRouter({
    "http": RequestGuard(django_asgi_app),
    "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns)),
})
