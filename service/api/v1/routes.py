"""/v1 routes: model metadata, next-step predictions and recursive forecasts. Decode, call the dataplane, encode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from service.api.deps import DataPlaneDep, ModelDep, authorized_dataplane, require_api_key
from service.api.fastroute import fast_lane, json_response, parse_body
from service.api.v1 import codec
from service.api.v1.errors import V1Route
from service.api.v1.schemas import (
    ErrorResponse,
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
)
from service.dataplane import DataPlane, ServedModel

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
router = APIRouter(prefix="/v1/models", tags=["models"], route_class=V1Route)


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


async def _predict(dataplane: DataPlane, model: ServedModel, body: PredictRequest) -> Response:
    result = await dataplane.infer(model, codec.decode_predict(body, model.card))
    return json_response(codec.encode_predict(result))


async def _forecast(dataplane: DataPlane, model: ServedModel, body: ForecastRequest) -> Response:
    result = await dataplane.infer(model, codec.decode_forecast(body, model.card))
    return json_response(codec.encode_forecast(result))


# The fast lanes (service/api/fastroute.py): same checks in the same order as the full routes (API key,
# model, body), without FastAPI's dependency solving; a body that does not validate goes to the full route.
async def _fast_predict(request: Request) -> Response | None:
    dataplane = authorized_dataplane(request)
    model = dataplane.model(request.path_params["name"])
    body = await parse_body(request, PredictRequest)
    return None if body is None else await _predict(dataplane, model, body)


async def _fast_forecast(request: Request) -> Response | None:
    dataplane = authorized_dataplane(request)
    model = dataplane.model(request.path_params["name"])
    body = await parse_body(request, ForecastRequest)
    return None if body is None else await _forecast(dataplane, model, body)


@router.post(
    "/{name}/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Next value (or bar) after one window or each of a batch",
)
@fast_lane(_fast_predict)
async def predict(body: PredictRequest, model: ModelDep, dataplane: DataPlaneDep) -> Response:
    return await _predict(dataplane, model, body)


@router.post(
    "/{name}/forecast",
    response_model=ForecastResponse,
    responses=_FORECAST_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Recursive multi-step forecast from one window",
)
@fast_lane(_fast_forecast)
async def forecast(body: ForecastRequest, model: ModelDep, dataplane: DataPlaneDep) -> Response:
    return await _forecast(dataplane, model, body)
