"""The Open Inference Protocol's model repository extension, for operators: list, load and unload.

``POST /v2/repository/index`` lists every model version this process holds with its state;
``POST /v2/repository/models/{name}/load`` reads the model's set from the repository again (new
versions loaded and verified, then swapped in) and answers once that is done; ``.../unload`` stops
serving the model's set until it is loaded again. These change what is served, so they exist only when
``FORECAST_ADMIN_KEY`` is set and take that key in ``X-Admin-Key`` (never the prediction key).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from service.api.deps import RegistryDep
from service.api.v2.errors import error_json
from service.core.errors import ApiError

ADMIN_KEY_HEADER = "X-Admin-Key"
_admin_key = APIKeyHeader(name=ADMIN_KEY_HEADER, auto_error=False, description="FORECAST_ADMIN_KEY")


async def require_admin_key(request: Request, key: Annotated[str | None, Security(_admin_key)]) -> None:
    expected = request.app.state.settings.admin_key
    if not key or expected is None or not hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", f"missing or invalid {ADMIN_KEY_HEADER} header")


router = APIRouter(prefix="/v2/repository", tags=["repository"], dependencies=[Depends(require_admin_key)])


@router.post("/index", summary="Every model version this server holds, with its state")
async def index(registry: RegistryDep) -> list[dict[str, Any]]:
    out = []
    for name in registry.names():
        for v in registry.versions(name):
            entry: dict[str, Any] = {
                "name": name,
                "version": v.version,
                "state": "READY" if v.state == "ready" else "UNAVAILABLE",
            }
            if v.reason:
                entry["reason"] = v.reason
            out.append(entry)
    return out


@router.post("/models/{name}/load", summary="Read the model's set again and serve its kept versions")
async def load(name: str, registry: RegistryDep) -> JSONResponse:
    set_name = registry.set_of(name)
    if set_name is None:
        await asyncio.to_thread(registry.refresh)  # a set new on disk is found by reading the repository
        set_name = registry.set_of(name)
    if set_name is None:
        return error_json(404, f"no model set in the repository serves {name!r}")
    await asyncio.to_thread(registry.reload_set, set_name)
    error = registry.error(name)
    return error_json(400, f"model {name!r} failed to load: {error}") if error else JSONResponse({})


@router.post("/models/{name}/unload", summary="Stop serving the model's set until it is loaded again")
async def unload(name: str, registry: RegistryDep) -> JSONResponse:
    set_name = registry.set_of(name)
    if set_name is None:
        return error_json(404, f"unknown model {name!r}")
    await asyncio.to_thread(registry.unload, set_name)
    return JSONResponse({})
