"""Liveness and readiness probes (never behind the API key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service.api.deps import RegistryDep


class Status(BaseModel):
    status: str
    reason: str | None = None
    models: dict[str, str] = Field(default_factory=dict)


router = APIRouter(tags=["probes"])


@router.get("/healthz", response_model=Status, summary="Liveness: 200 while the process runs")
async def healthz() -> Status:
    return Status(status="alive")


@router.get(
    "/readyz",
    response_model=Status,
    summary="Readiness: 200 once every configured model is loaded and warm",
    responses={503: {"model": Status, "description": "loading, or the artifacts cannot be served"}},
)
async def readyz(registry: RegistryDep) -> JSONResponse:
    body = Status(status=registry.state, reason=registry.reason, models=registry.model_states())
    return JSONResponse(body.model_dump(), status_code=200 if registry.ready else 503)
