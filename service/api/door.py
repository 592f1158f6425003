"""The front door: a POST to predict, forecast or infer goes straight to its route's fast lane.

FastAPI's route matching (nested included routers), exception middleware and per-route wrappers cost
about 145 µs a request on the 2-core reference machine, more than the pipeline and the model together
(BENCHMARKS.md, "2026-11-27 (evening): the request path"). The door sits inside the service's own
middleware (metrics, body guard), matches the few hot paths with their routes' own compiled patterns,
and calls the fast handler directly; it answers the handler's errors the way the route's protocol does
(``error_response`` of the route class). Everything else, including a request the fast lane declines (a
body that does not validate) and a binary /v2 request, goes on to the app unchanged, with the body
replayed.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.fastroute import DECLINED, FastHandler, FastRoute
from service.core.limits import replay_body


class FrontDoor:
    """ASGI middleware: the hot POST paths to their fast lanes, everything else to ``app``."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes: list[tuple[FastRoute, FastHandler]] = [
            (route, route.fast_handler)
            for route in routes
            if isinstance(route, FastRoute) and route.fast_handler is not None and "POST" in (route.methods or ())
        ]

    def _match(self, path: str) -> tuple[FastRoute, FastHandler, dict[str, str]] | None:
        for route, handler in self.routes:
            found = route.path_regex.match(path)
            if found is not None:
                params = {k: route.param_convertors[k].convert(v) for k, v in found.groupdict().items()}
                return route, handler, params
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        route, handler, params = matched
        # What the router would have set: the metrics middleware labels by scope["route"].
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, params
        request = Request(scope, receive)
        if not route.takes_fast(request):
            await self.app(scope, receive, send)
            return
        try:
            response = await handler(request)
        except Exception as exc:
            response = route.error_response(exc)
            if response is None:
                raise
        if response is not None:
            await response(scope, receive, send)
            return
        # The fast lane read (and cached) the body: hand it to the app again, marked so that the route
        # goes straight to its full handler.
        scope[DECLINED] = True
        await self.app(scope, replay_body(await request.body(), receive), send)
