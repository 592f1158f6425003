"""/v1 codec: request bodies to dataplane requests for a given model, dataplane results to bodies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from service.api.v1.schemas import ForecastRequest, ModelInfo, PredictRequest
from service.dataplane import InferenceRequest, InferenceResult, InvalidInput, ModelCard, Watch


def _row(window: list[float] | dict[str, list[float]], card: ModelCard, where: str) -> np.ndarray:
    """One window as the model's input array, or a 422 naming what does not fit."""
    if len(card.inputs) == 1:  # a one-column model takes a plain list
        if isinstance(window, dict):
            raise InvalidInput(
                where, "array", f"model {card.name!r} takes a list of {card.window} prices, not columns", "a list"
            )
        _check_length(window, card, where)
        return np.asarray(window, dtype=np.float64)
    columns = ", ".join(card.inputs)
    if not isinstance(window, dict):
        raise InvalidInput(
            where,
            "object",
            f"model {card.name!r} takes an object of {len(card.inputs)} price lists ({columns})",
            f"an object with {columns}",
        )
    for name in window:
        if name not in card.inputs:
            raise InvalidInput(f"{where}.{name}", "unknown_field", f"not a column of model {card.name!r} ({columns})")
    for name in card.inputs:
        if name not in window:
            raise InvalidInput(f"{where}.{name}", "required", f"field required (the model's columns: {columns})")
        _check_length(window[name], card, f"{where}.{name}")
    return np.asarray([window[name] for name in card.inputs], dtype=np.float64).T


def _check_length(values: list[float], card: ModelCard, where: str) -> None:
    if len(values) != card.window:
        raise InvalidInput(
            where,
            "length",
            f"expected {card.window} values, got {len(values)}",
            f"must hold exactly {card.window} values",
        )


def _locator(field: str, card: ModelCard, single: bool) -> Any:
    def locate(index: tuple[int, ...]) -> str:
        row = "" if single else f"[{index[0]}]"
        if len(card.inputs) == 1:  # a one-column model takes a plain list
            return f"{field}{row}[{index[1]}]"
        return f"{field}{row}.{card.inputs[index[2]]}[{index[1]}]"

    return locate


def decode_predict(body: PredictRequest, card: ModelCard, client_gone: Watch | None = None) -> InferenceRequest:
    field = "window" if body.window is not None else "windows"
    if body.window is not None:  # one window: no stacking (the common call)
        x = _row(body.window, card, field)[None]
    else:
        x = np.stack([_row(w, card, f"{field}[{i}]") for i, w in enumerate(body.batch())])
    return InferenceRequest(
        inputs=x,
        intervals=tuple(body.intervals or ()),
        field=field,
        locate=_locator(field, card, field == "window"),
        client_gone=client_gone,
    )


def decode_forecast(body: ForecastRequest, card: ModelCard, client_gone: Watch | None = None) -> InferenceRequest:
    x = _row(body.window, card, "window")[None]
    return InferenceRequest(
        inputs=x,
        horizon=body.horizon,
        intervals=tuple(body.intervals or ()),
        field="window",
        locate=_locator("window", card, True),
        client_gone=client_gone,
    )


def _values(values: np.ndarray, outputs: Sequence[str]) -> list[Any]:
    """(k, outputs) -> prices, or bars (objects keyed by the output columns) for multi-column models."""
    if len(outputs) == 1:
        return values[:, 0].tolist()
    return [dict(zip(outputs, row, strict=True)) for row in values.tolist()]


def _intervals(result: InferenceResult, pick: Callable[[np.ndarray], np.ndarray]) -> list[dict[str, Any]] | None:
    return [
        {"level": level, "lower": _values(pick(lo), result.outputs), "upper": _values(pick(hi), result.outputs)}
        for level, lo, hi in result.intervals
    ] or None


def encode_predict(result: InferenceResult) -> dict[str, Any]:
    """The :class:`PredictResponse` body, as plain JSON-ready values (written by msgspec, not pydantic)."""
    return {
        "model": result.model,
        "version": result.version,
        "predictions": _values(result.values[:, 0, :], result.outputs),
        "intervals": _intervals(result, lambda bounds: bounds[:, 0, :]),
        "warnings": result.warnings,
    }


def encode_forecast(result: InferenceResult) -> dict[str, Any]:
    """The :class:`ForecastResponse` body, as plain JSON-ready values."""
    values = result.values[0]
    return {
        "model": result.model,
        "version": result.version,
        "horizon": values.shape[0],
        "forecast": _values(values, result.outputs),
        "intervals": _intervals(result, lambda bounds: bounds[0]),
        "warnings": result.warnings,
    }


def model_info(card: ModelCard, ready: bool, error: str | None, versions: Sequence[Any] = ()) -> ModelInfo:
    start, end = card.training_dates
    return ModelInfo.model_validate(
        {
            "name": card.name,
            "version": card.version,
            "run": card.run,
            "versions": [{"version": v.version, "state": v.state, "reason": v.reason} for v in versions],
            "description": card.description,
            "model_set": card.model_set,
            "kind": card.kind,
            "inputs": list(card.inputs),
            "outputs": list(card.outputs),
            "backend": card.backend,
            "trained_at": card.trained_at,
            "target_column": card.target_column,
            "window": card.window,
            "training_dates": {"start": start, "end": end},
            "training_values": (
                {"min": card.training_values[0], "max": card.training_values[1]} if card.training_values else None
            ),
            "parameters": card.parameters,
            "recipe": card.recipe,
            "hyperparameters": card.hyperparameters,
            "members": list(card.members),
            "test_metrics": card.test_metrics,
            "sequence_rmse": card.sequence_rmse,
            "calibration": card.calibration,
            "ready": ready,
            "error": error,
        }
    )
