"""``forecast-serve``'s HTTP protocols: uvicorn's own, with a read deadline and an upload budget for slow
clients.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but cancels that timer as soon as
any byte arrives, and sets no timer at all on a fresh connection: a client that sends its headers at one
byte per second, or declares a 900 kB body and stops half way, holds a connection (and what it has sent
so far) for as long as it likes. :class:`HttpToolsWithDeadline` and :class:`H11WithDeadline` are uvicorn's
two HTTP/1.1 protocols with one timer more: armed when a connection opens and when the first byte of a
request arrives, cancelled once the whole request (headers and body) is in. When it fires the client
gets 408 (when no response has started) and the connection is closed. ``forecast-serve`` passes one of
them to uvicorn as ``http=``; uvicorn pickles the class by reference into spawned workers, so they are
module-level and read their settings from the environment, as the app does.

The serving process' own preparation (the supervisor link, memory trimming) is in
:mod:`service.core.process`.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
from collections.abc import Sequence
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.core.config import Settings
from service.core.errors import error_body

# The first bytes of every request are free of the upload budget: a single-window predict (about 1 kB)
# or a 256-window batch of short prices is never refused because large stalled uploads hold the budget.
FREE_BYTES = 65_536


@functools.cache
def settings() -> Settings:
    """This process' settings, read once (forecast-serve validated the same variables before it started)."""
    return Settings()


# -------------------------------------------------------------------------------------------------
# Read deadlines
# -------------------------------------------------------------------------------------------------


class _Budget:
    """Bytes of requests still arriving that this worker holds, beyond each request's first FREE_BYTES."""

    used = 0


class _RequestDeadline(asyncio.Protocol):
    """The deadline and the upload budget both protocols share; each subclass says when a request starts
    and ends, and counts what it receives with ``_count``.

    ``_arm`` starts the clock (a no-op while it runs: the deadline counts from the first byte, not the
    last); ``_disarm`` stops it and gives the request's bytes back to the budget. A request whose headers
    and body are all in is no longer the client's to delay: from then on the request deadline
    (``FORECAST_REQUEST_TIMEOUT_S``) and the response apply.

    The budget (``FORECAST_UPLOAD_BUDGET_BYTES``) bounds what unfinished requests hold in this worker
    (the body guard buffers a body until it is complete, up to ``FORECAST_MAX_BODY_BYTES``): 300 clients
    that each send 900 kB of a body and stall held 338 MiB without it. The request whose bytes would go
    over it is answered 503 (``Retry-After: 1``) and its connection closed, which also frees its place
    under ``FORECAST_MAX_CONNECTIONS`` for other clients.
    """

    # Provided by the uvicorn protocol this is mixed into.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    server_state: Any
    cycle: Any

    _deadline: asyncio.TimerHandle | None = None
    _read_timeout_s: float = 0.0
    _budget_bytes: int = 0
    _received = 0  # bytes of the request being read so far
    _held = 0  # of which counted in _Budget.used

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the uvicorn protocol's (this class comes first in the MRO)
        config = settings()
        self._read_timeout_s, self._budget_bytes = config.read_timeout_s, config.upload_budget_bytes

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is a slow request too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._count(len(data))

    def _arm(self) -> None:
        if self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self._read_timeout_s, self._read_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        _Budget.used -= self._held
        self._received = self._held = 0

    def _count(self, size: int) -> None:
        """Count ``size`` bytes just received against the budget, while a request is still arriving."""
        if self._deadline is None or not self._budget_bytes:
            return
        if self._headers_in() and self.cycle is not None and self.cycle.response_complete:
            # Answered before its body was in (a 401 from the headers): uvicorn drops the rest unread, so
            # it holds nothing and must not crowd out uploads that are being read.
            return
        self._received += size
        more = max(0, self._received - FREE_BYTES) - self._held
        if more <= 0:
            return
        if _Budget.used + more > self._budget_bytes:
            message = "the server holds too many unfinished uploads; retry shortly"
            self._refuse(503, "overloaded", message, [(b"retry-after", b"1")])
            self._disarm()
            return
        _Budget.used += more
        self._held += more

    def _headers_in(self) -> bool:
        """Whether the request being read has all its headers (so ``self.cycle`` is its own)."""
        raise NotImplementedError

    def _may_answer(self) -> bool:
        """Whether a 408 written now is the answer to the late request and nothing else: no response of
        it has started, and no earlier (pipelined) request's response is still being written."""
        cycle = self.cycle
        if self._headers_in():
            return cycle is not None and not cycle.response_started and not getattr(self, "pipeline", None)
        return cycle is None or cycle.response_complete

    def _read_timed_out(self) -> None:
        self._deadline = None
        message = f"the request (headers and body) did not arrive within {self._read_timeout_s:g} s"
        self._refuse(408, "request_timeout", message)
        self._disarm()

    def _refuse(self, status: int, code: str, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """Answer the request being read with an error (when that is still possible) and close."""
        if self.transport.is_closing():
            return
        if self._may_answer():
            self.transport.write(_response(status, code, message, [*self.server_state.default_headers, *headers]))
        # Closing makes uvicorn tell a handler still waiting for the body that the client is gone.
        self.transport.close()


def _response(status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete HTTP/1.1 response in the service's error shape, that closes the connection."""
    body = json.dumps(error_body(status, code, message)).encode()
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"content-type: application/json", b"content-length: %d" % len(body), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class HttpToolsWithDeadline(_RequestDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol, and a request must arrive whole within ``FORECAST_READ_TIMEOUT_S``.

    httptools reports each request's first byte (``on_message_begin``), its headers and its end, so the
    clock follows the parser exactly, pipelined requests included.
    """

    def _headers_in(self) -> bool:
        return self._headers_complete

    _headers_complete = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_complete = False
        self._arm()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._headers_complete = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()


class H11WithDeadline(_RequestDeadline, H11Protocol):
    """uvicorn's h11 protocol, and a request must arrive whole within ``FORECAST_READ_TIMEOUT_S``.

    h11 has no first-byte event (a request is ``IDLE`` until its header block is complete), so the state
    is read after every batch of events: bytes buffered in ``IDLE`` or a body still due (``SEND_BODY``)
    keep the clock running; ``DONE`` (or a closing state) stops it.
    """

    def _headers_in(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY

    def handle_events(self) -> None:
        super().handle_events()
        state = self.conn.their_state
        if state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
            self._arm()
        elif state is not h11.IDLE:  # DONE, MUST_CLOSE, CLOSED, ERROR: nothing more to wait for
            self._disarm()
        # IDLE with nothing buffered: between requests, the keep-alive timer's business (or a fresh
        # connection, whose clock connection_made started).


PROTOCOLS: dict[str, type[asyncio.Protocol]] = {"httptools": HttpToolsWithDeadline, "h11": H11WithDeadline}
