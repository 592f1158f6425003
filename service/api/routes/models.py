"""Model metadata, next-step predictions and recursive forecasts."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends

from service.api.deps import MetricsDep, PredictorDep, RegistryDep, SettingsDep, require_api_key
from service.core.errors import ApiError
from service.core.registry import ModelRegistry
from service.inference.predictor import Predictor, range_warnings
from service.schemas import (
    DateRange,
    ErrorResponse,
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
    ValueRange,
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
        503: "model not loaded (yet)",
    }.items()
}
router = APIRouter(prefix="/v1/models", tags=["models"])


def _info(registry: ModelRegistry, name: str) -> ModelInfo:
    m = registry.manifest
    predictor = registry.predictors.get(name)
    error = None if predictor else registry.model_states()[name]
    if m is None:
        raise ApiError(
            503, "model_unavailable", f"model {name!r} is unavailable: {registry.reason}", headers={"Retry-After": "1"}
        )
    common: dict[str, Any] = {
        "name": name,
        "backend": registry.settings.backend,
        "trained_at": m.created_at,
        "target_column": m.target_column,
        "window": m.window,
        "training_dates": DateRange(start=m.training_range.start_date, end=m.training_range.end_date),
        "training_values": ValueRange(min=m.training_range.min, max=m.training_range.max),
        "ready": predictor is not None,
        "error": error,
    }
    if name == "ensemble":
        members = list(m.ensemble.members if m.ensemble else m.models)
        ens = m.ensemble
        return ModelInfo(
            **common,
            version=predictor.version if predictor else "+".join(m.models[k].version for k in members),
            description="mean of the lstm and gru predictions at every step (each prediction fed back for forecasts)",
            parameters=sum(m.models[k].parameters for k in members),
            members=members,
            test_metrics=ens.test_metrics.model_dump() if ens and ens.test_metrics else None,
            sequence_rmse=ens.sequence_rmse if ens else None,
        )
    entry = m.model(name)
    return ModelInfo(
        **common,
        version=entry.version,
        description=f"stacked {entry.kind.upper()}, recipe {entry.recipe}",
        parameters=entry.parameters,
        recipe=entry.recipe,
        hyperparameters=entry.hyperparameters,
        test_metrics=entry.test_metrics.model_dump() if entry.test_metrics else None,
        sequence_rmse=entry.sequence_rmse,
    )


@router.get("", response_model=ModelList, summary="Every model this server is configured to serve")
async def list_models(registry: RegistryDep) -> ModelList:
    if registry.manifest is None:
        return ModelList(models=[])
    return ModelList(models=[_info(registry, n) for n in registry.settings.models])


@router.get("/{name}", response_model=ModelInfo, responses=_ERRORS, summary="One model's metadata and test metrics")
async def get_model(name: str, registry: RegistryDep) -> ModelInfo:
    if name not in registry.settings.models:
        registry.get(name)  # raises the 404 listing the known models
    return _info(registry, name)


def _as_array(rows: list[list[float]], predictor: Predictor, field: str) -> np.ndarray:
    for i, row in enumerate(rows):
        if len(row) != predictor.window:
            where = field if field == "window" else f"{field}[{i}]"
            raise ApiError(
                422,
                "validation_error",
                f"{where}: expected {predictor.window} values, got {len(row)}",
                [{"field": where, "rule": "length", "message": f"must hold exactly {predictor.window} values"}],
            )
    return np.asarray(rows, dtype=np.float64)


def _finite(values: np.ndarray, field: str) -> list[float]:
    if not np.isfinite(values).all():
        raise ApiError(
            422,
            "validation_error",
            f"{field}: the model's output overflowed for this input",
            [{"field": field, "rule": "computable", "message": "input values are too extreme to forecast"}],
        )
    return values.tolist()  # type: ignore[no-any-return]


@router.post(
    "/{name}/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Next value after one window or each of a batch",
)
def predict(
    name: str,
    body: PredictRequest,
    predictor: PredictorDep,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> PredictResponse:
    rows = body.batch()
    field = "window" if body.window is not None else "windows"
    if len(rows) > settings.max_batch:
        raise ApiError(
            422,
            "validation_error",
            f"windows: batch of {len(rows)} is over the limit of {settings.max_batch}",
            [{"field": "windows", "rule": "max_batch", "message": f"at most {settings.max_batch} windows"}],
        )
    x = _as_array(rows, predictor, field)
    assert registry.manifest is not None
    warnings = range_warnings(x, registry.manifest.training_range.min, registry.manifest.training_range.max)
    started = time.perf_counter()
    predictions = predictor.predict(x)
    metrics.inference_seconds.labels(name, "predict").observe(time.perf_counter() - started)
    metrics.predictions.labels(name, "predict").inc(len(rows))
    metrics.batch_size.labels(name).observe(len(rows))
    return PredictResponse(
        model=name, version=predictor.version, predictions=_finite(predictions, field), warnings=warnings
    )


@router.post(
    "/{name}/forecast",
    response_model=ForecastResponse,
    responses=_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Recursive multi-step forecast from one window",
)
def forecast(
    name: str,
    body: ForecastRequest,
    predictor: PredictorDep,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ForecastResponse:
    if body.horizon > settings.max_horizon:
        raise ApiError(
            422,
            "validation_error",
            f"horizon: {body.horizon} is over the limit of {settings.max_horizon}",
            [{"field": "horizon", "rule": "max_value", "message": f"at most {settings.max_horizon}"}],
        )
    x = _as_array([body.window], predictor, "window")
    assert registry.manifest is not None
    warnings = range_warnings(x, registry.manifest.training_range.min, registry.manifest.training_range.max)
    started = time.perf_counter()
    values = predictor.forecast(x[0], body.horizon)
    metrics.inference_seconds.labels(name, "forecast").observe(time.perf_counter() - started)
    metrics.predictions.labels(name, "forecast").inc(body.horizon)
    return ForecastResponse(
        model=name,
        version=predictor.version,
        horizon=body.horizon,
        forecast=_finite(values, "window"),
        warnings=warnings,
    )
