"""Which protocol answers a dataplane error that escapes a route: the one whose path it was.

The error handlers of a FastAPI app are app-wide; a dataplane error (an unknown model, say) raised in a
/v2 route or its dependencies is answered in the Open Inference Protocol's shape, any other in /v1's.
The /v2 infer handler answers its own errors (:func:`service.api.v2.errors.to_response`) before this.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from service.api.v1 import errors as v1
from service.api.v2 import errors as v2
from service.dataplane.errors import DataPlaneError


async def _dataplane_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DataPlaneError)
    return v2.dataplane_response(exc) if request.scope["path"].startswith("/v2/") else v1.to_response(exc)


def install_dataplane_errors(app: FastAPI) -> None:
    app.add_exception_handler(DataPlaneError, _dataplane_error)
