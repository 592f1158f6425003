"""Model metadata, next-step predictions and recursive forecasts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from service.api.deps import MetricsDep, PredictorDep, RegistryDep, SettingsDep, require_api_key
from service.api.forecasting import forecast_within_deadline
from service.core.errors import ApiError
from service.core.metrics import Metrics
from service.core.registry import ModelRegistry
from service.inference.predictor import Predictor
from service.schemas import (
    Calibration,
    DateRange,
    ErrorResponse,
    ForecastRequest,
    ForecastResponse,
    Interval,
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
_FORECAST_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    504: {"model": ErrorResponse, "description": "the forecast ran past the server's per-request time limit"},
}
INLINE_MAX_WINDOWS = 8
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
        "calibration": _calibration(registry, name),
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


def _calibration(registry: ModelRegistry, name: str) -> Calibration | None:
    table = registry.intervals
    if table is None or name not in table.quantiles:
        return None
    return Calibration(
        method=table.method,
        levels=table.levels,
        max_horizon=table.max_horizon,
        calibration_dates=DateRange.model_validate({"start": table.calibration_start, "end": table.calibration_end}),
        test_coverage=[c.model_dump() for c in table.coverage.get(name, [])],
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
    return list(values.tolist())


def _bounds(
    registry: ModelRegistry, name: str, levels: Sequence[int], forecast: np.ndarray, windows: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Interval bounds per requested level, shaped like ``forecast`` (n, horizon)."""
    table = registry.intervals
    if table is None or name not in table.quantiles:
        raise ApiError(
            422,
            "validation_error",
            "intervals: this model's artifacts carry no interval calibration",
            [{"field": "intervals", "rule": "available", "message": "no calibrated intervals"}],
        )
    missing = [level for level in levels if level not in table.levels]
    if missing:
        raise ApiError(
            422,
            "validation_error",
            f"intervals: levels {missing} are not calibrated (have {table.levels})",
            [{"field": "intervals", "rule": "calibrated_level", "message": f"one of {table.levels}"}],
        )
    return [(level, *table.bounds(name, level, forecast, windows)) for level in levels]


def _check_limit(value: int, limit: int, field: str, rule: str, what: str) -> None:
    if value > limit:
        raise ApiError(
            422,
            "validation_error",
            f"{field}: {what} {value} is over the limit of {limit}",
            [{"field": field, "rule": rule, "message": f"at most {limit}"}],
        )


@router.post(
    "/{name}/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    dependencies=[Depends(require_api_key)],
    summary="Next value after one window or each of a batch",
)
async def predict(
    name: str,
    body: PredictRequest,
    predictor: PredictorDep,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> PredictResponse:
    rows = body.batch()
    _check_limit(len(rows), settings.max_batch, "windows", "max_batch", "batch of")
    # A few windows cost tens of microseconds of model time, less than a hop to the thread pool and
    # back, so they run right here. Larger batches, and any call that may wait on the micro-batcher,
    # go to a worker thread so the event loop never blocks.
    if len(rows) <= INLINE_MAX_WINDOWS and not settings.batching_enabled:
        return _predict(name, body, rows, predictor, registry, metrics)
    return await run_in_threadpool(_predict, name, body, rows, predictor, registry, metrics)


def _predict(
    name: str,
    body: PredictRequest,
    rows: list[list[float]],
    predictor: Predictor,
    registry: ModelRegistry,
    metrics: Metrics,
) -> PredictResponse:
    field = "window" if body.window is not None else "windows"
    x = _as_array(rows, predictor, field)
    warnings = registry.range_warnings(x)
    started = time.perf_counter()
    predictions = predictor.predict(x)
    metrics.inference_seconds.labels(name, "predict").observe(time.perf_counter() - started)
    metrics.predictions.labels(name, "predict").inc(len(rows))
    metrics.batch_size.labels(name).observe(len(rows))
    values = _finite(predictions, field)
    intervals = None
    if body.intervals:
        intervals = [
            Interval(level=level, lower=lo[:, 0].tolist(), upper=hi[:, 0].tolist())
            for level, lo, hi in _bounds(registry, name, body.intervals, predictions[:, None], x)
        ]
    return PredictResponse(
        model=name, version=predictor.version, predictions=values, intervals=intervals, warnings=warnings
    )


@router.post(
    "/{name}/forecast",
    response_model=ForecastResponse,
    responses=_FORECAST_ERRORS,
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
    _check_limit(body.horizon, settings.max_horizon, "horizon", "max_value", "horizon")
    x = _as_array([body.window], predictor, "window")
    warnings = registry.range_warnings(x)
    started = time.perf_counter()
    values = forecast_within_deadline(predictor, x[0], body.horizon, settings.request_timeout_s)
    metrics.inference_seconds.labels(name, "forecast").observe(time.perf_counter() - started)
    metrics.predictions.labels(name, "forecast").inc(body.horizon)
    forecast_values = _finite(values, "window")
    intervals = None
    if body.intervals:
        intervals = [
            Interval(level=level, lower=lo[0].tolist(), upper=hi[0].tolist())
            for level, lo, hi in _bounds(registry, name, body.intervals, values[None, :], x)
        ]
        table = registry.intervals
        if table is not None and body.horizon > table.max_horizon:
            warnings.append(
                f"intervals beyond step {table.max_horizon} are not calibrated: they widen like a "
                f"random walk's, by sqrt(h / {table.max_horizon})"
            )
    return ForecastResponse(
        model=name,
        version=predictor.version,
        horizon=body.horizon,
        forecast=forecast_values,
        intervals=intervals,
        warnings=warnings,
    )
