from django.urls import path, re_path

from webapp.consumers import JobConsumer, NotFoundConsumer

websocket_urlpatterns = [
    path("ws/jobs/<uuid:job_id>/", JobConsumer.as_asgi()),
    # Anything else (not a job id, another path) is refused with the documented close code
    # instead of an unrouted path erroring in the server.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
