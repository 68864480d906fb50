"""Who is making the current request, for audit entries written where no request is passed (signals).

``RequestActorMiddleware`` remembers the request for the time it is handled; ``current_actor()``
names its signed-in user and address, or the system outside a request (shell, migrations, workers).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

from core.audit import SYSTEM, Actor
from core.client_ip import client_ip

_current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)


class RequestActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def current_actor() -> Actor:
    request = _current_request.get()
    if request is None:
        return SYSTEM
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor(user=user, ip_address=client_ip(request))
    return Actor(label="anonymous request", ip_address=client_ip(request))
