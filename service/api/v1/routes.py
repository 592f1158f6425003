"""/v1 routes: model metadata, next-step predictions and recursive forecasts. Decode, call the dataplane, encode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from service.api.deps import DataPlaneDep, ModelDep, require_api_key
from service.api.v1 import codec
from service.api.v1.schemas import (
    ErrorResponse,
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "malformed JSON",
        401: "missing or wrong API key",
        404: "unknown model",
        413: "body over the size cap",
        415: "body is not application/json",
        422: "invalid input: the details name the field and the rule",
        499: "the client went away before the answer (logged and counted, never seen by that client)",
        503: "model not loaded (yet), or the server is at capacity (Retry-After)",
    }.items()
}
_FORECAST_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    504: {"model": ErrorResponse, "description": "the forecast ran past the server's per-request time limit"},
}
router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="Every model this server serves, with its inputs and outputs")
async def list_models(dataplane: DataPlaneDep) -> ModelList:
    registry = dataplane.registry
    return ModelList(
        models=[codec.model_info(c, registry.error(c.name) is None, registry.error(c.name)) for c in dataplane.cards()]
    )


@router.get("/{name}", response_model=ModelInfo, responses=_ERRORS, summary="One model's metadata and test metrics")
async def get_model(name: str, dataplane: DataPlaneDep) -> ModelInfo:
    card = dataplane.card(name)
    error = dataplane.registry.error(name)
    return codec.model_info(card, error is None, error)


@router.post(
    "/{name}/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Next value (or bar) after one window or each of a batch",
)
async def predict(body: PredictRequest, model: ModelDep, dataplane: DataPlaneDep) -> PredictResponse:
    result = await dataplane.infer(model, codec.decode_predict(body, model.card))
    return codec.encode_predict(result)


@router.post(
    "/{name}/forecast",
    response_model=ForecastResponse,
    responses=_FORECAST_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Recursive multi-step forecast from one window",
)
async def forecast(body: ForecastRequest, model: ModelDep, dataplane: DataPlaneDep) -> ForecastResponse:
    result = await dataplane.infer(model, codec.decode_forecast(body, model.card))
    return codec.encode_forecast(result)
