"""The protocol's binary tensor data extension: how a body is framed, in and out.

A request with an ``Inference-Header-Content-Length: N`` header carries its JSON ``InferRequest`` in
the first N bytes of the body and raw tensor bytes after it (each binary input takes its
``parameters.binary_data_size`` bytes, in input order). :class:`~service.api.v2.errors.V2Route` hands
FastAPI a request whose body is the JSON header alone, so the JSON route, its validation, its messages
and its OpenAPI schema stay exactly as they are, and parks the raw bytes in the ASGI scope, where
:func:`binary_data` (a dependency) finds them for the codec. Responses are framed the same way when
the client asks for a binary output.

tritonclient's synchronous client posts these bodies without a Content-Type header and its asyncio
client as ``application/octet-stream``; the header, not the content type, says how the body is framed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import Request, Response
from starlette.types import Message

HEADER = "inference-header-content-length"
_SCOPE_KEY = "oip.binary_data"
_REPLACED = {b"content-type", b"content-length"}


class FramingError(ValueError):
    """The body cannot be split as its headers say; the route class answers 400 with the message."""


def split_body(body: bytes, declared: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the tensor bytes of a body; ``declared`` None: all of it is the header."""
    if declared is None:
        return body, b""
    # isascii: str.isdigit also accepts digits like "²" that int() refuses.
    if not (declared.isascii() and declared.isdigit()):
        shown = declared[:40]
        raise FramingError(f"header Inference-Header-Content-Length must be a non-negative integer, got {shown!r}")
    # More digits than the body's length has cannot fit; and int() refuses over 4,300 digits (a 500).
    digits = declared.lstrip("0") or "0"
    length = int(digits) if len(digits) <= len(str(len(body))) else len(body) + 1
    if length > len(body):
        raise FramingError(
            f"header Inference-Header-Content-Length is {digits[:20]}, past the end of the {len(body)}-byte body"
        )
    if length == 0:
        raise FramingError("header Inference-Header-Content-Length is 0: the body holds no JSON request header")
    return body[:length], body[length:]


def is_framed(request: Request) -> bool:
    """A POST the JSON route cannot parse as it comes: binary framing, or JSON declared as octet-stream."""
    if request.method != "POST":
        return False
    headers = request.headers
    return HEADER in headers or headers.get("content-type", "").lower().startswith("application/octet-stream")


async def json_header_request(request: Request) -> Request:
    """``request`` as FastAPI should parse it: the JSON header as a JSON body, the tensor bytes aside."""
    header, tensors = split_body(await request.body(), request.headers.get(HEADER))
    headers = [(k, v) for k, v in request.scope["headers"] if k not in _REPLACED]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(header)).encode())]
    # None, not b"": the codec tells "no binary part" from "an empty one" in its messages.
    scope = {**request.scope, "headers": headers, _SCOPE_KEY: tensors if HEADER in request.headers else None}
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:  # FastAPI reads the body once; a second read would wait for a disconnect
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": header, "more_body": False}

    return Request(scope, receive)


async def binary_data(request: Request) -> bytes | None:
    """The tensor bytes after the JSON header, or None for a plain JSON request (a route dependency).

    async: FastAPI would run a plain function in the thread pool, a hop that costs more than a predict.
    """
    data: bytes | None = request.scope.get(_SCOPE_KEY)
    return data


def binary_response(header: dict[str, Any], data: bytes) -> Response:
    """The JSON header, then the raw output bytes; ``Inference-Header-Content-Length`` says where they split."""
    head = msgspec.json.encode(header)
    return Response(
        content=head + data,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
