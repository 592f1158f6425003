"""Split-conformal intervals for the OHLC set (the table of ``service/inference/ohlc/intervals.py``).

Calibration: rolling-origin recursive forecasts over the validation part of every training ticker
(the last 250 training days of each file), pooled; the score of each origin, horizon and column is
``|actual - forecast| / (last close * vol(window))``. The conformal quantile at level L over m
scores is the ceil((m + 1) L)-th smallest. The volatility floor is the 1st percentile of the
calibration windows' volatility, so a freakishly calm window does not collapse its interval.
Coverage is then measured on the test period of each group (trained, held-out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from service.inference.intervals import LEVELS
from service.inference.ohlc.bars import COLUMNS, log_volatility
from service.inference.ohlc.intervals import OhlcCoverage, OhlcIntervalTable
from training.ohlc.data import BarSeries
from training.ohlc.evaluate import PeriodForecasts, actuals

MAX_HORIZON = 20
COVERAGE_HORIZONS: tuple[int, ...] = (1, 5, 20)


def _scores(
    pairs: Sequence[tuple[BarSeries, PeriodForecasts, int]], model: str, h: int, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores (m, 4), plus forecasts, actuals and scales, pooled over tickers at horizon ``h``."""
    sc, fs, ac, us = [], [], [], []
    for series, pf, end in pairs:
        actual, mask = actuals(series, pf.origins, h, end)
        f = pf.forecasts[model][mask, h - 1]
        w = pf.windows[mask]
        unit = w[:, -1, 3] * np.maximum(log_volatility(w), floor)
        sc.append(np.abs(actual - f) / unit[:, None])
        fs.append(f)
        ac.append(actual)
        us.append(unit)
    return np.concatenate(sc), np.concatenate(fs), np.concatenate(ac), np.concatenate(us)


def conformal_quantile(scores: np.ndarray, level: int) -> np.ndarray:
    m = len(scores)
    k = min(m, math.ceil((m + 1) * level / 100.0))
    return np.sort(scores, axis=0)[k - 1]


def calibrate(
    calibration: Sequence[tuple[BarSeries, PeriodForecasts, int]],
    models: Sequence[str],
    period: tuple[str, str],
) -> OhlcIntervalTable:
    vols = np.concatenate([log_volatility(pf.windows) for _, pf, _ in calibration])
    floor = float(np.percentile(vols, 1))
    quantiles: dict[str, dict[str, list[list[float]]]] = {}
    for model in models:
        per_h = [_scores(calibration, model, h, floor)[0] for h in range(1, MAX_HORIZON + 1)]
        quantiles[model] = {}
        for level in LEVELS:
            q = np.stack([conformal_quantile(s, level) for s in per_h])
            # Intervals never narrow with the horizon.
            quantiles[model][str(level)] = np.maximum.accumulate(q, axis=0).tolist()
    return OhlcIntervalTable(
        method="split conformal, recursive rolling-origin backtest on the validation period pooled across training "
        "tickers; |error| / (last close * std of daily log close changes in the window)",
        volatility_floor=floor,
        levels=list(LEVELS),
        max_horizon=MAX_HORIZON,
        calibration_start=period[0],
        calibration_end=period[1],
        calibration_points=int(sum(len(pf.origins) for _, pf, _ in calibration)),
        quantiles=quantiles,
    )


def coverage(
    table: OhlcIntervalTable, groups: Mapping[str, Sequence[tuple[BarSeries, PeriodForecasts, int]]]
) -> OhlcIntervalTable:
    """The table with its measured test coverage per model, group, column, horizon and level."""
    out: dict[str, list[OhlcCoverage]] = {}
    for model in table.quantiles:
        rows: list[OhlcCoverage] = []
        for group, pairs in groups.items():
            for h in COVERAGE_HORIZONS:
                _, f, actual, unit = _scores(pairs, model, h, table.volatility_floor)
                for level in table.levels:
                    half = table.half_widths(model, level, h)[h - 1][None, :] * unit[:, None]
                    inside = np.abs(actual - f) <= half
                    for k, column in enumerate(COLUMNS):
                        rows.append(
                            OhlcCoverage(
                                group=group,
                                column=column,
                                horizon=h,
                                level=level,
                                coverage=float(np.mean(inside[:, k]) * 100.0),
                                mean_relative_width=float(np.mean(2 * half[:, k] / actual[:, k])),
                                points=len(f),
                            )
                        )
        out[model] = rows
    return table.model_copy(update={"coverage": out})
