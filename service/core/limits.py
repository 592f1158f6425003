"""Request guards that must run before the body is parsed: content type (415), body size (413) and
strict JSON (400 for a duplicate key). The body is read here once and handed on whole; after it, the
app's ``receive`` brings what the server sends next (``http.disconnect`` when the client leaves).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.v2.errors import error_json as v2_error
from service.core.errors import error_response

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (the JSON RFC leaves the meaning open: refused here)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _keys_all_differ(body: bytes) -> bool:
    """True when no key string occurs twice anywhere in ``body``, so no object can repeat one.

    Exact for JSON without backslashes: every quote then opens or closes a string, so splitting on
    quotes alternates outside/inside, and a string is a key when the next outside part starts with a
    colon. A price window has one or five keys, so this costs a few µs against ~20 µs for the full
    parse; a body with escapes, or a batch of OHLC windows (whose keys repeat across objects), gets
    the full parse.
    """
    if b"\\" in body:
        return False
    parts = body.split(b'"')
    keys = [parts[i] for i in range(1, len(parts) - 1, 2) if parts[i + 1].lstrip()[:1] == b":"]
    return len(keys) == len(set(keys))


def duplicate_key(body: bytes) -> str | None:
    """The first key an object of ``body`` repeats, or None (also for a body that is not JSON at all:
    the route's own parser says what is wrong with that)."""
    if _keys_all_differ(body):
        return None
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except DuplicateKeyError as exc:
        return exc.key
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return None
    return None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over ``body`` (already read) first, then whatever ``receive`` brings
    (the disconnect a dataplane watch waits for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyLimitMiddleware:
    """Refuse headers over ``max_header_bytes`` (431), non-JSON bodies (415), bodies over ``max_bytes``
    without reading more than the cap (413) and JSON with a repeated key (400)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_header_bytes: int | None = None) -> None:
        self.app, self.max_bytes, self.max_header_bytes = app, max_bytes, max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.max_header_bytes is not None:
            # The server's parser bounds what it buffers (h11); this is the exact cap, whatever parser.
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_header_bytes:
                text = f"request headers are over the {self.max_header_bytes}-byte limit"
                await error_response(431, "headers_too_large", text)(scope, receive, send)
                return
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        # The Open Inference Protocol's clients post JSON without a Content-Type (tritonclient's sync
        # client) or as application/octet-stream (its asyncio client, binary tensors or not), so /v2
        # takes both; anything else is still refused.
        v2_ok = scope["path"].startswith("/v2/") and media_type in (b"", b"application/octet-stream")
        if media_type != b"application/json" and not v2_ok:
            shown = media_type.decode("latin-1")[:80] or "none"
            await error_response(415, "unsupported_media_type", f"content type must be application/json, got {shown}")(
                scope, receive, send
            )
            return
        declared = headers.get(b"content-length")
        # The length test first: int() refuses digit strings over 4,300 characters.
        if declared is not None and (not declared.isdigit() or len(declared) > 18 or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        # Buffer the (small) body so a client that lies about or omits Content-Length is still capped.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # A binary /v2 request frames a JSON header of this length before its tensor bytes.
        framed = headers.get(b"inference-header-content-length", b"")
        document = body[: int(framed)] if framed.isdigit() and len(framed) <= 18 else body
        repeated = duplicate_key(document) if document else None
        if repeated is not None:
            await self._duplicate(scope["path"], repeated)(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)

    @staticmethod
    def _duplicate(path: str, key: str) -> JSONResponse:
        shown = key if len(key) <= 64 else key[:61] + "..."
        message = f"request body is not valid JSON: key {shown!r} appears twice in one object"
        if path.startswith("/v2/"):  # what /v2 answers for any other body it cannot parse
            return v2_error(400, message)
        details = [{"field": "body", "rule": "unique_keys", "message": message}]
        return error_response(400, "malformed_json", message, details)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"request body is over the {self.max_bytes}-byte limit")
        await response(scope, receive, send)
