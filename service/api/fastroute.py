"""A route class with a fast lane for the hot endpoints (predict, forecast, infer).

FastAPI's request handling solves the dependency graph, validates the body into a model and then
validates and serialises the returned model again: about 200 µs a request on the reference machine, ten
times what the ONNX model itself takes (BENCHMARKS.md, "Where a request's time goes"). A fast lane
parses the body with the same pydantic model in one call (``model_validate_json``, in Rust), calls the
dataplane and writes the answer with msgspec; the route's FastAPI handler stays behind it, for the
OpenAPI schema and for every request the lane does not take. The lane takes only what it can answer
exactly as the full route would: a body that fails validation goes to the full route, whose errors
(field paths, rules, messages) are then the only ones a client ever sees. :mod:`service.api.door` calls
the same fast handlers before FastAPI's routing, for the rest of the saving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import msgspec
from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

#: Answers a request the fast way, or None to leave it to the route's full FastAPI handler.
FastHandler = Callable[[Request], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Body = TypeVar("Body", bound=BaseModel)

_ATTRIBUTE = "__fast_handler__"
#: Set in the ASGI scope of a request whose fast lane has already said no (service/api/door.py).
DECLINED = "fast_lane.declined"
_JSON = msgspec.json.Encoder()


def fast_lane(handler: FastHandler) -> Callable[[Endpoint], Endpoint]:
    """Give an endpoint of a :class:`FastRoute` router its fast handler (apply below ``@router.post``)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, handler)
        return endpoint

    return mark


class FastRoute(APIRoute):
    """An ``APIRoute`` that tries its endpoint's fast handler first, if it has one."""

    @property
    def fast_handler(self) -> FastHandler | None:
        handler: FastHandler | None = getattr(self.endpoint, _ATTRIBUTE, None)
        return handler

    def error_response(self, exc: Exception) -> Response | None:
        """How this route's protocol answers ``exc`` (None: let it propagate to the app's handlers), for
        :mod:`service.api.door`, which calls the fast handler without the app's exception middleware;
        each protocol's route class says it."""
        return None

    def takes_fast(self, request: Request) -> bool:
        """Whether the door may hand this request to the fast handler (subclasses narrow it)."""
        return True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()
        fast = self.fast_handler
        if fast is None:
            return full

        async def handler(request: Request) -> Response:
            # A request the front door's call of this lane declined comes here with the mark: not twice.
            if not request.scope.get(DECLINED):
                response = await fast(request)
                if response is not None:
                    return response
            # The body stays cached on the request, so the full handler reads it without the client.
            return await full(request)

        return handler


async def parse_body(request: Request, model: type[Body]) -> Body | None:
    """The request body as ``model``, or None when it does not validate (the full route says why)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError:
        return None


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, str, float, int, None) as a JSON response, encoded by msgspec: a tenth of
    the time of ``json.dumps`` for a float list, and no response-model validation on the way out."""
    return Response(_JSON.encode(content), status_code=status_code, media_type="application/json")
