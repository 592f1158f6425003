"""The API key, checked before anything reads the body.

The routes check the key as a dependency (the hot routes as their first step); both run after the body
guard (service/core/limits.py), which buffers up to ``FORECAST_MAX_BODY_BYTES`` and parses JSON to find
repeated keys, and after /v2's binary unframing. :class:`KeyGuard` sits outside the body guard and
answers an anonymous request to a protected route 401 from its headers alone, so a client without the
key can make the server neither buffer nor parse a body, nor learn the body rules (415, 413, 431, 400).

Which routes are protected is read off the routes themselves (those that depend on ``require_api_key``,
or whose documented operation does), they are matched with Starlette's own ``Route.matches``, the check
is :func:`service.api.deps.check_api_key`, and the 401 is built by the route's protocol (the service-wide
error shape on /v1, ``{"error": "..."}`` on /v2), so a request is refused the same way whichever layer
sees it first.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import API_KEY_HEADER, check_api_key, require_api_key
from service.api.hot import HotRoute
from service.api.v2 import errors as v2_errors
from service.core.config import Settings
from service.core.errors import ApiError, error_response

_HEADER = API_KEY_HEADER.lower().encode("latin-1")


def protected(route: BaseRoute) -> bool:
    """Whether ``route`` requires the API key (depends on ``require_api_key``, itself or as documented)."""
    described = route.operation if isinstance(route, HotRoute) else route
    return isinstance(described, APIRoute) and any(d.dependency is require_api_key for d in described.dependencies)


def _refusal(path: str, exc: ApiError) -> Response:
    """The 401 in the shape of the path's protocol."""
    if path.startswith("/v2/"):
        return v2_errors.error_json(exc.status, exc.message, exc.headers)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


class KeyGuard:
    """ASGI middleware: a request to a protected route without a configured key gets 401 before ``app``
    (the body guard and everything inside it) sees it; everything else passes through untouched."""

    def __init__(self, app: ASGIApp, settings: Settings, routes: Iterable[BaseRoute]) -> None:
        self.app, self.settings = app, settings
        self.routes = [route for route in routes if protected(route)]

    def _match(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            if route.matches(scope)[0] is Match.FULL:  # path and method, as the router itself decides
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        # The raw header (ASGI names are lower-case bytes), read as Starlette's Headers would read it.
        sent = next((value for name, value in scope["headers"] if name == _HEADER), None)
        try:
            check_api_key(self.settings, None if sent is None else sent.decode("latin-1"))
        except ApiError as exc:
            # What the router would have set: the metrics middleware labels the 401 by the route template.
            scope["route"] = route
            await _refusal(scope["path"], exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)
