"""Honest evaluation: every model beside the naive baselines, on the same points.

Baselines use the same information as the models (the history up to the forecast origin):
``persistence`` repeats the last value; ``drift`` extends the straight line from the first value of
the history to the last one (Hyndman's drift method); ``flat`` is persistence for a sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from forecast_core.features import FeatureSet
from forecast_core.predictor import Predictor
from forecast_core.windowing import origin_windows

HORIZONS: tuple[int, ...] = (1, 5, 20)


def rmse(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - actual) ** 2)))


def point_metrics(pred: np.ndarray, actual: np.ndarray, mase_scale: float) -> dict[str, float]:
    """RMSE, MAE, MAPE (%) and MASE (MAE over the in-sample one-step persistence MAE)."""
    err = np.asarray(pred, dtype=np.float64) - actual
    mae = float(np.mean(np.abs(err)))
    return {
        "rmse": rmse(pred, actual),
        "mae": mae,
        "mape": float(np.mean(np.abs(err) / np.abs(actual)) * 100.0),
        "mase": mae / mase_scale,
    }


def drift_forecast(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Drift forecast ``horizon`` steps after each origin index (the last known value's index)."""
    last = values[origins]
    slope = (last - values[0]) / np.maximum(origins, 1)
    return last + horizon * slope


def evaluate(values: np.ndarray, start: int, predictors: Mapping[str, Predictor], window: int) -> dict[str, Any]:
    """Score forecasts of ``values[start:]`` made only from values before each target.

    ``start`` is the first evaluated index (the first test day); everything before it is history.
    """
    values = np.asarray(values, dtype=np.float64)
    actual = values[start:]
    n = len(actual)
    windows = origin_windows(values, window, start)
    origins = np.arange(start - 1, start - 1 + n)
    mase_scale = float(np.mean(np.abs(np.diff(values[:start]))))

    next_preds = {name: predictor.predict(windows) for name, predictor in predictors.items()}
    next_step = {name: point_metrics(pred, actual, mase_scale) for name, pred in next_preds.items()}
    next_step["persistence"] = point_metrics(values[origins], actual, mase_scale)
    next_step["drift"] = point_metrics(drift_forecast(values, origins, 1), actual, mase_scale)

    seed_window = values[start - window : start]
    sequences = {name: p.forecast(seed_window, n) for name, p in predictors.items()}
    steps = np.arange(1, n + 1)
    sequences["flat"] = np.full(n, values[start - 1])
    sequences["drift"] = values[start - 1] + steps * (values[start - 1] - values[0]) / (start - 1)

    rolling: dict[str, dict[str, float]] = {name: {} for name in [*predictors, "persistence", "drift"]}
    for h in HORIZONS:
        if h > n:
            continue
        count = n - h + 1
        truth = actual[h - 1 :]
        for name, predictor in predictors.items():
            rolling[name][str(h)] = rmse(predictor.forecast_many(windows[:count], h)[:, -1], truth)
        rolling["persistence"][str(h)] = rmse(values[origins[:count]], truth)
        rolling["drift"][str(h)] = rmse(drift_forecast(values, origins[:count], h), truth)

    return {
        "points": n,
        "mase_scale": mase_scale,
        "next_step": next_step,
        "sequence_rmse": {name: rmse(seq, actual) for name, seq in sequences.items()},
        "rolling_rmse": rolling,
        # Arrays for the plots; callers drop this key before writing JSON.
        "_series": {"actual": actual, "next_step": next_preds, "sequence": sequences},
    }


PERSISTENCE = "persistence"


class LastValueBackend:
    """Persistence as a backend (scaled units in, scaled units out), so baselines share the model code paths."""

    kind = "baseline"

    def __init__(self, window: int) -> None:
        self.window = window

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, dtype=np.float32)[:, -1].copy()


def persistence_predictor(features: FeatureSet, window: int) -> Predictor:
    return Predictor(
        name=PERSISTENCE,
        version="baseline",
        features=features,
        backends=[LastValueBackend(window)],
        description="tomorrow = today",
    )
