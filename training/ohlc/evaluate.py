"""Scoring OHLC forecasts per ticker: next-day High and rolling-origin recursive High at h = 5, 20.

Every forecast is made from the bars up to its origin only. The ratio is the model's High RMSE over
the naive one on the same points: at h = 1 persistence (yesterday's High), at h > 1 the last known
High repeated. Lower is better; 1.0 ties the naive forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast_core.bars import HIGH
from forecast_core.predictor import Predictor
from forecast_core.windowing import windows_at
from training.ohlc.data import BarSeries

HORIZONS: tuple[int, ...] = (1, 5, 20)


@dataclass(frozen=True)
class PeriodForecasts:
    """Recursive forecasts (m, horizon, 4) from origins ``start - 1 .. end - 2`` of one ticker."""

    origins: np.ndarray
    windows: np.ndarray
    forecasts: dict[str, np.ndarray]


def forecast_period(
    series: BarSeries, start: int, end: int, predictors: Mapping[str, Predictor], window: int, horizon: int
) -> PeriodForecasts:
    origins = np.arange(start - 1, end - 1)
    windows = windows_at(series.bars, origins, window)
    return PeriodForecasts(
        origins, windows, {name: p.forecast_many(windows, horizon) for name, p in predictors.items()}
    )


def actuals(series: BarSeries, origins: np.ndarray, step: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The bars ``step`` days after each origin whose target lies before ``end``, and that mask."""
    mask = origins + step <= end - 1
    return series.bars[origins[mask] + step], mask


def _rmse(err: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(err))))


def score_ticker(
    series: BarSeries, pf: PeriodForecasts, end: int, mase_scale: float, horizons: tuple[int, ...] = HORIZONS
) -> dict[str, Any]:
    """Per model: next-day High metrics and High RMSE ratios to the naive forecast at each horizon."""
    out: dict[str, Any] = {"points": len(pf.origins), "models": {}}
    naive_rmse: dict[int, float] = {}
    for h in horizons:
        actual, mask = actuals(series, pf.origins, h, end)
        naive_rmse[h] = _rmse(series.bars[pf.origins[mask], HIGH] - actual[:, HIGH])
    out["naive_high_rmse"] = {str(h): naive_rmse[h] for h in horizons}
    actual1, _ = actuals(series, pf.origins, 1, end)
    last_high = series.bars[pf.origins, HIGH]
    out["persistence"] = _metrics(last_high, actual1[:, HIGH], mase_scale)
    for name, f in pf.forecasts.items():
        ratios = {}
        for h in horizons:
            actual, mask = actuals(series, pf.origins, h, end)
            ratios[str(h)] = _rmse(f[mask, h - 1, HIGH] - actual[:, HIGH]) / naive_rmse[h]
        out["models"][name] = {"high": _metrics(f[:, 0, HIGH], actual1[:, HIGH], mase_scale), "ratio": ratios}
    return out


def _metrics(pred: np.ndarray, actual: np.ndarray, mase_scale: float) -> dict[str, float]:
    err = pred - actual
    mae = float(np.mean(np.abs(err)))
    return {
        "rmse": _rmse(err),
        "mae": mae,
        "mape": float(np.mean(np.abs(err) / np.abs(actual)) * 100.0),
        "mase": mae / mase_scale,
    }


def group_summary(per_ticker: Mapping[str, dict[str, Any]], tickers: list[str], model: str) -> dict[str, Any]:
    """Median and worst ratio over ``tickers`` for one model, at every horizon."""
    ratios = {t: per_ticker[t]["models"][model]["ratio"] for t in tickers}
    horizons = next(iter(ratios.values())).keys()
    return {
        "tickers": tickers,
        "median": {h: float(np.median([r[h] for r in ratios.values()])) for h in horizons},
        "max": {h: float(np.max([r[h] for r in ratios.values()])) for h in horizons},
    }
