"""`Authorization: Bearer <token>` for the JSON API; no cookies, so no CSRF."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.api.tokens import bearer_token, token_user


def api_error(status: int, message: str, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_methods(*methods: str) -> Callable[[Callable[..., HttpResponse]],
                                          Callable[..., HttpResponse]]:
    """Like Django's require_http_methods, but the 405 is JSON with a message, as every other
    API error is (Django's is an empty text/html body)."""
    allowed = ", ".join(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method not in methods:
                response = api_error(405, f"method {request.method} not allowed here; "
                                          f"use {allowed}")
                response["Allow"] = allowed
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def token_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        token = bearer_token(request.headers.get("Authorization"))
        user = token_user(token) if token else None
        if user is None:
            response = api_error(401, "missing or invalid token; send 'Authorization: Bearer "
                                      "<token>' (create one with manage.py create_api_token)")
            response["WWW-Authenticate"] = 'Bearer realm="sr-studio"'
            return response
        request.user = user
        return view(request, *args, **kwargs)

    return wrapper
