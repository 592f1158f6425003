"""Dependencies shared by the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from service.core.config import Settings
from service.core.errors import ApiError
from service.core.metrics import Metrics
from service.dataplane import DataPlane, ModelRegistry, ServedModel

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="required when FORECAST_API_KEY is set"
)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_dataplane(request: Request) -> DataPlane:
    return request.app.state.dataplane


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.dataplane.registry


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_model(name: str, dataplane: DataPlaneDep) -> ServedModel:
    """The served model named in the path: resolved before the body, so an unknown model is a 404
    whatever the body holds."""
    return dataplane.model(name)


async def get_model_version(name: str, version: str, dataplane: DataPlaneDep) -> ServedModel:
    return dataplane.model(name, version)


ModelDep = Annotated[ServedModel, Depends(get_model)]
ModelVersionDep = Annotated[ServedModel, Depends(get_model_version)]


def check_api_key(settings: Settings, key: str | None) -> None:
    """401 unless ``key`` is a configured API key (``FORECAST_API_KEY`` or, while keys rotate,
    ``FORECAST_API_KEY_NEXT``; none configured: anything passes). The one check: the routes' dependency,
    the hot routes and the key guard in front of the body guard (service/api/auth.py) all call it."""
    expected = settings.api_keys
    if not expected:
        return
    # An empty header is no key at all (as APIKeyHeader reads it), whatever is configured. Constant-time
    # comparison against every key (no early exit), so response timing reveals neither a matching prefix
    # nor which key matched.
    sent = key.encode() if key else b""
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(sent, candidate)
    if not sent or not matched:
        raise ApiError(
            401, "unauthorized", "missing or invalid X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
        )


async def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)]) -> None:
    check_api_key(settings, key)


def authorized_dataplane(request: Request) -> DataPlane:
    """For the hot endpoints (service/api/hot.py), which take no dependencies: the API key checked as
    ``require_api_key`` does, then the dataplane."""
    state = request.app.state
    if state.settings.api_key is not None:  # the header is only looked up when a key is configured
        check_api_key(state.settings, request.headers.get(API_KEY_HEADER))
    dataplane: DataPlane = state.dataplane
    return dataplane
