"""The protocol's binary tensor data extension: how a body is framed, in and out.

A request with an ``Inference-Header-Content-Length: N`` header carries its JSON ``InferRequest`` in
the first N bytes of the body and raw tensor bytes after it (each binary input takes its
``parameters.binary_data_size`` bytes, in input order). The infer handler splits the body
(:func:`split_body`) and parses the JSON header exactly as it parses a plain JSON body, so validation
and its messages are the same either way; the codec takes the raw bytes. Responses are framed the
same way when the client asks for a binary output.

tritonclient's synchronous client posts these bodies without a Content-Type header and its asyncio
client as ``application/octet-stream``; the header, not the content type, says how the body is framed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import Response

HEADER = "inference-header-content-length"


class FramingError(ValueError):
    """The body cannot be split as its headers say; /v2 answers 400 with the message."""


def split_body(body: bytes, declared: str | None) -> tuple[bytes, bytes | None]:
    """The JSON header and the tensor bytes of a body; ``declared`` None: all of it is the header, and
    None, not b"", for the tensor bytes (the codec tells "no binary part" from "an empty one")."""
    if declared is None:
        return body, None
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


def binary_response(header: dict[str, Any], data: bytes) -> Response:
    """The JSON header, then the raw output bytes; ``Inference-Header-Content-Length`` says where they split."""
    head = msgspec.json.encode(header)
    return Response(
        content=head + data,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
