"""Request ids and the request log: one JSON line per request (service/core/logs.py writes it).

Every request gets an id: the client's ``X-Request-ID`` when it is a plausible id (1 to 128 letters,
digits and ``._:@/+=-``), else a new random one, so a client, a proxy and this server can name the same
call. A client's header that is not plausible (too long, spaces, control or non-ASCII characters) is
replaced, never echoed: it would otherwise carry whatever a caller wrote into the logs and the response
of every system that forwards it. The id is returned in the response's ``X-Request-ID`` and named by
every log line written while the request is handled.

The request log line (logger ``forecast.access``) says when, which request, method, route template,
status, duration, model, version, rows, horizon, bytes in and out and the client address. It is written
for every request that failed (status 400 and above) and for the share ``FORECAST_ACCESS_LOG_SAMPLE``
of the others: errors are what an operator looks for, and sampling is for the successes' volume.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import Settings
from service.core.logs import ACCESS_LOGGER, REQUEST

HEADER = b"x-request-id"
# What the handlers' notes (service/core/logs.py ``note``) give the log line; the rest are a trace's times.
LOGGED = ("request_id", "trace_id", "span_id", "model", "version", "rows", "horizon")
VALID_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is a plausible id, else a new one (32 hex digits)."""
    for name, value in scope["headers"]:
        if name == HEADER:
            if VALID_ID.fullmatch(value):
                return value.decode("ascii")
            break  # a bad one is replaced, as if absent
    return os.urandom(16).hex()  # 128 random bits, as a UUID4 has, at a fifth of uuid4()'s cost


def _with_id(message: Message, header: tuple[bytes, bytes]) -> Message:
    """The response start ``message`` with the request id header (no route of the app sets one)."""
    return {**message, "headers": [*message.get("headers", ()), header]}


class RequestLogMiddleware:
    """Pure ASGI middleware, outermost: every request's id and log line, the refused ones' too."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.enabled = settings.access_log
        self.level = logging.getLevelNamesMapping()[settings.access_log_level.upper()]
        self.sample = settings.access_log_sample
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {"request_id": request_id(scope)}
        header = (HEADER, info["request_id"].encode("ascii"))
        token = REQUEST.set(info)
        # isEnabledFor is cached by logging: off (or below FORECAST_LOG_LEVEL), a request pays for its id only.
        if self.enabled and self.log.isEnabledFor(self.level):
            await self._logged(scope, receive, send, info, header)
        else:
            await self.app(scope, receive, self._id_sender(send, header))
        # Not reset when the app raised: the error handler outside this middleware logs the incident with
        # the request's id (service/core/errors.py). The context is the request task's own and ends with it.
        REQUEST.reset(token)

    @staticmethod
    def _id_sender(send: Send, header: tuple[bytes, bytes]) -> Send:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_id(message, header)
            await send(message)

        return send_with_id

    async def _logged(
        self, scope: Scope, receive: Receive, send: Send, info: dict[str, Any], header: tuple[bytes, bytes]
    ) -> None:
        started = time.perf_counter()
        status, bytes_in, bytes_out = 500, 0, 0  # 500: what the client gets when the app raises

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            bytes_in += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = message["status"]
                message = _with_id(message, header)
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            if status >= 400 or self.sample >= 1.0 or random.random() < self.sample:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                client = scope.get("client")
                fields = {
                    **{k: info[k] for k in LOGGED if k in info},
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "client": client[0] if client else None,
                }
                # Straight to the handlers: Logger.log would also walk the stack for a caller nobody reads.
                record = self.log.makeRecord(ACCESS_LOGGER, self.level, __file__, 0, "request", (), None)
                record.fields = fields
                self.log.handle(record)
