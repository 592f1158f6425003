"""Request guards that must run before the body is parsed: content type (415) and body size (413)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import error_response

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodyLimitMiddleware:
    """Refuse non-JSON bodies and bodies over ``max_bytes`` without reading more than the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        # The Open Inference Protocol's clients (tritonclient among them) post JSON without a
        # Content-Type, so /v2 takes a missing one as JSON; a wrong one is still refused.
        headerless_v2 = media_type == b"" and scope["path"].startswith("/v2/")
        if media_type != b"application/json" and not headerless_v2:
            shown = media_type.decode("latin-1")[:80] or "none"
            await error_response(415, "unsupported_media_type", f"content type must be application/json, got {shown}")(
                scope, receive, send
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
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
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"request body is over the {self.max_bytes}-byte limit")
        await response(scope, receive, send)
