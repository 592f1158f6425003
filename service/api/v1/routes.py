"""/v1 routes: model metadata, next-step predictions and recursive forecasts. Decode, call the dataplane, encode."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.api import hot
from service.api.deps import DataPlaneDep, authorized_dataplane
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

_ERRORS = hot.error_responses(
    ErrorResponse,
    {
        400: "malformed JSON",
        401: "missing or wrong API key",
        404: "unknown model",
        413: "body over the size cap",
        415: "body is not application/json",
        422: "invalid input: the details name the field and the rule",
        499: "the client went away before the answer (logged and counted, never seen by that client)",
        503: "model not loaded (yet), or the server is at capacity (Retry-After)",
    },
)
_FORECAST_ERRORS = {
    **_ERRORS,
    **hot.error_responses(ErrorResponse, {504: "the forecast ran past the server's per-request time limit"}),
}
router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="Every model this server serves, with its inputs and outputs")
async def list_models(dataplane: DataPlaneDep) -> ModelList:
    registry = dataplane.registry
    return ModelList(
        models=[
            codec.model_info(c, registry.error(c.name) is None, registry.error(c.name), registry.versions(c.name))
            for c in dataplane.cards()
        ]
    )


@router.get("/{name}", response_model=ModelInfo, responses=_ERRORS, summary="One model's metadata and test metrics")
async def get_model(name: str, dataplane: DataPlaneDep) -> ModelInfo:
    card = dataplane.card(name)
    error = dataplane.registry.error(name)
    return codec.model_info(card, error is None, error, dataplane.registry.versions(name))


async def predict(request: Request) -> Response:
    # The checks in the order clients have always seen them: API key, model, body.
    dataplane = authorized_dataplane(request)
    model = dataplane.model(request.path_params["name"], request.path_params.get("version"))
    body = hot.parse_body(PredictRequest, await request.body())
    result = await dataplane.infer(model, codec.decode_predict(body, model.card, hot.client_gone(request)))
    return hot.json_response(codec.encode_predict(result))


async def forecast(request: Request) -> Response:
    dataplane = authorized_dataplane(request)
    model = dataplane.model(request.path_params["name"], request.path_params.get("version"))
    body = hot.parse_body(ForecastRequest, await request.body())
    result = await dataplane.infer(model, codec.decode_forecast(body, model.card, hot.client_gone(request)))
    return hot.json_response(codec.encode_forecast(result))


_PREDICT_SUMMARY = "Next value (or bar) after one window or each of a batch"
_FORECAST_SUMMARY = "Recursive multi-step forecast from one window"
_VERBS: list[tuple[str, Any, Any, dict[int | str, dict[str, Any]], str, hot.Handler]] = [
    ("predict", PredictRequest, PredictResponse, _ERRORS, _PREDICT_SUMMARY, predict),
    ("forecast", ForecastRequest, ForecastResponse, _FORECAST_ERRORS, _FORECAST_SUMMARY, forecast),
]
#: Served ahead of FastAPI's routing (service/api/hot.py); errors go to the app's handlers (/v1's shape). Each
#: operation answers for the model's current version, and under ``/versions/{version}`` for that one.
hot_routes = [
    hot.HotRoute(
        hot.operation(
            f"{router.prefix}/{{name}}{versioned}/{verb}",
            f"{verb}_version" if versioned else verb,
            body,
            tags=router.tags,
            response_model=response,
            responses=errors,
            summary=summary + (" (one version)" if versioned else ""),
        ),
        handler,
    )
    for verb, body, response, errors, summary, handler in _VERBS
    for versioned in ("", "/versions/{version}")
]
