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
    """401 unless ``key`` is the configured API key (no key configured: anything passes)."""
    expected = settings.api_key
    if expected is None:
        return
    # An empty header is no key at all (as APIKeyHeader reads it), whatever is configured. Constant-time
    # comparison, so response timing does not reveal a matching prefix.
    if not key or not hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
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
