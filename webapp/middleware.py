"""Service errors that are the client's or the moment's, not a bug, answered as such:
QueueUnavailable is a 503 (with Retry-After), LimitExceeded a 429, and OverflowError a 400
(a number from the request too large for the database or a date), and a database lock that
outlived the database's timeout a 503 (SQLite's one writer lock held by a frozen process:
the write did not happen, and trying again later is the right answer, not a 500). JSON on
the API, a page elsewhere; every view gets this without its own try/except."""

from __future__ import annotations

from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webapp.jobs.broker import QueueUnavailable
from webapp.limits import LimitExceeded

STATUS = {QueueUnavailable: 503, LimitExceeded: 429, OverflowError: 400}
RETRY_AFTER = {503: "30", 429: "60"}
MESSAGE = {OverflowError: "a number in the request is out of range"}
BUSY = "the database is busy (another process holds its lock); try again in a moment"


def _status(exc: Exception) -> tuple[int, str] | None:
    if isinstance(exc, OperationalError) and "locked" in str(exc):
        return 503, BUSY
    status = STATUS.get(type(exc))
    return None if status is None else (status, MESSAGE.get(type(exc), str(exc)))


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        answer = _status(exc)
        if answer is None:
            return None
        status, message = answer
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": message}, status=status)
        else:
            response = render(request, "error.html", {"status": status, "message": message},
                              status=status)
        if status in RETRY_AFTER:
            response["Retry-After"] = RETRY_AFTER[status]
        return response
